"""An exception's text, safely and at a bounded length, for records, reports and pages.

An exception's ``__str__`` is user code: it may raise, and a task's own error must not be
replaced by that one (:func:`message_of`).  Its message may be a megabyte: records,
reports and the dashboard's pages carry at most :data:`MAX_ERROR_LENGTH` characters of
it, its middle cut out (:func:`clip_text`).
"""

from __future__ import annotations

__all__ = ["MAX_ERROR_LENGTH", "clip_text", "exception_text", "message_of"]

#: Longest exception message sent on or shown (a worker's report, a task record, a
#: dashboard's page); beyond it the text is clipped in its middle (:func:`clip_text`).
MAX_ERROR_LENGTH = 10_000


def clip_text(text: str, limit: int = MAX_ERROR_LENGTH) -> str:
    """*text* with its middle cut out when longer than *limit* characters.

    >>> clip_text("a" * 6 + "b" * 6, 4)
    'aa\\n... (8 characters clipped) ...\\nbb'
    """
    if len(text) <= limit:
        return text
    half = max(limit // 2, 1)
    return f"{text[:half]}\n... ({len(text) - 2 * half:,} characters clipped) ...\n{text[-half:]}"


def message_of(exc: BaseException) -> str:
    """``str(exc)``, or a placeholder when that raises (an exception's ``__str__`` is
    user code: its failure must not replace the task's own error)."""
    try:
        return str(exc)
    except BaseException:  # noqa: BLE001
        return "<unprintable exception>"


def exception_text(exc: BaseException) -> str:
    """``"TypeName: message"``, clipped (:data:`MAX_ERROR_LENGTH`), for task records and
    pages; never raises.

    >>> exception_text(ValueError("no"))
    'ValueError: no'
    """
    return f"{type(exc).__name__}: {clip_text(message_of(exc))}"
