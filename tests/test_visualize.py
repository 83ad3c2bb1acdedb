"""visualize(): real pictures through graphviz, and clear errors without it."""

import builtins

import pytest

import shoal
from shoal import delayed


def inc(x):
    return x + 1


def graph_object():
    a = delayed(inc)(1)
    b = delayed(inc)(a)
    return delayed(sum)([a, b, 5])


def test_png_svg_dot_files(tmp_path, dot_program):
    x = graph_object()
    x.visualize(filename=str(tmp_path / "g.png"))
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    shoal.visualize(x, filename=str(tmp_path / "g"), format="svg")
    svg = (tmp_path / "g.svg").read_text()
    assert "<svg" in svg and "inc" in svg and "sum" in svg
    x.visualize(filename=str(tmp_path / "g.dot"))
    src = (tmp_path / "g.dot").read_text()
    # edges: each function -> its result (3) and each input -> its function (3)
    assert src.count("->") == 6


def test_dot_source_structure(dot_program):
    from shoal.dot import to_graphviz

    x = graph_object()
    dot = to_graphviz(x.__shoal_graph__())
    src = dot.source
    # three tasks -> three function ellipses and three result boxes
    assert src.count("shape=ellipse") == 3
    assert src.count("shape=box") == 3
    assert 'label=inc' in src and 'label=sum' in src


def test_filename_none_returns_displayable(dot_program):
    out = graph_object().visualize(filename=None)
    assert out is not None


def test_unknown_format(tmp_path, dot_program):
    with pytest.raises(ValueError, match="Unknown picture format 'bmpx'"):
        graph_object().visualize(filename=str(tmp_path / "g.bmpx"))


def test_missing_graphviz_package_message(monkeypatch):
    real_import = builtins.__import__

    def no_graphviz(name, *args, **kwargs):
        if name == "graphviz":
            raise ImportError("No module named 'graphviz'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_graphviz)
    with pytest.raises(ImportError, match="pip install graphviz.*apt-get install graphviz"):
        graph_object().visualize(filename=None)


def test_missing_dot_program_message(tmp_path, monkeypatch):
    pytest.importorskip("graphviz")
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` on PATH
    with pytest.raises(RuntimeError, match="'dot' program was not found"):
        graph_object().visualize(filename=str(tmp_path / "g.png"))


def test_a_key_that_is_no_name_is_labelled_by_itself(dot_program):
    """Dask's integer keys (``{5: (inc, 1)}``): the box says 5, not the "Other" that
    their prefix is in progress bars."""
    from shoal.dot import to_graphviz

    src = to_graphviz({5: (inc, 1), "b": (inc, 5)}).source
    assert "label=5 " in src and "label=b " in src and "Other" not in src
