"""Light and dark pages (shoal/dashboard/theme.py): which theme a page gets, what a dark
page's models and HTML carry, and that no pane keeps a colour the dark page lacks."""

import re

import pytest

pytest.importorskip("bokeh", reason="pip install bokeh (the test extra has it)")

from bokeh.document import Document  # noqa: E402
from bokeh.models import InlineStyleSheet, Tabs, Widget  # noqa: E402

from shoal import config  # noqa: E402
from shoal.dashboard import pages, theme  # noqa: E402
from shoal.dashboard.panes import PANES  # noqa: E402
from shoal.dashboard.panes.style import PRIMARY  # noqa: E402
from shoal.dashboard.server import DashboardServer  # noqa: E402

from test_dashboard_panes import busy_state  # noqa: E402
from test_dashboard_server import get  # noqa: E402

#: Explicit colours that read on both backgrounds (mid-tones; Bokeh's own tool overlays).
BOTH = {PRIMARY, "orange", "red", "grey", "lightgrey"}


class Request:
    def __init__(self, **arguments):
        self.arguments = {k: [v.encode()] for k, v in arguments.items()}


class Context:
    def __init__(self, **arguments):
        self.request = Request(**arguments)


def page(make, *args, **arguments) -> Document:
    doc = Document()
    if arguments:
        doc._session_context = lambda: Context(**arguments)  # as a served page's is
    make(busy_state(), *args, doc)
    return doc


def test_a_page_asks_for_its_theme_else_the_config_says():
    assert theme.page_theme({"theme": [b"dark"]}) == "dark"
    assert theme.page_theme({"theme": [b" DARK "]}) == "dark"
    assert theme.page_theme({"theme": [b"light"]}, default="dark") == "light"
    assert theme.page_theme({}, default="dark") == "dark"
    # anything else opens, light: a link must never break a page
    assert theme.page_theme({"theme": [b"solarized"]}, default="light") == "light"
    assert theme.page_theme({"theme": [b"\xff"]}, default="light") == "light"
    assert theme.page_theme(None, default="purple") == "light"
    assert theme.page_theme({}) == "light"  # the config's default
    with config.set({"distributed.dashboard.theme": "dark"}):
        assert theme.page_theme({}) == "dark"
        assert theme.page_theme({"theme": [b"light"]}) == "light"


@pytest.mark.parametrize("name", sorted(PANES))
def test_every_panes_explicit_colours_have_a_dark_counterpart(name):
    """A pane that sets a light-only colour (white, black, pale greys) must have it in
    DARK_COLORS, else its dark page keeps it: this fails for a new pane that does."""
    light = page(pages.individual_doc, name)
    missing = theme.explicit_colors(light.roots) - set(theme.DARK_COLORS) - BOTH
    assert not missing, f"{name}: add these to theme.DARK_COLORS: {missing}"
    dark = page(pages.individual_doc, name, theme="dark")
    assert dark.theme is theme.DARK
    left = theme.explicit_colors(dark.roots) & set(theme.DARK_COLORS)
    assert not left, f"{name} keeps light colours on a dark page: {left}"


def test_recolor_maps_values_and_leaves_data_columns():
    from bokeh.plotting import figure

    fig = figure(tools="")  # (no tool overlays, whose outlines are black too)
    limit = fig.segment(x0=0, y0=0, x1=1, y1=1, line_color="black")
    bars = fig.quad(left=0, right=1, bottom=0, top=1, fill_color="color", line_color="#CCCCCC",
                    source={"color": ["red"]})  # fmt: skip
    assert theme.recolor([fig]) >= 2  # (and the copies of each glyph: selected, muted...)
    assert limit.glyph.line_color == theme.INK
    assert bars.glyph.line_color == theme.DARK_COLORS["#cccccc"]
    assert bars.glyph.fill_color == "color"  # a column: its colours are the panes' own
    assert theme.recolor([fig]) == 0  # (dark colours are not mapped again)


@pytest.mark.parametrize("route", sorted(pages.PAGES))
def test_dark_pages_style_their_widgets_and_keep_their_links_dark(route):
    doc = page(pages.PAGES[route], theme="dark")
    assert doc.theme is theme.DARK
    widgets = [m for m in doc.models if isinstance(m, (Widget, Tabs))]
    for widget in widgets:  # (each in its shadow DOM: the page's CSS does not reach it)
        assert any(isinstance(s, InlineStyleSheet) and "slick-cell" in s.css
                   for s in widget.stylesheets), widget  # fmt: skip
    variables = doc.template_variables
    assert "background: #111111" in variables["theme_css"]
    assert variables["nav_query"] == "?theme=dark"
    light = page(pages.PAGES[route])
    assert light.theme is not theme.DARK
    assert light.template_variables["theme_css"] == "" and light.template_variables["nav_query"] == ""
    assert not any(isinstance(s, InlineStyleSheet) and "slick-cell" in s.css
                   for m in light.models for s in getattr(m, "stylesheets", ()))  # fmt: skip


def test_served_pages_in_the_dark_theme():
    server = DashboardServer(busy_state(), port=0).start_in_thread()
    try:
        _, _, body = get(server.address + "/status?theme=dark")
        assert "background: #111111" in body and "color-scheme: dark" in body
        assert 'href="workers?theme=dark"' in body and 'href="info/main/workers.html?theme=dark"' in body
        _, _, alone = get(server.address + "/individual-progress?theme=dark")
        assert "background: #111111" in alone and 'class="shoal-nav"' not in alone
        _, _, light = get(server.address + "/status")
        assert "#111111" not in light and 'href="workers"' in light
        _, _, odd = get(server.address + "/status?theme=%3Cb%3Ex%3C/b%3E")  # opens, light
        assert "#111111" not in odd and "<b>x</b>" not in odd and 'href="workers"' in odd
    finally:
        server.stop()


@pytest.mark.parametrize("name", ["graph", "task-stream", "profile"])
def test_a_dark_pages_state_colours_in_the_data_are_dark_ones(name):
    """Erred black, released white and waiting pale grey came from the panes' data, which
    the explicit-colour map does not reach: black bars vanished on the dark plot."""
    light, dark = page(pages.individual_doc, name), page(pages.individual_doc, name, theme="dark")

    def colours(doc):
        return {c for m in doc.models if type(m).__name__ == "ColumnDataSource"
                for column in ("color", "line") for c in m.data.get(column, ())}  # fmt: skip

    assert colours(light) & set(theme.DARK_DATA_COLORS), name  # (the busy state has them)
    assert not colours(dark) & set(theme.DARK_DATA_COLORS), colours(dark)


def test_info_pages_follow_the_theme_and_keep_it_in_their_links():
    server = DashboardServer(busy_state(), port=0).start_in_thread()
    try:
        _, _, dark = get(server.address + "/info/main/workers.html?theme=dark")
        assert "background: #111111" in dark
        assert 'href="../../status?theme=dark"' in dark
        links = [link for link in re.findall(r'href="([^"]+)"', dark) if not link.startswith("http")]
        assert links and all("theme=dark" in link for link in links), links
        _, _, light = get(server.address + "/info/main/workers.html")
        assert "#111111" not in light and 'href="../../status"' in light
    finally:
        server.stop()
