"""Output for Jupyter: whether this process is a kernel, and finished bars a saved
notebook keeps.

A widget (ipywidgets) lives only in its kernel's session: JupyterLab saves no
widget state by default, so a notebook opened again shows a widget output as
"model not found", and its saved text is the empty ``HBox(...)`` the widget
started as.  Progress bars therefore draw a widget while they run and, at their
end, replace it through its display handle with :class:`FinishedBars`: plain
HTML, and a text line for viewers without HTML.  The local ``ProgressBar``
(:mod:`.progress`) and the distributed ``progress()`` both end that way.
"""

from __future__ import annotations

import html
import sys

from shoal.diagnostics.colors import FAILED, SUCCEEDED

__all__ = ["FinishedBars", "in_kernel"]


def in_kernel() -> bool:
    """True in a running IPython kernel (a notebook's, or JupyterLab's console)."""
    if "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class FinishedBars:
    """Finished progress bars as plain output.

    ``rows``: ``(name, fraction, failed, caption)`` for each bar, in order (an empty
    name draws no name column); ``text``: the whole as text (``text/plain``);
    ``title``: ``(heading, text)`` of a line above the bars, as the live widget's
    ("Finished", "1.2s")."""

    def __init__(self, rows, text: str, title: tuple = ()):
        self.rows = [(str(name), min(1.0, max(0.0, float(fraction))), bool(failed), str(caption))
                     for name, fraction, failed, caption in rows]  # fmt: skip
        self.text, self.title = text, title

    def _repr_mimebundle_(self, include=None, exclude=None):
        e = html.escape
        lines = []
        if self.title:
            heading, text = self.title
            lines.append(f"<div><b>{e(heading)}:</b> {e(text)}</div>")
        for name, fraction, failed, caption in self.rows:  # (laid out as the live widget)
            named = (f'<span style="width:20%;font-family:monospace;overflow:hidden">'
                     f"{e(name)}</span>" if name else "")  # fmt: skip
            lines.append(
                f'<div style="display:flex;align-items:center;gap:8px;margin:4px 0">{named}'
                f'<div style="width:{"60%" if name else "300px"};height:14px;background:#eee;'
                f'border-radius:2px"><div style="width:{round(100 * fraction, 1)}%;height:100%;'
                f'background:{FAILED if failed else SUCCEEDED};border-radius:2px"></div></div>'
                f"<span>{e(caption)}</span></div>")  # fmt: skip
        return {"text/plain": self.text, "text/html": "".join(lines)}

    def __repr__(self) -> str:
        return self.text
