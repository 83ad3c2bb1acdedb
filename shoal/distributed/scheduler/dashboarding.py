"""The scheduler's side of its dashboard: the process it spawns, and what it publishes.

::

    Scheduler.start() --> _spawn_dashboard(): python -m shoal.dashboard against this
                          scheduler (loopback when it listens in-process only), not
                          waited for; dashboard_started() waits
                          --> _hold_early(): until it subscribes, the records it would
                          have had are kept (a bounded Buffer subscribed to the bus)
                          --> the task stream kept from now (diagnostics.TaskStreamLog)
    every events interval  --> _publish_task_states(): the state's TaskRows to the bus
    every SYSTEM_INTERVAL  --> _publish_system(): SystemMetrics of this process, while
                               someone listens (the dashboard's /system page)
    once it serves         --> _watch_dashboard(): a process that dies (killed for its
                               memory, say) is told and started again on its port,
                               RESTARTS times in a row at most, then the link goes (None);
                               the records from when its stream ended are held for the
                               next (_restart_dashboard; also for a first process killed
                               before it served, before dashboard_started() answers)
    subscribe_events op    --> the bus as a stream: first the early records (to the
                               dashboard process, named by its ticket, when none
                               was lost; another reader does not take them), else a snapshot
                               of the state (eventstream.py); a reader that fell
                               behind and lost records gets a fresh one
                               (_resync_snapshot)
    Scheduler.close()      --> _stop_dashboard(): goodbye on every stream, then the process

A mixin of :class:`~.server.Scheduler`, kept apart because it is one concern (the
dashboard's feed and lifetime) beside the scheduler's streams and requests; it
uses the scheduler's ``server``, ``state``, ``bus``, ``event_streams``,
``dashboard_address``, ``security``, ``status`` and its task stream
(``_keep_task_stream``).

Why hold the early records: ``Client()`` returns once its workers are up, about
half a second before its dashboard process has started and subscribed, and a
notebook's first computation often runs in that time.  A snapshot of the state
says where each task is, but not when and where it ran, nor that a computation
already finished; the records themselves do.  Holding them costs the scheduler
what any listener costs, for the second or so until the dashboard comes.
"""

from __future__ import annotations

import asyncio
import logging
import time

from shoal import config
from shoal.diagnostics.dashboard import (
    DashboardProcess, DashboardStartError, bokeh_missing, parse_dashboard_address,
)  # fmt: skip
from shoal.diagnostics.probe import ProcessProbe
from shoal.distributed.eventstream import scheduler_snapshot
from shoal.bus import Buffer
from shoal.events import SystemMetrics

__all__ = ["SYSTEM_INTERVAL", "ServesDashboard"]

logger = logging.getLogger(__name__)

#: Seconds between samples of this process for a dashboard's /system page.
SYSTEM_INTERVAL = 0.5
#: How often in a row a dashboard process that died is started again (then the scheduler
#: goes on without one); one that served RESTARTS_FORGOTTEN seconds starts the count over
#: (a dropped connection now and then is no crash loop: four over a day had ended the
#: dashboard).  How often the scheduler looks whether it runs (seconds).
RESTARTS = 3
RESTARTS_FORGOTTEN = 60.0
WATCH_INTERVAL = 1.0
#: What a dashboard's start may fail with: its own error, or the machine's (no free
#: port, no file descriptors or memory left: the state that may have killed the last one)
_START_ERRORS = (DashboardStartError, OSError, ValueError)


def _killed(dashboard: DashboardProcess) -> bool:
    """Whether *dashboard*'s process ended by a signal from elsewhere (not by an error of
    its own, nor by the SIGTERM of a start that timed out)."""
    code = dashboard.proc.poll() if dashboard.proc is not None else None
    return code is not None and code < 0 and not dashboard.terminated


class ServesDashboard:
    """The dashboard process, the event stream and the published samples of a scheduler."""

    dashboard: DashboardProcess | None = None
    _dashboard_ready: asyncio.Task | None = None
    _dashboard_watch: asyncio.Task | None = None
    _dashboard_source: str | None = None  # the address it follows
    _dashboard_restarts = 0
    _probe: ProcessProbe | None = None  # made when a dashboard first listens
    _early: tuple | None = None  # (Buffer, bus token) while the dashboard is on its way

    @property
    def dashboard_link(self) -> str | None:
        """The dashboard's URL (``distributed.dashboard.link``), None while it has none."""
        return self.dashboard.link if self.dashboard is not None else None

    async def dashboard_started(self) -> str | None:
        """Wait until the dashboard process serves (or failed to); its link."""
        if self._dashboard_ready is not None:
            await asyncio.shield(self._dashboard_ready)
        return self.dashboard_link

    async def _spawn_dashboard(self) -> None:
        """Start ``python -m shoal.dashboard`` against this scheduler; do not wait for it."""
        where = parse_dashboard_address(self.dashboard_address)  # (loopback unless it names a host)
        if where is None:
            return
        missing = bokeh_missing()
        if missing is not None:
            logger.warning("no dashboard at %s: %s", self.dashboard_address, missing)
            return
        source = self.address
        if source.startswith("inproc://"):  # another process cannot reach that: add a loopback port
            tls = self.security is not None and self.security.cert_for("scheduler")[0]
            try:
                source = await self.server.listen(f"{'tls' if tls else 'tcp'}://127.0.0.1:0")
            except (OSError, ValueError) as exc:
                logger.warning("no dashboard: cannot listen on loopback for it: %s", exc)
                return
        self._dashboard_source = source
        self.dashboard = DashboardProcess(source, *where, security=self.security).spawn()
        self._hold_early(self.dashboard.ticket)
        self._keep_task_stream()  # (the rows are published for the dashboard anyway)
        self._dashboard_ready = asyncio.get_running_loop().create_task(self._await_dashboard())

    def _without_dashboard(self, why) -> None:
        """Go on without a dashboard (its link is None from now), saying *why*."""
        logger.warning("the scheduler runs without a dashboard: %s", why)
        self.dashboard = None
        self._take_early()
        if self.task_stream is not None and not self.task_stream.asked:
            self.task_stream.close()  # (kept for the dashboard; a client asking
            self.task_stream = None   # makes one again)

    async def _await_dashboard(self) -> None:
        try:
            await self._started(self.dashboard)  # (it subscribes before it says so)
        except _START_ERRORS as exc:
            if not _killed(self.dashboard) or self.status != "running":
                self._without_dashboard(exc)  # (its own error: a new one would fail the same)
                return
            # killed before it served (the machine's OOM killer, a kill): started again as
            # a later death is, and counted (it went without a dashboard for good), before
            # dashboard_started() answers
            logger.warning("%s", exc)
            if not await self._restart_dashboard(self.dashboard):
                return
        else:
            self._take_early()  # none left, unless another reader took them
        try:
            logger.info("dashboard at %s", self.dashboard_link)
        except ValueError as exc:  # (a bad distributed.dashboard.link: it serves anyway)
            logger.warning("the dashboard serves on port %s; its link: %s",
                           self.dashboard.port, exc)  # fmt: skip
        self._dashboard_watch = asyncio.get_running_loop().create_task(self._watch_dashboard())

    async def _watch_dashboard(self) -> None:
        """Start the dashboard process again, on its port, each time it dies while the
        scheduler runs (``RESTARTS`` times in a row at most; then the link goes).  Open
        pages reconnect to the new one by themselves; it starts from a snapshot."""
        while True:
            dashboard, since = self.dashboard, time.monotonic()
            while dashboard is self.dashboard and dashboard.proc.poll() is None:
                await asyncio.sleep(WATCH_INTERVAL)
            if dashboard is not self.dashboard or self.status != "running":
                return  # closing: _stop_dashboard stops it
            if time.monotonic() - since > RESTARTS_FORGOTTEN:  # (served a while: a death now
                self._dashboard_restarts = 0                   # and then is no crash loop)
            if not await self._restart_dashboard(dashboard):
                return

    async def _restart_dashboard(self, dead: DashboardProcess) -> bool:
        """Start a new process on *dead*'s port, again while one dies before it serves
        (each start counted); True once one serves, False when the scheduler goes on
        without a dashboard (``RESTARTS`` used up, or a start impossible)."""
        code = await dead.aclose()  # (reaped, its registry record removed)
        while True:
            if self._dashboard_restarts >= RESTARTS:
                self._without_dashboard(f"its process exited (code {code}), "
                                        f"{self._dashboard_restarts + 1} times now")  # fmt: skip
                return False
            self._dashboard_restarts += 1
            logger.warning("the dashboard process (port %s) exited with code %s; starting it "
                           "again", dead.port, code)  # fmt: skip
            new = DashboardProcess(self._dashboard_source, dead.host, dead.port, dead.prefix,
                                   security=self.security)  # fmt: skip
            new.child_config = dead.child_config  # (the settings it had)
            self.dashboard = new
            try:  # (what killed it, no memory or no files left, may stop a new one too)
                self._hold_early(new.ticket)  # (held since its stream ended)
                new.spawn()
                await self._started(new)
            except _START_ERRORS as exc:
                if new.proc is None:
                    self._without_dashboard(exc)
                    return False
                # its process died before it served (killed again): started again, counted
                logger.warning("the dashboard process did not start again: %s", exc)
                dead, code = new, new.proc.returncode  # (the records still held)
                continue
            self._take_early()  # (none left: it took them as it subscribed)
            return True

    @staticmethod
    async def _started(dashboard: DashboardProcess) -> None:
        """Wait until *dashboard* serves; a start that fails leaves no process behind."""
        try:
            await dashboard.started()
        except _START_ERRORS:
            await dashboard.aclose()  # (started() closes it only for its own errors)
            raise

    def _hold_early(self, ticket: str) -> None:
        """Keep what the bus publishes for the dashboard process (the subscriber that
        shows *ticket*), from the state's snapshot now (nothing is lost in between: no
        await); already held (since the last one's stream ended), for *ticket* now."""
        if self._early is not None:
            self._early = (*self._early[:2], ticket)
            return
        buffer = Buffer(config.checked(config.count, "distributed.dashboard.events.buffer-length"))
        for record in scheduler_snapshot(self.state):
            buffer.append(record)
        self._early = (buffer, self.bus.subscribe(buffer.append, exclude=("task",)), ticket)

    def _take_early(self) -> list | None:
        """The records held since the dashboard was spawned, None when none are (or
        some were lost: the buffer is bounded); holding stops."""
        if self._early is None:
            return None
        (buffer, token, _), self._early = self._early, None
        self.bus.unsubscribe(token)
        count, records = buffer.drain()
        return records if count == len(records) else None

    async def _stop_dashboard(self) -> None:
        self._take_early()
        for task in (self._dashboard_ready, self._dashboard_watch):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await self.event_streams.close()  # goodbye: the dashboard process exits by itself
        dashboard, self.dashboard = self.dashboard, None
        if dashboard is not None:
            await dashboard.aclose()

    async def subscribe_events(self, comm, ticket=None, **_):
        """Stream this scheduler's event records (a snapshot first) until the comm closes;
        the dashboard process it spawned (its *ticket*) gets the records held for it."""
        if self.status != "running":
            raise RuntimeError(f"the scheduler is {self.status}")
        ours = self._early is not None and ticket is not None and ticket == self._early[2]
        snapshot = self._take_early() if ours else None  # what it missed while it started
        full = snapshot is None
        if full:
            snapshot = scheduler_snapshot(self.state)  # no await until subscribed: nothing is missed
        # task records coalesced per key (TASK_STATES), not one per transition ("task")
        try:
            return await self.event_streams.serve(comm, self.bus, source=self.id,
                                                  snapshot=snapshot, exclude=("task",),
                                                  resync=self._resync_snapshot, full=full,
                                                  address=self.address, name=self.name)  # fmt: skip
        finally:
            dashboard = self.dashboard
            if (ticket is not None and dashboard is not None and ticket == dashboard.ticket
                    and self.status == "running" and self._early is None):
                # its process died (or its feed reconnects): what comes until the next one
                # subscribes is held for it, as at the start (its task stream had a hole)
                self._hold_early(ticket)

    def _resync_snapshot(self) -> list:
        """For a reader that fell behind and lost records: the state as it is now
        (the rows pending publication first, so none comes after it)."""
        self._publish_task_states()
        return scheduler_snapshot(self.state)

    def _publish_task_states(self) -> None:
        for record in self.state.task_state_records():
            self.bus.publish(record)

    def _publish_system(self) -> None:
        """This process's CPU, memory and open files, for a dashboard's /system page."""
        if not self.bus.wants(SystemMetrics.kind):
            return
        if self._probe is None:
            self._probe = ProcessProbe()
        sample = self._probe.sample()
        if sample is not None:
            self.bus.publish(SystemMetrics(**sample))
