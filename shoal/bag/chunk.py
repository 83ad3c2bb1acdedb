"""Per-partition kernels for ``shoal.bag``: plain functions on Python lists.

Every task of a bag graph calls one of these functions (or a user function) on
a *partition*, which is always a ``list``.  They are module-level so that the
process scheduler pickles them by reference, and pure, so the same partition
always gives the same result.

Reductions are described by three kernels::

    chunk(partition)   -> piece        one task per partition
    combine([pieces])  -> piece        split_every pieces at a time (tree levels)
    aggregate([pieces]) -> result      the root

An empty partition gives the piece :data:`NOTHING` where a reduction has no
neutral value (``min``, ``fold`` without ``initial``); combines skip it, so
empty partitions never change a result.  ``NOTHING`` pickles by reference and
stays a singleton across processes.

``stable_hash`` chooses the output partition of ``groupby``: equal values give
equal hashes in every process, whatever ``PYTHONHASHSEED`` says.  The split
buckets of ``groupby`` are wrapped in :class:`Packed` so that, between
processes, they travel as pickled blobs (see ``reductions.py``).
"""

from __future__ import annotations

import heapq
import pickle
import zlib
from functools import reduce

__all__ = ["NOTHING", "stable_hash"]


class _Nothing:
    """The piece of an empty partition for reductions without a neutral value."""

    __slots__ = ()

    def __repr__(self):
        return "NOTHING"

    def __reduce__(self):
        return "NOTHING"


NOTHING = _Nothing()


def _values(pieces):
    return [p for p in pieces if p is not NOTHING]


# -- elementwise ------------------------------------------------------------------

def map_chunk(func, part, args, kwargs):
    """``[func(x, *args, **kwargs) for x in part]`` (broadcast arguments only)."""
    if args or kwargs:
        return [func(x, *args, **kwargs) for x in part]
    return list(map(func, part))


def map_zip(func, args, kwargs, zipped, zipped_kw):
    """``func`` over elements zipped from several partitions.

    ``args`` / ``kwargs`` hold partitions at the positions (names) listed in
    ``zipped`` / ``zipped_kw`` and broadcast values elsewhere.
    """
    args = list(args)
    kwargs = dict(kwargs)
    iters = [args[i] for i in zipped] + [kwargs[k] for k in zipped_kw]
    lengths = sorted({len(it) for it in iters})
    if len(lengths) > 1:
        raise ValueError(f"map: the bags zipped element by element have partitions of "
                         f"different lengths ({', '.join(map(str, lengths))}): each partition "
                         "must hold as many elements in every bag")  # fmt: skip
    out = []
    nz = len(zipped)
    for items in zip(*iters):
        for i, pos in enumerate(zipped):
            args[pos] = items[i]
        for j, k in enumerate(zipped_kw):
            kwargs[k] = items[nz + j]
        out.append(func(*args, **kwargs))
    return out


def starmap_chunk(func, part, kwargs):
    return [func(*x, **kwargs) for x in part]


def filter_chunk(predicate, part):
    return [x for x in part if predicate(x)]


def remove_chunk(predicate, part):
    return [x for x in part if not predicate(x)]


def pluck_one(key, part):
    return [x[key] for x in part]


def pluck_many(keys, part):
    return [tuple([x[k] for k in keys]) for x in part]


def _get_default(x, key, default):
    try:
        return x[key]
    except (KeyError, IndexError, TypeError):
        return default


def pluck_one_default(key, default, part):
    return [_get_default(x, key, default) for x in part]


def pluck_many_default(keys, default, part):
    return [tuple([_get_default(x, k, default) for k in keys]) for x in part]


def flatten_chunk(part):
    return [y for x in part for y in x]


def as_list(value):
    """A partition from whatever a function returned (lists are kept as they are)."""
    if type(value) is list:
        return value
    try:
        items = iter(value)  # (apart from list(): a TypeError while iterating is the user's)
    except TypeError:
        raise TypeError(
            f"a bag partition must be iterable, but the function returned "
            f"{type(value).__name__} {value!r:.60}"
        ) from None
    return list(items)


def call_partitions(func, args, kwargs):
    """``map_partitions``: call *func* on whole partitions; the result becomes a list.

    A result that is not iterable (``len``, ``sum`` of a partition) becomes a
    one-element partition, so ``b.map_partitions(len).compute()`` lists the
    partition sizes as in Dask.
    """
    value = func(*args, **kwargs)
    try:
        iter(value)
    except TypeError:  # (not iterable)
        return [value]
    return as_list(value)


def range_part(start, stop):
    return list(range(start, stop))


def concat_lists(parts):
    if len(parts) == 1:
        return parts[0]
    return [x for p in parts for x in p]


def slice_piece(part, index, pieces):
    """The *index*-th of *pieces* near-equal slices of *part*."""
    n = len(part)
    return part[n * index // pieces: n * (index + 1) // pieces]


def take_chunk(k, part):
    return part[:k] if len(part) > k else part


def take_many(k, parts):
    out = []
    for p in parts:
        out.extend(p[: k - len(out)])
        if len(out) >= k:
            break
    return out


def finalize_bag(parts):
    """A computed bag: its partitions concatenated into one list."""
    if len(parts) == 1:
        return list(parts[0])
    return [x for p in parts for x in p]


def first(results):
    return results[0]


def zip_chunk(*parts):
    return list(zip(*parts))


def apply_item(func, value, args, kwargs):
    return func(value, *args, **kwargs)


# -- reductions -------------------------------------------------------------------

def aggregate_as_list(func, parts):
    """A user aggregate whose result is a bag partition."""
    return as_list(func(parts))


def count_chunk(part):
    return len(part)


def sum_pieces(pieces):
    return sum(pieces)


def any_pieces(pieces):
    return any(pieces)


def all_pieces(pieces):
    return all(pieces)


def min_chunk(part):
    return min(part) if part else NOTHING


def max_chunk(part):
    return max(part) if part else NOTHING


def min_pieces(pieces):
    vals = _values(pieces)
    return min(vals) if vals else NOTHING


def max_pieces(pieces):
    vals = _values(pieces)
    return max(vals) if vals else NOTHING


def finish_extreme(how, pieces):
    value = (min_pieces if how == "min" else max_pieces)(pieces)
    if value is NOTHING:
        raise ValueError(f"{how}() of an empty bag")
    return value


def moments_chunk(part):
    """``(count, mean, M2)`` of a partition (M2: sum of squared deviations)."""
    n = len(part)
    if not n:
        return 0, 0.0, 0.0
    mean = sum(part) / n
    return n, mean, sum([(x - mean) ** 2 for x in part])


def merge_moments(pieces):
    """Chan et al.'s pairwise update of ``(count, mean, M2)``."""
    n, mean, m2 = 0, 0.0, 0.0
    for nb, meanb, m2b in pieces:
        if not nb:
            continue
        if not n:
            n, mean, m2 = nb, meanb, m2b
            continue
        total = n + nb
        delta = meanb - mean
        mean = mean + delta * nb / total
        m2 = m2 + m2b + delta * delta * n * nb / total
        n = total
    return n, mean, m2


def finish_moments(how, ddof, pieces):
    n, mean, m2 = merge_moments(pieces)
    if how == "mean":
        if not n:
            raise ZeroDivisionError("mean of an empty bag")
        return mean
    if n - ddof <= 0:
        return float("nan")
    var = m2 / (n - ddof)
    return var ** 0.5 if how == "std" else var


def fold_chunk(binop, initial, part):
    if initial is NOTHING:
        return reduce(binop, part) if part else NOTHING
    return reduce(binop, part, initial)


def fold_pieces(combine, initial, pieces):
    vals = _values(pieces)
    if initial is NOTHING:
        return reduce(combine, vals) if vals else NOTHING
    return reduce(combine, vals, initial)


def finish_fold(combine, initial, pieces):
    value = fold_pieces(combine, initial, pieces)
    if value is NOTHING:
        raise TypeError("fold of an empty bag with no initial value")
    return value


def finish_fold_list(combine, initial, pieces):
    """:func:`finish_fold` as a partition (``fold(out_type=Bag)``): its result's elements."""
    value = finish_fold(combine, initial, pieces)
    try:
        return list(value)
    except TypeError:
        raise TypeError(f"fold(out_type=Bag): the result {type(value).__name__} is not "
                        "iterable (a Bag holds its elements); use out_type=Item") from None


def product_chunk(left, right):
    return [(x, y) for x in left for y in right]


def frequencies_chunk(part):
    counts: dict = {}
    get = counts.get
    for x in part:
        counts[x] = get(x, 0) + 1
    return counts


def merge_frequencies(pieces):
    out = dict(pieces[0])
    get = out.get
    for p in pieces[1:]:
        for k, v in p.items():
            out[k] = get(k, 0) + v
    return out


def finish_frequencies(sort, pieces):
    items = list(merge_frequencies(pieces).items())
    if sort:
        items.sort(key=_second, reverse=True)
    return items


def _second(pair):
    return pair[1]


def topk_chunk(k, key, part):
    return heapq.nlargest(k, part, key=key)


def topk_pieces(k, key, pieces):
    return heapq.nlargest(k, [x for p in pieces for x in p], key=key)


def distinct_chunk(key, part):
    if key is None:
        return dict.fromkeys(part)
    out: dict = {}
    for x in part:
        out.setdefault(key(x), x)
    return out


def merge_distinct(pieces):
    out = dict(pieces[0])
    for p in pieces[1:]:
        for k, v in p.items():
            if k not in out:
                out[k] = v
    return out


def finish_distinct(keyed, pieces):
    merged = merge_distinct(pieces)
    return list(merged.values()) if keyed else list(merged)


def foldby_chunk(key, binop, initial, part):
    out: dict = {}
    if initial is NOTHING:
        for x in part:
            k = key(x)
            out[k] = binop(out[k], x) if k in out else x
    else:
        make = initial if callable(initial) else None
        for x in part:
            k = key(x)
            if k in out:
                out[k] = binop(out[k], x)
            else:
                out[k] = binop(make() if make else initial, x)
    return out


def merge_foldby(combine, initial, pieces):
    out: dict = {}
    make = initial if callable(initial) else None
    for p in pieces:
        for k, v in p.items():
            if k in out:
                out[k] = combine(out[k], v)
            elif initial is NOTHING:
                out[k] = v
            else:
                out[k] = combine(make() if make else initial, v)
    return out


def finish_foldby(combine, initial, pieces):
    return list(merge_foldby(combine, initial, pieces).items())


# -- groupby (hash shuffle) ------------------------------------------------------

def stable_hash(x) -> int:
    """A hash that is equal for equal values in every process.

    ``str`` and ``bytes`` use CRC-32 (Python's own ``hash`` of them is salted per
    process); ``int``, ``float``, ``bool`` and other numbers use ``hash``, which is
    not salted and agrees across numeric types (``1 == 1.0 == True``); tuples and
    frozensets combine their items' stable hashes; ``None`` is 0.  Anything else
    falls back to ``hash`` -- worker processes share a fixed ``PYTHONHASHSEED``, so
    that still agrees within a computation.
    """
    t = type(x)
    if t is str:
        return zlib.crc32(x.encode("utf-8", "surrogatepass"))
    if t is int or t is float or t is bool:
        return hash(x)
    if isinstance(x, tuple):  # (a namedtuple equals the plain tuple of its items)
        h = 0x345678
        for item in x:
            h = (h * 1000003) ^ stable_hash(item)
            h &= 0xFFFFFFFFFFFF
        return h ^ len(x)
    if t is bytes:
        return zlib.crc32(x) ^ 0x5BD1E995
    if x is None:
        return 0
    if isinstance(x, str):  # (a str Enum's str() is its name, not its value)
        return zlib.crc32(str.encode(x, "utf-8", "surrogatepass"))
    if isinstance(x, (frozenset, set)):
        h = 0
        for item in x:
            h ^= stable_hash(item)
        return h ^ 0x1F351
    return hash(x)


class Packed:
    """A value that crosses processes as one pickled blob, unpickled when used.

    A shuffle's split result travels to every bucket task; as a list of
    ``Packed`` buckets it is pickled element by element once (in the worker
    that split it) and afterwards moves as a few ``bytes`` objects, which
    pickle at memcpy speed.  In one process (sync, threads) nothing is pickled.
    """

    __slots__ = ("_value", "_blob")

    def __init__(self, value=NOTHING, blob=None):
        self._value = value
        self._blob = blob

    def get(self):
        if self._value is NOTHING:
            self._value = pickle.loads(self._blob)
        return self._value

    def __reduce__(self):
        if self._blob is None:
            try:
                self._blob = pickle.dumps(self._value, protocol=5)
            except Exception:
                import cloudpickle

                self._blob = cloudpickle.dumps(self._value, protocol=5)
        return (_packed_blob, (self._blob,))


def _packed_blob(blob):
    return Packed(blob=blob)


def hash_split(grouper, nout, part):
    """Split a partition into *nout* buckets by ``stable_hash(grouper(x))``."""
    buckets = [[] for _ in range(nout)]
    for x in part:
        buckets[stable_hash(grouper(x)) % nout].append(x)
    return [Packed(b) for b in buckets]


def group_split(grouper, j, splits):
    """Output partition *j* of a shuffle: bucket *j* of every split, grouped."""
    return group_buckets(grouper, [s[j] for s in splits])


def group_buckets(grouper, buckets):
    """``(key, [values])`` pairs from the buckets of one output partition."""
    groups: dict = {}
    for b in buckets:
        if type(b) is Packed:
            b = b.get()
        for x in b:
            k = grouper(x)
            g = groups.get(k)
            if g is None:
                groups[k] = [x]
            else:
                g.append(x)
    return list(groups.items())


# -- conversion -------------------------------------------------------------------

def to_frame(part, columns, dtypes, meta):
    """A pandas DataFrame from a partition of dicts, tuples or scalars."""
    import pandas as pd

    if not part:
        return meta.iloc[:0].copy()
    frame = pd.DataFrame(part, columns=columns)
    for name, dtype in dtypes.items():
        column = frame[name]
        if column.dtype == dtype:
            continue
        try:
            cast = column.astype(dtype)
            lossy = column.dtype.kind == "f" and cast.dtype.kind in "iu" and not (cast == column).all()
        except (TypeError, ValueError) as exc:
            why = f"{type(exc).__name__}: {exc}"
        else:
            if not lossy:
                frame[name] = cast
                continue
            why = "non-integer values would be cut"
        raise ValueError(
            f"to_dataframe: column {name!r} holds {column.dtype} values that do not fit its dtype "
            f"{dtype} (pass meta= with the dtypes the data has; without it they are learned from "
            f"the first element): {why}"
        )
    return frame


def call_star(func, x):
    """``func(*x)``: a key function of several arguments applied to a tuple."""
    return func(*x)


# -- sampling, running values, joining a small list ----------------------------------

def sample_chunk(part, prob, seed):
    import random

    rng = random.Random(seed)
    return [x for x in part if rng.random() < prob]


def accumulate_chunk(binop, part, before, first: bool):
    """The running values of *part* from *before* (NOTHING: none); the first partition's
    ``initial`` comes out first, as ``itertools.accumulate`` gives it."""
    import itertools

    if before is NOTHING:
        return list(itertools.accumulate(part, binop))
    out = [before]  # (not itertools' initial=: it takes None for "none")
    for x in part:
        out.append(binop(out[-1], x))
    return out if first else out[1:]


def accumulate_last(binop, part, before):
    """The last running value after *part* (NOTHING when there is none yet)."""
    value = before
    for x in part:
        value = x if value is NOTHING else binop(value, x)
    return value


def join_chunk(part, packed, on_self, on_other):
    (other,) = packed
    index: dict = {}
    for o in other:
        index.setdefault(on_other(o), []).append(o)
    return [(o, x) for x in part for o in index.get(on_self(x), ())]
