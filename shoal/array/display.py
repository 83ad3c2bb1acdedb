"""How an array looks: ``repr`` and the notebook's HTML, computed from metadata only.

``repr``::

    shoal.array<random_sample, shape=(10000, 10000), dtype=float64, chunksize=(1000, 1000), chunktype=numpy.ndarray>

``_repr_html_`` is a two-column table (bytes, shape, chunk count, graph layers,
dtype; array and chunk side by side) next to an SVG sketch of the blocks:

- 1-d: one long bar divided at the block boundaries;
- 2-d: a grid, rows by columns, scaled so the longer side is about 120 px;
- 3-d and more: a box in oblique projection -- the last two dimensions as the
  front face, the third-to-last receding up and to the right (top and side faces
  divided at its block boundaries) -- and any leading dimensions in a caption.

Block lines are drawn at most :data:`MAX_LINES` per dimension (beyond that, the
grid is shaded instead), so the picture stays small for any array.
"""

from __future__ import annotations

import html
import math

from shoal.array.core import offsets
from shoal.core.keys import key_split
from shoal.core.units import format_bytes

__all__ = ["array_html", "array_repr", "svg"]

SIZE = 120
MAX_LINES = 50


def array_repr(x) -> str:
    return (f"shoal.array<{key_split(x.name)}, shape={x.shape}, dtype={x.dtype}, "
            f"chunksize={x.chunksize}, chunktype=numpy.ndarray>")




def _scale(shape):
    """Pixel lengths for *shape*: the longest SIZE, none thinner than 8 px."""
    longest = max(max(shape), 1)
    return [max(SIZE * n / longest, 8) for n in shape]


def _lines(dim_chunks, length):
    total = max(sum(dim_chunks), 1)
    starts = offsets(dim_chunks)
    if len(dim_chunks) > MAX_LINES:
        return None
    return [length * s / total for s in starts]


def _face(ox, oy, width, height, rows, cols):
    """SVG elements for a rows-by-cols grid whose top-left is (ox, oy)."""
    ys = _lines(rows, height) if rows is not None else [0, height]
    xs = _lines(cols, width)
    shaded = ys is None or xs is None
    ys, xs = ys or [0, height], xs or [0, width]
    out = [_polygon([(ox, oy), (ox + width, oy), (ox + width, oy + height), (ox, oy + height)],
                    "8B4903A0" if shaded else "ECB172A0")]
    out += [_line(ox, oy + y, ox + width, oy + y, 2 if y in (0, height) else 1) for y in ys]
    out += [_line(ox + x, oy, ox + x, oy + height, 2 if x in (0, width) else 1) for x in xs]
    return out


def _line(x1, y1, x2, y2, width=1):
    return (f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            f'style="stroke-width:{width}" />')


def _polygon(points, fill="ECB172A0"):
    pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return f'<polygon points="{pts}" style="fill:#{fill};stroke-width:0"/>'


def _text(x, y, text, rotate=False, size=None):
    extra = f' transform="rotate(-90,{x:.1f},{y:.1f})"' if rotate else ""
    font = f' font-size="{size}"' if size else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle"{font}{extra}>{text}</text>'


def _box(fx, fy, w, h, d, rows, cols, depth):
    """A 3-d sketch: front face rows x cols at (fx, fy), receding up-right by d."""
    out = []
    zs = _lines(depth, d)
    xs = _lines(cols, w)
    ys = _lines(rows, h)
    shaded = zs is None or xs is None or ys is None
    zs, xs, ys = zs or [0, d], xs or [0, w], ys or [0, h]
    fill = "8B4903A0" if shaded else "ECB172A0"
    # top face
    out.append(_polygon([(fx, fy), (fx + w, fy), (fx + w + d, fy - d), (fx + d, fy - d)], fill))
    out += [_line(fx + x, fy, fx + x + d, fy - d) for x in xs]
    out += [_line(fx + z, fy - z, fx + w + z, fy - z) for z in zs]
    # right face
    out.append(_polygon([(fx + w, fy), (fx + w + d, fy - d), (fx + w + d, fy + h - d), (fx + w, fy + h)], fill))
    out += [_line(fx + w, fy + y, fx + w + d, fy + y - d) for y in ys]
    out += [_line(fx + w + z, fy - z, fx + w + z, fy + h - z) for z in zs]
    return out + _face(fx, fy, w, h, rows, cols)


def svg(chunks) -> str:
    """An SVG picture of *chunks* (see the module docstring)."""
    ndim = len(chunks)
    if ndim == 0:
        return ""
    if ndim == 1:
        (w,) = _scale((sum(chunks[0]),))
        body = _face(10, 10, w, 25, None, chunks[0])
        body.append(_text(10 + w / 2, 55, sum(chunks[0])))
        width, height = w + 20, 65
    elif ndim == 2:
        h, w = _scale((sum(chunks[0]), sum(chunks[1])))
        body = _face(10, 10, w, h, chunks[0], chunks[1])
        body.append(_text(10 + w / 2, h + 30, sum(chunks[1])))
        body.append(_text(w + 25, 10 + h / 2, sum(chunks[0]), rotate=True))
        width, height = w + 40, h + 40
    else:
        depth, h, w = _scale((sum(chunks[-3]), sum(chunks[-2]), sum(chunks[-1])))
        d = max(depth * 0.5, 15)  # receding at 45 degrees, foreshortened, never flat
        fx, fy = 25, 10 + d  # room on the left for the rotated label
        body = _box(fx, fy, w, h, d, chunks[-2], chunks[-1], chunks[-3])
        body.append(_text(fx + w / 2, fy + h + 20, sum(chunks[-1])))
        body.append(_text(fx - 8, fy + h / 2, sum(chunks[-2]), rotate=True))
        body.append(_text(fx + w + d / 2 + 14, fy - d / 2 + 14, sum(chunks[-3])))
        width, height = fx + w + d + 30, fy + h + 30
        if ndim > 3:
            lead = " x ".join(str(sum(c)) for c in chunks[:-3])
            body.append(_text(width / 2, height - 4, f"{lead} x ...", size="0.8em"))
    return (f'<svg width="{width:.0f}" height="{height:.0f}" style="stroke:rgb(0,0,0)">'
            + "".join(body) + "</svg>")


def array_html(x) -> str:
    ntasks = sum(len(layer) for layer in x._layers.values())
    chunk_bytes = math.prod(x.chunksize) * x.dtype.itemsize
    rows = [
        ("Bytes", format_bytes(x.nbytes), format_bytes(chunk_bytes)),
        ("Shape", str(x.shape), str(x.chunksize)),
        ("Graph", f"{x.npartitions} chunks in {len(x._layers)} graph layers ({ntasks} tasks)", ""),
        ("Data type", f"{x.dtype} numpy.ndarray", ""),
    ]
    cells = []
    for label, a, c in rows:
        if c:
            cells.append(f"<tr><th>{label}</th><td>{html.escape(a)}</td><td>{html.escape(c)}</td></tr>")
        else:
            cells.append(f'<tr><th>{label}</th><td colspan="2">{html.escape(a)}</td></tr>')
    table = ("<table><thead><tr><td></td><th>Array</th><th>Chunk</th></tr></thead><tbody>"
             + "".join(cells) + "</tbody></table>")
    return ("<table><tr><td>" + table + '</td><td style="vertical-align:middle">' + svg(x.chunks)
            + "</td></tr></table>")
