"""Log records of workers' tasks, emitted again in the client: ``client.forward_logging``.

::

    worker, a task:  logger.info(...) -> ForwardingHandler.emit
                       -> record_to_event(record) (plain data: the message formatted
                          here, so args that cannot travel never need to)
                       -> worker.log_event(topic, attributes)     (worker/events.py)
    scheduler:       event log + push to subscribers          (scheduler/eventlog.py)
    client:          subscribe_topic(topic, reemit) -> reemit((time, attributes))
                       -> logging.getLogger(record.name).handle(record_from_event(...))

:class:`ForwardLogging` is the worker plugin that adds a :class:`ForwardingHandler`
to the logger named ``logger_name`` (the root logger for None) on setup and
removes it on teardown.  Unlike Dask (which forwards each record its worker's
process handles), only records emitted while a task of the handler's worker runs,
in the task's own thread, are forwarded (``get_worker()`` is that worker): so a
process holding several workers (or the client too) sends each record once, and
a record the client emits again is never sent back.  The record arrives with
the worker's address in its ``worker`` attribute (the scheduler adds it to a
worker's dict event).
"""

from __future__ import annotations

import logging

from shoal.distributed.plugins import WorkerPlugin

__all__ = ["ForwardLogging", "ForwardingHandler", "reemit", "record_from_event", "record_to_event"]

_PLAIN = (str, int, float, bool, type(None))
#: attributes replaced (msg, args, exc_info) or left to the receiving side
_REPLACED = frozenset({"msg", "args", "exc_info", "message", "worker"})


def record_to_event(record: logging.LogRecord, formatter: logging.Formatter) -> dict:
    """The record's attributes as plain data: ``msg`` is the formatted message, the
    exception (if any) is its text in ``exc_text``; attributes that are not plain
    (a str, number, bool or None) are left out."""
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - args that do not fit the format: keep both as text
        message = f"{record.msg!s} {record.args!r}"
    out = {k: v for k, v in record.__dict__.items() if k not in _REPLACED and isinstance(v, _PLAIN)}
    if record.exc_info and not record.exc_text:
        out["exc_text"] = formatter.formatException(record.exc_info)
    out.update(msg=message, args=None, exc_info=None)
    return out


def record_from_event(event) -> logging.LogRecord:
    """The LogRecord of a forwarded ``(timestamp, attributes)`` event."""
    _stamp, attributes = event
    return logging.makeLogRecord(attributes)


def reemit(event) -> None:
    """Handle a forwarded record in this process, by the logger of its name."""
    record = record_from_event(event)
    logging.getLogger(record.name).handle(record)


class ForwardingHandler(logging.Handler):
    """Sends the records of ``worker``'s tasks as events of ``topic``."""

    def __init__(self, worker, topic: str, level=logging.NOTSET):
        super().__init__(level)
        self.worker, self.topic = worker, topic
        self._formatter = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        from shoal.distributed.worker.context import get_worker

        try:
            if get_worker() is not self.worker:
                return
        except ValueError:  # not in a task
            return
        try:
            self.worker.log_event(self.topic, record_to_event(record, self._formatter))
        except Exception:  # noqa: BLE001 - logging never raises into the task
            self.handleError(record)


class ForwardLogging(WorkerPlugin):
    """Forward the records of ``logger_name`` (root: None) at ``level`` or above, from
    each worker's tasks, as events of ``topic`` (see the module docstring)."""

    def __init__(self, logger_name, level, topic: str):
        self.logger_name, self.level, self.topic = logger_name, level, topic
        self.name = topic
        self._handler = None

    def setup(self, worker) -> None:
        self._handler = ForwardingHandler(worker, self.topic, self.level)
        logging.getLogger(self.logger_name).addHandler(self._handler)

    def teardown(self, worker) -> None:
        if self._handler is not None:
            logging.getLogger(self.logger_name).removeHandler(self._handler)
            self._handler = None

    def __getstate__(self):
        return dict(self.__dict__, _handler=None)
