"""``shoal.annotate``: task annotations in Dask's spelling, for shoal's own collections.

::

    with shoal.annotate(retries=2, workers=["tcp://..."]):
        y = x.map_partitions(f)            # the new layer: AnnotatedLayer(annotations=...)
        d = delayed(g)(y)                  # the Delayed's node in an AnnotatedLayer
    client.compute(d)                      # per-key annotations read from the layers
        --> base.collections_to_graph(..., annotations=out)  --> client/graphs.py

Annotations attach where tasks are *made*, as in Dask: a collection built inside the
block carries them to whichever compute runs it later, outside the block too.  The
own layer of a collection made while annotations are in effect (its constructor
calls :func:`own_layer_annotated`; a Delayed's node: :func:`annotated_node`) is an
:class:`AnnotatedLayer`, a ``dict`` that also holds the annotations (every reader
of layers sees a dict); the distributed client collects them per key (:func:`shoal.core.annotations.collect`,
which reads Dask's layers the same way).  A ``compute`` or ``submit`` called inside
the block applies them to every task of the call as well.

The scheduler acts on ``retries``, ``priority``, ``workers``, ``allow_other_workers``
and ``resources``; any other name is kept and ignored, as Dask's scheduler does.
The local schedulers ignore annotations (Dask's too).  The value of a known name is
checked here, where the mistake is made, not when a cluster reads it; a callable
value is called with each key.

The state is a ``ContextVar``: a block in one thread (or asyncio task) does not
annotate what another one builds meanwhile.
"""

from __future__ import annotations

import contextlib
import contextvars
import numbers

__all__ = ["AnnotatedLayer", "annotate", "annotated_node", "get_annotations", "layer_like",
           "own_layer_annotated"]

_current: contextvars.ContextVar = contextvars.ContextVar("shoal_annotations", default=None)


class AnnotatedLayer(dict):
    """A layer of tasks (``{key: node}``) made under ``annotate``: ``.annotations``."""

    __slots__ = ("annotations",)

    def __init__(self, tasks, annotations: dict):
        super().__init__(tasks)
        self.annotations = annotations

    def __reduce__(self):  # (pickled as what it is: dict's own reduce would drop the slot)
        return AnnotatedLayer, (dict(self), self.annotations)


def _is_names(value) -> bool:
    return isinstance(value, str) or (isinstance(value, (list, tuple, set, frozenset))
                                      and all(isinstance(v, str) for v in value))


#: name -> (check, what it must be)
_CHECKS = {
    "retries": (lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool)
                and v >= 0, "a count of retries (an int >= 0)"),
    "priority": (lambda v: isinstance(v, numbers.Number) and not isinstance(v, bool),
                 "a number"),
    "workers": (_is_names, "a worker address or name, or a list of them"),
    "allow_other_workers": (lambda v: isinstance(v, bool), "True or False"),
    "resources": (lambda v: isinstance(v, dict), "a dict of resource -> amount"),
}


def _check(name: str, value) -> None:
    if callable(value) or name not in _CHECKS:
        return
    ok, what = _CHECKS[name]
    if not ok(value):
        raise TypeError(f"annotate: {name}={value!r} must be {what} (or a function of the key)")


@contextlib.contextmanager
def annotate(**annotations):
    """Annotate the tasks made in this block (nested blocks add to and override the
    outer ones): ``retries``, ``priority``, ``workers``, ``allow_other_workers``,
    ``resources``, or names of your own."""
    for name, value in annotations.items():
        _check(name, value)
    token = _current.set({**(_current.get() or {}), **annotations})
    try:
        yield
    finally:
        _current.reset(token)


def get_annotations() -> dict:
    """The annotations in effect here (a copy; ``{}`` outside any block)."""
    return dict(_current.get() or {})


def own_layer_annotated(layers: dict, name) -> dict:
    """A collection's *layers* as its constructor keeps them: under ``annotate``, its own
    layer *name* made an :class:`AnnotatedLayer` (in a new dict: the one given may be
    another collection's); else *layers* itself."""
    now = _current.get()
    if not now or name not in layers or isinstance(layers[name], AnnotatedLayer):
        return layers
    return {**layers, name: AnnotatedLayer(layers[name], now)}


def layer_like(layer) -> dict:
    """An empty layer for some of *layer*'s tasks (a cull's): annotated as *layer* is."""
    annotations = getattr(layer, "annotations", None)
    return AnnotatedLayer((), annotations) if annotations is not None else {}


def annotated_node(key, node, layer):
    """A Delayed's extra *layer* (or None) as it keeps it: under ``annotate``, an
    :class:`AnnotatedLayer` that also holds its own *key*'s *node*."""
    now = _current.get()
    if not now:
        return layer
    return AnnotatedLayer({**(layer or {}), key: node}, now)
