"""Reductions of element-wise expressions, evaluated a slab at a time.

``(x + x.T).sum(axis=0)`` computed block by block materialises every block of
``x + x.T`` before summing it: one temporary block per running task, as large as
the inputs.  When a reduction's input is a chain of element-wise steps (ufuncs,
operators, ``where``), its chunk task instead takes the chain's own inputs and
evaluates the chain over slabs of a reduced axis, reducing each slab at once and
merging the slab partials with the reduction's combine step::

    chunk(i, j) = sum(add(a_ij, t_ij))           one 8 MB temporary
    chunk(i, j) = combine(sum(add(a_ij[s], t_ij[s])) for s in slabs)
                                                 one ~1 MB temporary per step

Built at graph time (:func:`expression`): the input block's task and, in turn,
the tasks of its element-wise inputs are folded into a *program*, nested tuples
``(op, kwargs, children)`` whose leaves are integers indexing the task's
arguments (refs to the blocks that are not element-wise, and literals).  Arguments
stay top-level refs, so the engines resolve them the fast way and the graph keeps
its ordinary dependencies; the element-wise tasks themselves are no longer in the
reduction's graph.  An element-wise block used by something else as well is then
computed twice, once in each place: cheap arithmetic traded for memory.

Slicing follows NumPy's broadcasting (right-aligned): a leaf is cut along the slab
axis only where it has that dimension with more than one element.  Splitting along
a *reduced* axis keeps every slab partial the same shape, so the reduction's own
combine merges them -- the same step its tree uses between blocks -- and the
result equals the one-block chunk up to floating-point summation order.
"""

from __future__ import annotations

import numpy as np

from shoal.core.spec import Ref, Task

__all__ = ["SLAB_BYTES", "expression", "prune", "reduce_slabs"]

SLAB_BYTES = 1 << 20
"""Target size of one slab of the expression's result (blocks up to twice this are
evaluated whole)."""

MAX_OPS = 64  # bound on the steps folded into one chunk task


def _elementwise(node) -> bool:
    """Whether *node* is a task computing ``op(*blocks)`` element by element."""
    if type(node) is not Task or node._nested:
        return False
    op = node.func
    if not ((isinstance(op, np.ufunc) and op.nout == 1) or op is np.where):
        return False
    return not any(isinstance(v, (np.ndarray, Ref, Task)) for v in node.kwargs.values())


def _layer(key):
    return key[0] if type(key) is tuple else key


def expression(layers: dict, key, folded: set):
    """``(program, leaves)`` for the block *key*, or None when it is not element-wise.

    *layers* maps a layer name to its ``{key: node}``; *leaves* are the task
    arguments (refs and literals) the program's integers index.  The names of the
    layers whose tasks went into the program are added to *folded*.
    """
    top = _node_of(layers, key)
    if top is None or not _elementwise(top):
        return None
    leaves: list = []
    return _build(top, layers, folded, leaves, [0]), leaves


def _node_of(layers: dict, k):
    return layers.get(_layer(k), {}).get(k)


def _build(node, layers: dict, folded: set, leaves: list, count: list) -> tuple:
    """One node of :func:`expression`'s program (a module function: a nested one
    calling itself would be a reference cycle around the graph)."""
    folded.add(_layer(node.key))
    count[0] += 1
    children = []
    for a in node.args:
        sub = _node_of(layers, a.key) if type(a) is Ref else None
        if sub is not None and count[0] < MAX_OPS and _elementwise(sub):
            children.append(_build(sub, layers, folded, leaves, count))
        else:
            children.append(len(leaves))
            leaves.append(a)
    return node.func, node.kwargs, tuple(children)


def prune(layers: dict, folded: set) -> dict:
    """*layers* without the folded layers that no remaining task refers to."""
    def referenced(names):
        out = set()
        for name in names:
            for node in layers[name].values():
                out.update(_layer(d) for d in node.dependencies)
        return out

    keep = referenced(n for n in layers if n not in folded) & folded
    grow = keep
    while grow:  # a kept folded layer keeps what it refers to
        grow = (referenced(grow) & folded) - keep
        keep |= grow
    return {n: lay for n, lay in layers.items() if n not in folded or n in keep}


def _evaluate(program, leaves):
    op, kwargs, children = program
    args = [leaves[c] if type(c) is int else _evaluate(c, leaves) for c in children]
    return op(*args, **kwargs)


def _cut(value, ndim: int, axis: int, sl: slice):
    """*value* sliced along output axis *axis*, where it spans that axis."""
    shape = np.shape(value)
    k = axis - (ndim - len(shape))
    if k < 0 or shape[k] == 1 or not isinstance(value, np.ndarray):
        return value
    return value[(slice(None),) * k + (sl,)]


def reduce_slabs(program, *leaves, axis, chunk_func, chunk_kwargs, combine_func, combine_kwargs,
                 itemsize):
    """``chunk_func(<program on leaves>)`` computed slab by slab; see the module docstring."""
    shape = np.broadcast_shapes(*(np.shape(v) for v in leaves))
    ndim = len(shape)
    size = int(np.prod(shape, dtype=np.int64)) * itemsize
    along = [a for a in axis if a < ndim and shape[a] > 1]
    if size <= 2 * SLAB_BYTES or not along:
        return chunk_func(_evaluate(program, leaves), **chunk_kwargs)
    ax = along[0]
    step = max(1, SLAB_BYTES // max(size // shape[ax], 1))
    parts = []
    for start in range(0, shape[ax], step):
        sl = slice(start, start + step)
        cut = [_cut(v, ndim, ax, sl) for v in leaves]
        parts.append(chunk_func(_evaluate(program, cut), **chunk_kwargs))
    return parts[0] if len(parts) == 1 else combine_func(parts, **combine_kwargs)
