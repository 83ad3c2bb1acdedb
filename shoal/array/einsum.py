"""``einsum``: one output block = the sum, over the blocks of the contracted
indices, of ``np.einsum`` on the matching blocks of every operand.

::

    "ij,jk->ik", j split in 3:    out[i, k] = einsum(A[i,0], B[0,k]) + einsum(A[i,1], B[1,k])
                                            + einsum(A[i,2], B[2,k])
                                  one task per term, added split_every at a time

Each term's task reads one block per operand, so its inputs are bounded by the
blocks themselves; the tree that adds the terms lowers its fan-in below
``split_every`` (to at least 2) where that many output blocks would pass
``array.chunk-size`` bytes (``linalg.sum_fan_in``, as for ``tensordot``).

Every axis labelled with the same letter (in any operand) is first rechunked to
the common refinement of their chunks, so blocks pair up; a letter repeated in
one operand (a diagonal, ``"ii->i"``) then only meets its diagonal blocks.  The
operands must be numeric arrays (NumPy ones are split like the shoal ones).
``...`` (ellipsis) subscripts are first spelled out with unused letters
(``expand_ellipsis``).  A length-1 axis facing a longer one of the same letter
broadcasts, as in NumPy: it is dropped from its operand (indexed at 0), which is
constant along that letter (``_broadcast_ones``).  Not handled, with NotImplementedError:
the ``einsum(op, sublist, ...)`` interleaved form.  ``optimize`` is accepted and
ignored (each task is small).
"""

from __future__ import annotations

import string

import numpy as np

from shoal.array import chunk
from shoal.array.blockwise import common_refinement
from shoal.array.chunking import auto_chunk_bytes
from shoal.array.core import Array, asarray
from shoal.array.linalg import block_nbytes, sum_fan_in
from shoal.array.reductions import SPLIT_EVERY
from shoal.collection import merge_layers
from shoal.core.spec import Ref, Task
from shoal.core.tokenize import tokenize

__all__ = ["einsum"]


def einsum_block(subscripts, *blocks, dtype=None, casting="safe"):
    return np.asarray(np.einsum(subscripts, *blocks, dtype=dtype, casting=casting))


def expand_ellipsis(subscripts, ndims):
    """*subscripts* with each ``...`` spelled as unused letters (right-aligned across the
    operands, as NumPy broadcasts them) and the output made explicit: ``"...j,jk"`` for
    3-d and 2-d operands -> ``"ABj,jk->ABk"``."""
    inputs, arrow, output = subscripts.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(ndims):
        raise ValueError(f"einsum: subscripts name {len(terms)} operands, {len(ndims)} given")
    for term in terms + [output]:
        if term.replace("...", "", 1).count(".") or term.count("...") > 1:
            raise ValueError(f"einsum: invalid subscripts {term!r} (one '...' at most)")
    widths = [n - len(t.replace("...", "")) if "..." in t else 0 for t, n in zip(terms, ndims)]
    if min(widths, default=0) < 0:
        raise ValueError(f"einsum: subscripts {subscripts!r} name more axes than an operand has")
    width = max(widths, default=0)
    used = set(subscripts)
    spare = [c for c in string.ascii_uppercase + string.ascii_lowercase if c not in used]
    if len(spare) < width:
        raise ValueError("einsum: too many dimensions under '...'")
    letters = "".join(spare[:width])
    if not arrow:
        named = "".join(t.replace("...", "") for t in terms)
        output = "..." + "".join(sorted(c for c in set(named) if named.count(c) == 1))
    elif "..." not in output and width:
        raise ValueError(f"einsum: output subscripts {output!r} drop the '...' dimensions")
    terms = [t.replace("...", letters[width - w:]) for t, w in zip(terms, widths)]
    return f"{','.join(terms)}->{output.replace('...', letters)}"


def _parse(subscripts, operands):
    if not isinstance(subscripts, str):
        raise NotImplementedError("einsum: only the subscripts-string form is supported, not "
                                  "einsum(op, sublist, ...)")
    subscripts = subscripts.replace(" ", "")
    if "." in subscripts:
        subscripts = expand_ellipsis(subscripts, [op.ndim for op in operands])
    if "->" in subscripts:
        inputs, output = subscripts.split("->")
    else:
        inputs = subscripts
        letters = inputs.replace(",", "")
        output = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    inputs = inputs.split(",")
    if len(inputs) != len(operands):
        raise ValueError(f"einsum: subscripts name {len(inputs)} operands, "
                         f"{len(operands)} given")
    for term, op in zip(inputs, operands):
        if not term.isalpha() and term:
            raise ValueError(f"einsum: invalid subscripts {term!r}")
        if len(term) != op.ndim:
            raise ValueError(f"einsum: subscripts {term!r} name {len(term)} axes of an operand "
                             f"with {op.ndim}")
    seen = set("".join(inputs))
    for c in output:
        if c not in seen:
            raise ValueError(f"einsum: output subscript {c!r} is not among the inputs'")
        if output.count(c) > 1:
            raise ValueError(f"einsum: output subscript {c!r} appears more than once")
    return inputs, output


def einsum(subscripts, *operands, dtype=None, optimize=False, split_every=None, casting="safe"):
    """``numpy.einsum(subscripts, *operands)`` over blocks; see the module docstring."""
    operands = [op if isinstance(op, Array) else asarray(op) for op in operands]
    inputs, output = _parse(subscripts, operands)
    inputs, operands = _broadcast_ones(inputs, operands)
    split_every = SPLIT_EVERY if split_every is None else int(split_every)
    if split_every < 2:
        raise ValueError(f"einsum: split_every must be at least 2, got {split_every}")
    sizes: dict = {}
    candidates: dict = {}
    for term, op in zip(inputs, operands):
        for c, n, ch in zip(term, op.shape, op.chunks):
            if sizes.setdefault(c, n) != n:
                raise ValueError(f"einsum: subscript {c!r} has lengths {sizes[c]} and {n}")
            candidates.setdefault(c, []).append(ch)
    common = {c: common_refinement(cs) for c, cs in candidates.items()}
    operands = [op.rechunk(tuple(common[c] for c in term))
                if any(op.chunks[d] != common[c] for d, c in enumerate(term)) else op
                for term, op in zip(inputs, operands)]
    trial = [np.ones((1,) * op.ndim, dtype=op.dtype) for op in operands]
    out_dtype = einsum_block(f"{','.join(inputs)}->{output}", *trial, dtype=dtype,
                             casting=casting).dtype
    full = f"{','.join(inputs)}->{output}"
    summed = sorted(set("".join(inputs)) - set(output))
    budget = auto_chunk_bytes()
    token = tokenize(full, operands, dtype, casting, split_every, budget)
    name, parts = f"einsum-{token}", f"einsum-part-{token}"
    layer = {}
    nblocks = {c: len(ch) for c, ch in common.items()}
    out_chunks = tuple(common[c] for c in output)
    for out_idx in np.ndindex(*[nblocks[c] for c in output]):
        where = dict(zip(output, out_idx))
        fan = sum_fan_in(block_nbytes(out_chunks, out_idx, out_dtype.itemsize), split_every, budget)
        keys = []
        for n, inner in enumerate(np.ndindex(*[nblocks[c] for c in summed])):
            where.update(zip(summed, inner))
            refs = [Ref(op._key(tuple(where[c] for c in term)))
                    for term, op in zip(inputs, operands)]
            key = (parts, *out_idx, n)
            layer[key] = Task(key, einsum_block, full, *refs, dtype=out_dtype, casting=casting)
            keys.append(key)
        level, depth = keys, 0
        while True:
            if len(level) <= fan:
                key = (name, *out_idx)
                layer[key] = Task(key, chunk.add_all, [Ref(k) for k in level])
                break
            depth += 1
            level = [_add(layer, f"{parts}-{depth}", out_idx, g // fan, level[g:g + fan])
                     for g in range(0, len(level), fan)]
    chunks = tuple(common[c] for c in output)
    return Array(merge_layers(*operands, name=name, layer=layer), name, chunks, out_dtype)


def _broadcast_ones(inputs, operands):
    """Each length-1 axis whose letter is longer elsewhere dropped from its operand."""
    longer = {c: n for term, op in zip(inputs, operands)
              for c, n in zip(term, op.shape) if n != 1}
    terms, ops = [], []
    for term, op in zip(inputs, operands):
        drop = {d for d, c in enumerate(term)
                if op.shape[d] == 1 and c in longer and term.count(c) == 1}
        if drop:
            op = op[tuple(0 if d in drop else slice(None) for d in range(op.ndim))]
            term = "".join(c for d, c in enumerate(term) if d not in drop)
        terms.append(term)
        ops.append(op)
    return terms, ops


def _add(layer, name, out_idx, g, keys):
    key = (name, *out_idx, g)
    layer[key] = Task(key, chunk.add_all, [Ref(k) for k in keys])
    return key
