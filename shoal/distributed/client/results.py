"""Moving values between the client and the cluster: ``gather`` and ``scatter``.

``gather`` waits for every future at once (one countdown, see
:func:`.waiting.wait_states`), then asks the scheduler for all finished keys
in one ``gather`` request; keys the scheduler reports missing (their worker
died meanwhile) are marked lost and waited for again, a few times at most.
The values are put back in the shape the futures were given in.

``scatter`` names and pickles the values in the caller's thread, then one
``scatter`` request places them on workers; the scheduler records them as in
memory and wanted by this client.
"""

from __future__ import annotations

from shoal import config
from shoal.core.keys import check_portable_keys
from shoal.distributed.client.actors import bind_actors
from shoal.distributed.client.futures import Future
from shoal.distributed.client.naming import scatter_key
from shoal.distributed.client.serialize import dumps_payload
from shoal.distributed.client.waiting import futures_of, wait_states
from shoal.distributed.protocol import deserialize_tree
from shoal.local.remote_errors import add_note, raisable, unpack_exception

__all__ = ["gather", "repack", "scatter_request", "scatter_results"]

#: Rounds of "wait, gather, some keys were lost meanwhile" before giving up.
ATTEMPTS = 5


async def gather(client, futures, errors: str = "raise"):
    """The values of the futures inside ``futures``, in its shape (on the loop)."""
    found = {f.key: f for f in futures_of(futures)}
    if not found:
        return futures
    for f in found.values():
        if f.client is not client:
            raise ValueError(f"gather: the future {f.key!r} belongs to another client "
                             f"({f.client.id})")  # fmt: skip
    states = {k: f._state for k, f in found.items()}
    data: dict = {}
    bad: set = set()
    for _ in range(ATTEMPTS):
        await wait_states(states.values(), stop_on_error=errors == "raise")
        for key, state in states.items():
            if state.status in ("error", "cancelled"):
                if errors == "raise":
                    raise raisable(state.exception)
                bad.add(key)
        want = [k for k, s in states.items() if s.status == "finished" and k not in data]
        if want:  # (unpickled here, value by value: one that fails names its key)
            reply = await client.scheduler._request({"op": "gather", "keys": want},
                                                    deserialize=False)  # fmt: skip
            status = reply.get("status")
            if status in ("OK", "error"):
                _unpickle_into(data, reply.get("data", {}), bad, errors)
                bind_actors(data, found)  # (actors.py: a proxy keeps its actor alive)
            if status == "error":  # values that exist but cannot leave their workers
                for key, packed in reply["errors"].items():
                    if errors == "raise":
                        raise unpack_exception(packed, key)
                    bad.add(key)
            else:  # a holder died: the scheduler recomputes, we wait again
                for key in reply.get("keys", ()):
                    if key in states and states[key].status == "finished":
                        states[key].lose()
        if all(k in data or k in bad for k in states):
            return repack(futures, data, bad)
    lost = [k for k in states if k not in data and k not in bad]
    raise RuntimeError(f"gather: {len(lost)} keys were lost again and again on the cluster "
                       f"(the first: {lost[0]!r})")  # fmt: skip


def _unpickle_into(data: dict, payloads: dict, bad: set, errors: str) -> None:
    """``data[key]`` = each payload unpickled; one that fails is raised with a note
    naming its key (``errors="raise"``) or left out as ``bad``."""
    for key, payload in payloads.items():
        try:
            data[key] = deserialize_tree(payload)
        except Exception as exc:
            if errors == "raise":
                raise add_note(exc, key, "client-unpickle-result") from None
            bad.add(key)


def repack(template, data: dict, bad: set = frozenset()):
    """``template`` with each Future replaced by its value (those in ``bad`` left out).

    A plain recursive function, not a closure over ``data``: a nested function
    that calls itself is a reference cycle, which would keep every gathered
    value alive until the garbage collector found it, after the caller let go."""
    t = type(template)
    if isinstance(template, Future):
        return data.get(template.key)
    if t is list or t is tuple or t is set or t is frozenset:
        return t(repack(i, data, bad) for i in template
                 if not (isinstance(i, Future) and i.key in bad))  # fmt: skip
    if t is dict:
        return {k: repack(v, data, bad) for k, v in template.items()}
    return template


def scatter_request(client, data, workers, broadcast, hash, timeout) -> tuple:
    """``(keys in order, the scatter request)`` for ``data`` (in the caller's thread)."""
    from shoal.sizeof import sizeof

    if isinstance(data, dict):
        named = dict(data)
        order = list(named)
        check_portable_keys(order, "scatter")  # (a NaN: "lost again and again")
    elif isinstance(data, (list, tuple, set, frozenset)):
        order = [scatter_key(v, hash) for v in data]
        named = dict(zip(order, data))
    else:
        order = [scatter_key(data, hash)]
        named = {order[0]: data}
    if isinstance(workers, str):
        workers = [workers]
    msg = {
        "data": {k: dumps_payload(v) for k, v in named.items()},
        "nbytes": {k: int(sizeof(v)) for k, v in named.items()},
        "types": {k: typename(v) for k, v in named.items()},
        "workers": list(workers) if workers is not None else None,
        "broadcast": bool(broadcast), "client": client.id,
    }  # fmt: skip
    if timeout is not None:  # ("5s" too)
        msg["timeout"] = config.parse_timedelta(timeout) if isinstance(timeout, str) else timeout
    return order, msg


def scatter_results(data, order: list, futures: dict):
    """Futures in the shape of the scattered ``data``."""
    if isinstance(data, dict):
        return {k: futures[k] for k in data}
    if isinstance(data, (list, tuple, set, frozenset)):
        out = [futures[k] for k in order]
        return out if type(data) is list else type(data)(out)
    return futures[order[0]]


def typename(value) -> str:
    cls = type(value)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
