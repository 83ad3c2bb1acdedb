"""Light and dark pages: one look for the panes beside a dark JupyterLab.

::

    /individual-progress?theme=dark      the lab's panes ask (labextension/src/pane.ts)
    distributed.dashboard.theme: dark    a page asked for nothing (default "light")
        --> page_theme(arguments) --> apply(doc, layout, name):
              doc.theme        the Bokeh models' defaults (plot, axes, grid, titles, text)
              recolor(layout)  the few colours panes set themselves, light -> dark
              pane.data_colors the state colours in their data (erred, released, waiting)
              stylesheets      tables, tabs, selects and buttons (their shadow DOM)
              page_css(name)   the page's own background and the navigation bar

The panes are written once, for a light page, and know nothing of themes: a pane's
explicit colours are few (a limit line, label boxes, table frames), and
:data:`DARK_COLORS` maps each to its counterpart, so a new pane with a new explicit
colour shows as it is on a dark page until its colour is added there (a test walks
every pane's models for explicit colours the map lacks).  Only colours change, never
fonts or sizes: a page lays out the same in both themes.  The prefix colours of the
task stream and progress bars are mid-tone and read on either background; the state
colours panes put in their data (black for erred, white for released, pale grey for
waiting) are mapped as each update is pushed (:data:`DARK_DATA_COLORS`).

Dark values follow JupyterLab's dark theme (its layout colours ``#111111`` and
``#212121``, its text ``rgba(255,255,255,.87)``), so a pane shows as part of the lab.
"""

from __future__ import annotations

from bokeh.themes import Theme

__all__ = ["DARK", "DARK_COLORS", "DARK_DATA_COLORS", "THEMES", "apply", "explicit_colors", "page_css",
           "info_css", "page_theme", "recolor"]

THEMES = ("light", "dark")

PAGE, PLOT, INK, FAINT = "#111111", "#1b1b1b", "#dedede", "#9a9a9a"

#: Bokeh's defaults for the models every pane draws with; light keeps Bokeh's own.
DARK = Theme(json={"attrs": {
    "Plot": {"background_fill_color": PLOT, "border_fill_color": PAGE,
             "outline_line_color": INK, "outline_line_alpha": 0.2},
    "Grid": {"grid_line_color": INK, "grid_line_alpha": 0.12},
    "Axis": {"axis_line_color": FAINT, "major_tick_line_color": FAINT,
             "minor_tick_line_color": FAINT, "major_label_text_color": INK,
             "axis_label_text_color": INK},
    "Title": {"text_color": INK},
    "Text": {"text_color": INK},
    "Legend": {"background_fill_color": PLOT, "label_text_color": INK, "border_line_color": FAINT},
    "Toolbar": {"autohide": False},
}})  # fmt: skip

#: Explicit light colours the panes set -> what a dark page shows instead.
DARK_COLORS = {
    "white": PLOT,  # boxes under labels (progress)
    "black": INK,  # memory limits
    "#cccccc": "#4a4a4a",  # frames around progress bars
    "#aaaaaa": "#777777",  # graph edges
    "#dddddd": "#3a3a3a",  # NEUTRAL: waiting tasks, empty bars
}

#: The state colours panes put in their data (``shoal.diagnostics.colors``) -> a dark
#: page's: erred stays the strongest, released and waiting recede as on a light page.
DARK_DATA_COLORS = {
    "black": "#e6e6e6",  # ERRED: task stream, graph, profile
    "white": "#5c5c5c",  # released keys in the graph
    "#dddddd": "#3e3e3e",  # NEUTRAL: waiting keys, a profile's root
}

#: Properties that hold a colour on glyphs and annotations.
_COLOR_PROPERTIES = ("line_color", "fill_color", "text_color", "hatch_color",
                     "background_fill_color", "border_line_color", "color")  # fmt: skip

#: Widgets draw in their own shadow DOM: the page's CSS does not reach them.
_WIDGET_CSS = f"""
:host {{ color: {INK}; --bokeh-base-color: {INK}; }}
.bk-input, select, input {{ background-color: {PLOT}; color: {INK}; border-color: #444; }}
.bk-btn, .bk-btn-default {{ background-color: #2a2a2a; color: {INK}; border-color: #444; }}
.bk-btn:hover {{ background-color: #333; }}
.bk-header, .bk-tab {{ color: {INK}; border-color: #444; }}
.bk-tab.bk-active {{ background-color: {PLOT}; color: #fff; border-color: #666; }}
.slick-header-columns, .slick-header-column, .bk-cell-index {{ background: #242424; color: {INK};
  border-color: #333; }}
.slick-row, .slick-row.odd, .slick-cell {{ background: {PLOT}; color: {INK}; border-color: #2c2c2c; }}
.slick-row.odd .slick-cell {{ background: #202020; }}
.slick-row:hover .slick-cell {{ background: #2a2a2a; }}
a {{ color: #8ab4f8; }}
"""


def page_theme(arguments: dict | None, default: str | None = None) -> str:
    """The theme a page asked for (``?theme=dark``; Bokeh's request arguments are
    lists of bytes), else *default*, else the config's ``distributed.dashboard.theme``.
    Anything but a known name is light: a page must open whatever its link says."""
    value = ((arguments or {}).get("theme") or [b""])[0]
    name = value.decode(errors="replace").strip().lower() if isinstance(value, bytes) else ""
    if name in THEMES:
        return name
    if default is None:
        from shoal import config

        default = config.get("distributed.dashboard.theme", "light")
    name = str(default).strip().lower()
    return name if name in THEMES else "light"


def recolor(models, colors: dict = DARK_COLORS) -> int:
    """Replace every explicit colour of *colors* in *models* (and what they hold) by its
    counterpart; returns how many properties changed.  A colour from a data column
    (``fill_color="color"``) is a field, not a value, and stays as it is."""
    from bokeh.core.property.vectorization import Value

    changed = 0
    for model in _all_models(models):
        for prop in _COLOR_PROPERTIES:
            if prop not in model.properties():
                continue
            value = getattr(model, prop)
            if isinstance(value, Value):
                value = value.value
            if isinstance(value, str) and value.lower() in colors:
                setattr(model, prop, colors[value.lower()])
                changed += 1
    return changed


def explicit_colors(models) -> set:
    """The explicit colour values (strings) set on *models*' glyphs and annotations:
    what :data:`DARK_COLORS` must cover (pane colours from :mod:`colors` aside)."""
    out = set()
    for model in _all_models(models):
        for prop in _COLOR_PROPERTIES:
            if prop in model.properties_with_values(include_defaults=False):
                value = getattr(model, prop)
                value = getattr(value, "value", value)
                if isinstance(value, str) and _is_color(value):  # (else a data column's name)
                    out.add(value.lower())
    return out


def _is_color(value: str) -> bool:
    from bokeh.colors import named

    return value.startswith("#") or value.lower() in named.__all__


def _all_models(models):
    seen: set = set()
    for root in models:
        for model in root.references():
            if model.id not in seen:
                seen.add(model.id)
                yield model


def apply(doc, layout, name: str, panes=()) -> None:
    """Give *doc* (whose root is *layout*, drawn by *panes*) the look of theme *name*."""
    if name != "dark":
        return
    from bokeh.models import InlineStyleSheet, Tabs, Widget

    doc.theme = DARK
    recolor([layout])
    for pane in panes:  # (the colours they put in their data, at every push)
        pane.data_colors = DARK_DATA_COLORS
    sheet = InlineStyleSheet(css=_WIDGET_CSS)
    for model in _all_models([layout]):
        if isinstance(model, (Widget, Tabs)):
            model.stylesheets = [*model.stylesheets, sheet]


def info_css(name: str) -> str:
    """The /info pages' CSS for theme *name* (plain HTML: the page, its tables, links)."""
    if name != "dark":
        return ""
    return page_css(name) + (f" td,th {{ border-color: #3a3a3a; }} th {{ background: #242424; }}"
                             f" a {{ color: #8ab4f8; }} pre {{ background: {PLOT}; }}")


def page_css(name: str) -> str:
    """The page's own CSS for theme *name* (the body behind the panes)."""
    if name != "dark":
        return ""
    return (f"  html, body {{ background: {PAGE}; color: {INK}; color-scheme: dark; }}\n"
            f"  .shoal-nav {{ background: #1f2a30; }}\n")  # fmt: skip
