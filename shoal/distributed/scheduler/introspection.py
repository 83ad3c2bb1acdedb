"""What the scheduler answers about the work in it: a mixin of
:class:`~shoal.distributed.scheduler.server.Scheduler` (through
:class:`~.diagnostics.AnswersDiagnostics`).

- ``processing``: ``{worker: [keys it is running]}``; ``nbytes``: ``{key: bytes}``
  of the results in memory, summed per key prefix with ``summary`` (Dask's).
- ``call_stack``: asks the workers running ``keys`` (or all workers) for the
  stacks of their running tasks (``worker/introspection.py``); workers with none
  are left out.  A ``waiting`` key stands for the tasks it waits on, as in Dask.
- ``set_metadata`` / ``get_metadata``: ``task_metadata``, a nested dict that
  clients keep small administrative data in; a key path ``[a, b]`` is
  ``task_metadata[a][b]``, the levels made on demand (a level that is not a dict is
  replaced).  A missing path is a ``KeyError`` unless a default was sent
  (``has_default``: no sentinel travels).
- ``get_cluster_state``: the scheduler's state, each worker's own (asked at once;
  a worker that fails to answer gets its error's text) and their versions, as plain
  data (:mod:`shoal.distributed.clusterdump`); ``dump_cluster_state_to_url`` writes
  it to a file on the scheduler's side.
"""

from __future__ import annotations

import asyncio

from shoal.core.keys import key_split
from shoal.distributed import clusterdump, versions
from shoal.distributed.taskcolumns import key_from_wire

__all__ = ["AnswersIntrospection"]


class AnswersIntrospection:
    """Introspection rpc handlers of the scheduler; see the module docstring."""

    def introspection_handlers(self) -> dict:
        """The rpc handlers (and the empty metadata: called from ``__init__``)."""
        self.task_metadata: dict = self.state.task_metadata  # (transitions.py drops a
        # forgotten key's entry)
        return {"processing": self.processing, "nbytes": self.get_nbytes,
                "call_stack": self.call_stack, "set_metadata": self.set_metadata,
                "get_metadata": self.get_metadata, "get_cluster_state": self.get_cluster_state,
                "dump_cluster_state_to_url": self.dump_cluster_state_to_url}  # fmt: skip

    def processing(self, comm=None, workers=None) -> dict:
        states = self.state.workers
        workers = list(states) if workers is None else _known(states, workers, "processing")
        return {w: [ts.key for ts in states[w].processing] for w in workers}

    def get_nbytes(self, comm=None, keys=None, summary=True) -> dict:
        tasks = self.state.tasks
        if keys is None:
            sizes = {k: ts.nbytes for k, ts in tasks.items() if ts.nbytes >= 0}
        else:
            keys = [key_from_wire(k) for k in keys]
            unknown = [k for k in keys if k not in tasks]
            if unknown:
                raise KeyError(f"nbytes: keys unknown to the scheduler: {unknown}")
            sizes = {k: tasks[k].nbytes for k in keys}
        return summarize(sizes) if summary else sizes

    async def call_stack(self, comm=None, keys=None) -> dict:
        asked = _running_on(self.state.tasks, keys) if keys is not None else dict.fromkeys(
            self.state.workers)  # fmt: skip
        if not asked:
            return {}
        stacks = await asyncio.gather(*(self.pool(w).call_stack(keys=k) for w, k in asked.items()),
                                      return_exceptions=True)  # fmt: skip
        return {w: s for w, s in zip(asked, stacks) if s and not isinstance(s, BaseException)}

    def set_metadata(self, comm=None, keys=(), value=None) -> None:
        path = _path(keys, "set_metadata")
        level = self.task_metadata
        for part in path[:-1]:
            if not isinstance(level.get(part), dict):
                level[part] = {}
            level = level[part]
        level[path[-1]] = value

    def get_metadata(self, comm=None, keys=(), default=None, has_default=False):
        level = self.task_metadata
        try:
            for part in _path(keys, "get_metadata"):
                level = level[part]
        except (KeyError, TypeError):
            if has_default:
                return default
            raise KeyError(f"get_metadata: no metadata at {keys!r}") from None
        return level

    async def get_cluster_state(self, comm=None, exclude=clusterdump.DEFAULT_EXCLUDE) -> dict:
        exclude = tuple(exclude or ())
        addresses = list(self.state.workers)
        answers = await asyncio.gather(*(self.pool(w).dump_state(exclude=list(exclude))
                                         for w in addresses), return_exceptions=True)  # fmt: skip
        workers = {w: f"{type(a).__name__}: {a}" if isinstance(a, BaseException) else a
                   for w, a in zip(addresses, answers)}  # fmt: skip
        return {"scheduler": self._own_state(exclude), "workers": workers, "versions": {
            "scheduler": versions.versions(),
            "workers": {w: a.get("versions") if isinstance(a, dict) else a
                        for w, a in workers.items()},
        }}  # fmt: skip

    async def dump_cluster_state_to_url(self, comm=None, url=None, format="msgpack",
                                        exclude=clusterdump.DEFAULT_EXCLUDE) -> str:  # fmt: skip
        path = clusterdump.dump_path(url, format)
        state = await self.get_cluster_state(exclude=exclude)
        return clusterdump.write_state(state, path, format)

    def _own_state(self, exclude: tuple) -> dict:
        state, plain, record = self.state, clusterdump.plain, clusterdump.record
        return {
            "type": "Scheduler", "id": self.id, "address": self.address, "started": self.started,
            "tasks": {clusterdump.label(k): record(ts, exclude) for k, ts in state.tasks.items()},
            "workers": {a: record(ws, exclude) for a, ws in state.workers.items()},
            "clients": {n: record(cs, exclude) for n, cs in state.clients.items()},
            "queued": plain(list(state.queued)), "unrunnable": plain(list(state.unrunnable)),
            "transition_log": plain(list(state.log), exclude),
            "task_metadata": plain(self.task_metadata, exclude),
        }  # fmt: skip


def summarize(sizes: dict) -> dict:
    """``{key prefix: total bytes}`` of ``{key: bytes}``."""
    out: dict = {}
    for key, size in sizes.items():
        prefix = key_split(key)
        out[prefix] = out.get(prefix, 0) + size
    return out


def _known(states: dict, workers, what: str) -> list:
    if isinstance(workers, str) or not isinstance(workers, (list, tuple, set)):
        raise TypeError(f"{what}: workers must be a list of addresses, got {workers!r}")
    by_name = {ws.name: a for a, ws in states.items()}  # a worker's name stands for it (Dask's)
    workers = [w if w in states else by_name.get(w, w) for w in workers]
    unknown = [w for w in workers if w not in states]
    if unknown:
        raise ValueError(f"{what}: workers unknown to the scheduler: {unknown}")
    return workers


def _running_on(tasks: dict, keys) -> dict:
    """``{worker address: [keys it runs]}`` for ``keys``, a waiting key standing for
    what it waits on (Dask's walk)."""
    out: dict = {}
    todo, seen = [key_from_wire(k) for k in keys], set()
    while todo:
        ts = tasks.get(todo.pop())
        if ts is None or ts in seen:
            continue
        seen.add(ts)
        if ts.state == "waiting":
            todo.extend(dep.key for dep in ts.dependencies)
        elif ts.state == "processing" and ts.processing_on is not None:
            out.setdefault(ts.processing_on.address, []).append(ts.key)
    return out


def _path(keys, what: str) -> list:
    if isinstance(keys, (list, tuple)) and keys:
        return [key_from_wire(k) for k in keys]
    raise ValueError(f"{what}: key must be a key or a non-empty list of keys, got {keys!r}")
