"""``from_url``: a bag of the lines at some URLs, one partition per URL.

Each partition's task opens its URL with ``urllib.request.urlopen`` when it runs
(nothing is fetched while the graph is built) and yields the raw lines as bytes,
each with its line ending, as Dask's ``from_url`` does.  ``file://`` URLs read
local files, so the function works offline too.
"""

from __future__ import annotations

from shoal.bag.core import Bag
from shoal.core.spec import Task
from shoal.core.tokenize import tokenize

__all__ = ["from_url", "url_lines"]


def url_lines(url: str) -> list:
    """The lines (bytes, endings kept) of the resource at *url*."""
    import urllib.request  # (here: it costs an import of 20 ms, at every import shoal.bag)

    with urllib.request.urlopen(url) as response:
        return list(response)


def from_url(urls):
    """A bag of the lines of *urls* (one URL or a list of them), one partition each."""
    if isinstance(urls, str):
        urls = [urls]
    urls = list(urls) if isinstance(urls, (list, tuple)) else None
    if not urls or not all(isinstance(u, str) for u in urls):
        raise TypeError("from_url: urls must be a URL string or a non-empty list of them")
    name = f"from-url-{tokenize(urls)}"
    layer = {(name, i): Task((name, i), url_lines, u) for i, u in enumerate(urls)}
    return Bag({name: layer}, name, len(urls))
