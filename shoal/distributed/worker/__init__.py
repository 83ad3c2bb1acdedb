"""The worker side of the distributed runtime.

``WorkerState`` (``state.py``) is the pure state machine: it takes events
(``messages.py``: a scheduler's ``compute-task``, a finished execution, a
peer's answer) and returns instructions (run this, fetch that, tell the
scheduler this).  Every state change goes through the one transition table in
``transitions.py``; ``handlers.py`` turns each event into recommendations and
``validate.py`` checks the invariants.  ``memory.py`` holds the pure memory
policy (spill, pause, terminate thresholds).  The server that runs the
instructions on a thread pool and talks over comms composes a
``WorkerState``; nothing here does I/O.
"""

from .state import InvalidTransition, WorkerState, WorkerTask

__all__ = ["InvalidTransition", "WorkerState", "WorkerTask"]
