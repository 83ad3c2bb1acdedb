"""Task annotations a graph carries in Dask's spelling: ``with dask.annotate(retries=3):``.

::

    with dask.annotate(retries=2, workers=[a]):   # a Dask collection built in here
        x = da.ones(10, chunks=5) + 1             # its layer: annotations={"retries": 2, ...}
    client.compute(x)
        collections_to_graph(..., annotations=out)  (base.py: read before the graph is
            --> collect(graph, out)                   flattened; a value may be a function
                out = {"retries": {key: 2}, ...}      of the key, called once per key)
        + current()   what ``dask.annotate`` says at submit time: every task of the call
        --> client/graphs.py: per-key retries, worker restrictions, resources, priority

Annotations live on the layers of a Dask ``HighLevelGraph`` (``graph.layers``, each
with ``.annotations`` and its keys), which Dask's expressions collect per key
(``__dask_annotations__()``, what ``dask.compute(..., scheduler=client)`` sends); shoal's own collections have no layers and no
annotations (their options are ``compute``'s keyword arguments, which apply to every
task).  Reading them is duck-typed: shoal never imports Dask; :func:`current` asks a
Dask that the user already imported (no Dask, no ``dask.annotate`` in effect).
Annotations that shoal does not act on (``span``, user-defined names) are kept
with the others and ignored by the scheduler, as Dask's plugins may ignore them.
"""

from __future__ import annotations

import sys

__all__ = ["collect", "collect_layers", "current", "merge"]


def collect(graph, out: dict) -> None:
    """Add the per-key annotations of *graph*'s layers to *out* (``{name: {key: value}}``);
    an expression that says them itself (``__dask_annotations__``: what ``dask.compute``
    hands a scheduler) is asked."""
    method = getattr(graph, "__dask_annotations__", None)
    if callable(method) and not isinstance(graph, type):
        for name, values in (method() or {}).items():
            out.setdefault(name, {}).update(values)
        return
    layers = getattr(graph, "layers", None)
    if hasattr(layers, "values"):
        collect_layers(layers.values(), out)


def collect_layers(layers, out: dict) -> None:
    """Add the per-key annotations of *layers* (Dask's, or shoal's ``AnnotatedLayer``:
    each with ``.annotations`` and its keys; others have none) to *out*."""
    for layer in layers:
        annotations = getattr(layer, "annotations", None)
        if not annotations:
            continue
        keys = list(layer.keys()) if hasattr(layer, "keys") else list(layer)
        for name, value in annotations.items():
            into = out.setdefault(name, {})
            if callable(value):
                for key in keys:
                    into[key] = value(key)
            else:
                for key in keys:
                    into[key] = value


def current() -> dict:
    """What ``shoal.annotate`` and ``dask.annotate`` (if the user's Dask is imported) say
    now, shoal's over Dask's (else ``{}``)."""
    from shoal.annotating import get_annotations

    return {**_dask_current(), **get_annotations()}


def _dask_current() -> dict:
    dask = sys.modules.get("dask")
    get = getattr(dask, "get_annotations", None)
    if get is None:
        return {}
    try:
        return dict(get() or {})
    except Exception:  # (a Dask of another shape: its annotations are not ours to need)
        return {}


def merge(per_key: dict, overall: dict, keys) -> dict:
    """*per_key* with every annotation of *overall* given to *keys* that lack it."""
    if not overall:
        return per_key
    out = {name: dict(values) for name, values in per_key.items()}
    for name, value in overall.items():
        into = out.setdefault(name, {})
        for key in keys:
            if key not in into:
                into[key] = value(key) if callable(value) else value
    return out
