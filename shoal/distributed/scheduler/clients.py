"""What clients ask of the scheduler: wanting keys, releasing them, cancelling, retrying.

::

    AddClient / RemoveClient   a client arrives; one that leaves drops every wish
    ClientDesiresKeys          who_wants += client (a key in memory or erred is told at
                               once; a released one is recomputed)
    ClientReleasesKeys         who_wants -= client; a key nobody needs is released,
                               then forgotten
    CancelKeys                 policies.cancel_scope(): this client's wish, or (force, or
                               nobody else wants it) every wish and the key's dependents
    RetryKeys                  erred keys and their erred inputs back to released

A mixin of :class:`~.state.SchedulerState`, like :mod:`.computations`: it uses the
state's ``tasks``, ``clients``, ``emit``, ``_note``, ``_transitions`` and
``_computation_progress``.  ``update-graph`` stays in the state, since it creates tasks
as well as wishes; it calls ``_client`` and ``_desire`` from here.
"""

from __future__ import annotations

from shoal.distributed.scheduler import policies
from shoal.distributed.scheduler import transitions as T
from shoal.distributed.scheduler.messages import (
    AddClient, CancelKeys, CancelledKeys, ClientDesiresKeys, ClientReleasesKeys,
    ClientTaskErred, KeyInMemory, RemoveClient, RetryKeys, TaskRetried, handles,
)  # fmt: skip
from shoal.distributed.scheduler.records import SchedClient

__all__ = ["ServesClients"]


class ServesClients:
    """The handlers of clients' wishes (see the module docstring)."""

    def _client(self, name: str) -> SchedClient:
        client = self.clients.get(name)
        if client is None:
            client = self.clients[name] = SchedClient(name)
        return client

    def _desire(self, ts, client, recs: dict, stimulus_id: str) -> None:
        ts.who_wants.add(client)
        client.wants_what.add(ts)
        if ts.state == "memory":
            self.emit(KeyInMemory(client.name, ts.key, ts.type, stimulus_id=stimulus_id))
        elif ts.state == "erred":
            blame = ts.exception_blame
            self.emit(ClientTaskErred(client.name, ts.key, blame.exception, blame.traceback,
                                      stimulus_id=stimulus_id))  # fmt: skip
        elif ts.state == "released":
            recs[ts.key] = "waiting"

    def _undesire(self, ts, client, recs: dict, stimulus_id: str) -> None:
        ts.who_wants.discard(client)
        client.wants_what.discard(ts)
        if ts.key in self._awaited:
            self._computation_progress(ts, "cancelled", stimulus_id, client=client.name)
        if T.needed(ts):
            return
        if ts.state in ("released", "erred"):
            if not ts.dependents:
                recs[ts.key] = "forgotten"
        else:
            recs[ts.key] = "released"

    @handles(AddClient)
    def _add_client(self, ev: AddClient) -> None:
        self._client(ev.client)

    @handles(RemoveClient)
    def _remove_client(self, ev: RemoveClient) -> None:
        client = self.clients.pop(ev.client, None)
        if client is None:
            return
        recs: dict = {}
        for ts in list(client.wants_what):
            self._undesire(ts, client, recs, ev.stimulus_id)
        self._transitions(recs, ev.stimulus_id)

    @handles(ClientDesiresKeys)
    def _client_desires_keys(self, ev: ClientDesiresKeys) -> None:
        client, recs = self._client(ev.client), {}
        unknown = [k for k in ev.keys if k not in self.tasks]
        if unknown:
            self.emit(CancelledKeys(client.name, unknown, "unknown keys",
                                    stimulus_id=ev.stimulus_id))  # fmt: skip
        for key in ev.keys:
            if key in self.tasks:
                self._desire(self.tasks[key], client, recs, ev.stimulus_id)
        self._transitions(recs, ev.stimulus_id)

    @handles(ClientReleasesKeys)
    def _client_releases_keys(self, ev: ClientReleasesKeys) -> None:
        client = self.clients.get(ev.client)
        if client is None:
            return
        recs: dict = {}
        for key in ev.keys:
            ts = self.tasks.get(key)
            if ts is not None and client in ts.who_wants:
                self._undesire(ts, client, recs, ev.stimulus_id)
        self._transitions(recs, ev.stimulus_id)

    @handles(CancelKeys)
    def _cancel_keys(self, ev: CancelKeys) -> None:
        sid, recs, told = ev.stimulus_id, {}, {}
        targets = [self.tasks[k] for k in ev.keys if k in self.tasks]
        me = self.clients.get(ev.client)
        for ts, clients, whole in policies.cancel_scope(targets, me, ev.force):
            for client in clients:
                told.setdefault(client.name, []).append(ts.key)
                self._undesire(ts, client, recs, sid)
            self._note(ts.key, "cancel", f"client={ev.client} force={ev.force}", sid)
            if whole and ts.state not in ("released", "erred", "forgotten") and not T.needed(ts):
                recs[ts.key] = "released"
        for name, keys in told.items():
            self.emit(CancelledKeys(name, keys, "the cluster restarted" if sid == "restart" else "",
                                    stimulus_id=sid))  # fmt: skip
        self._transitions(recs, sid)

    @handles(RetryKeys)
    def _retry(self, ev: RetryKeys) -> None:
        sid = ev.stimulus_id
        erred = [ts for ts in map(self.tasks.get, ev.keys) if ts and ts.state == "erred"]
        for ts in erred:
            for client in ts.who_wants:
                self.emit(TaskRetried(client.name, ts.key, stimulus_id=sid))
        self._transitions({ts.key: "released" for ts in policies.retry_roots(erred)}, sid)
