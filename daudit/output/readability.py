"""Measured readability of a drawn matplotlib figure: axis use, overlapping labels, stacked markers.

Pure: reads a `matplotlib.figure.Figure` (drawing it once to lay the text out) and returns
numbers; never saves or changes it. What counts as data on an axes: lines, markers, bars and
error bars drawn in its data coordinates. Reference marks are not data: lines across the whole
axes (``axhline``, ``axvline``, ``axvspan``), text, and any artist whose gid is
`REFERENCE_GID` (a threshold curve, say, that is drawn for comparison and annotated when it
leaves the axis).
"""

from __future__ import annotations

__all__ = ["AxesUse", "Readability", "REFERENCE_GID", "measure"]

from dataclasses import dataclass

import numpy as np
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

REFERENCE_GID = "reference"
_STACK = 0.5  # two markers are "stacked" when their centres are closer than this many diameters
_TOUCH_PX = 1.0  # text boxes overlapping by at most this many pixels in either direction do not count


@dataclass(frozen=True)
class AxesUse:
    """How one axes uses its space.

    label : str             the axes' title (or its y label), to name it in messages
    y_fraction : float | None
        Fraction of the y axis (0-1, in drawn pixels, so log axes count as drawn) between the
        lowest and the highest data drawn; None when the axes draws no data.
    x_fraction : float | None
        The same along x.
    n_markers : int         markers of its scatter sets
    stacked_markers : int   markers whose centre lies within half a diameter of another marker of
                            the same set (a run of them reads as a band, not as points)
    series : dict of str -> float
        y fraction of each labelled data artist (its legend label), e.g. how much of the axis
        the "pixel importance" curve uses when a reference drawn as data shares the axis.
    """

    label: str
    y_fraction: float | None
    x_fraction: float | None
    n_markers: int
    stacked_markers: int
    series: dict


@dataclass(frozen=True)
class Readability:
    """The measures of one figure: one `AxesUse` per visible axes, and the overlapping labels.

    overlaps : list of (str, str)
        Pairs of visible texts (tick labels, axis labels, titles, annotations, whole legends)
        whose drawn rectangles (rotated with the text) overlap by more than a pixel.
    """

    axes: list[AxesUse]
    overlaps: list[tuple[str, str]]


def _is_data(artist, ax) -> bool:
    # a patch's own transform is its shape's; where it sits is its data transform
    where = artist.get_data_transform() if hasattr(artist, "get_data_transform") else artist.get_transform()
    return artist.get_visible() and artist.get_gid() != REFERENCE_GID and where == ax.transData


def _data_artists(ax):
    """(label, data coordinates (n, 2)) of every data artist of ``ax`` (lines, bars, markers, error bars)."""
    for line in ax.lines:
        if isinstance(line, Line2D) and _is_data(line, ax):
            yield line.get_label(), np.column_stack([np.asarray(line.get_xdata(), float),
                                                     np.asarray(line.get_ydata(), float)])
    for patch in ax.patches:
        if isinstance(patch, Rectangle) and _is_data(patch, ax) and patch.get_height() != 0:
            x, y, w, h = patch.get_x(), patch.get_y(), patch.get_width(), patch.get_height()
            yield patch.get_label(), np.array([[x, y], [x + w, y + h]], float)
    for coll in ax.collections:
        if not coll.get_visible() or coll.get_gid() == REFERENCE_GID:
            continue
        if isinstance(coll, PathCollection) and coll.get_offset_transform() == ax.transData:
            yield coll.get_label(), np.asarray(coll.get_offsets(), float).reshape(-1, 2)
        elif isinstance(coll, LineCollection) and coll.get_transform() == ax.transData:
            segs = [np.asarray(seg, float).reshape(-1, 2) for seg in coll.get_segments()]
            if segs:
                yield coll.get_label(), np.concatenate(segs)


def _display(ax, xy) -> np.ndarray:
    """Finite display coordinates of the finite data points ``xy`` (n, 2)."""
    xy = xy[np.isfinite(xy).all(axis=1)]
    if not len(xy):
        return np.empty((0, 2))
    with np.errstate(all="ignore"):
        out = ax.transData.transform(xy)
    return out[np.isfinite(out).all(axis=1)]


def _fraction(values, lo, hi) -> float | None:
    if values.size == 0 or hi <= lo:
        return None
    v = np.clip(values, lo, hi)
    return float((v.max() - v.min()) / (hi - lo))


def _stacked(ax, fig) -> tuple[int, int]:
    """(markers, stacked markers) over the scatter sets of ``ax``."""
    total = stacked = 0
    for coll in ax.collections:
        if not (isinstance(coll, PathCollection) and coll.get_visible()):
            continue
        off = np.asarray(coll.get_offsets(), float).reshape(-1, 2)
        if len(off) == 0:
            continue
        xy = coll.get_offset_transform().transform(off)
        sizes = np.asarray(coll.get_sizes(), float)
        diam = np.sqrt(sizes.max() if sizes.size else 36.0) * fig.dpi / 72.0
        total += len(xy)
        if len(xy) < 2:
            continue
        d2 = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)
        np.fill_diagonal(d2, np.inf)
        stacked += int((d2.min(axis=1) < (_STACK * diam) ** 2).sum())
    return total, stacked


def _texts(fig):
    """(name, text artist) of every visible, non-empty text of ``fig`` that is drawn."""
    out, seen = [], set()

    def add(t, where):
        if t is not None and id(t) not in seen and t.get_visible() and t.get_text().strip():
            seen.add(id(t))
            out.append((f"{where}: {t.get_text().strip()[:40]!r}", t))

    for t in fig.texts:
        add(t, "figure")
    if getattr(fig, "_suptitle", None) is not None:
        add(fig._suptitle, "suptitle")
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible() or not ax.axison:
            continue
        name = ax.get_title() or ax.get_ylabel() or f"axes {i}"
        for t in (ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label):
            add(t, name)
        for axis, (lo, hi) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            lo, hi = min(lo, hi), max(lo, hi)
            for tick in axis.get_major_ticks():
                if lo - 1e-12 * abs(hi - lo) <= tick.get_loc() <= hi + 1e-12 * abs(hi - lo):
                    for lab in (tick.label1, tick.label2):
                        if lab.get_visible():
                            add(lab, f"{name} tick")
        for t in ax.texts:
            add(t, name)
    return out


def _corners(box, angle_deg) -> np.ndarray:
    """The 4 corners (4, 2) of a rectangle rotated by ``angle_deg`` whose axis-aligned bounding box is ``box``.

    A rotated label's bounding box is far larger than the label (two labels at 40 degrees side by
    side have overlapping boxes); the rectangle itself is recovered from the box and the angle.
    """
    cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
    t = np.deg2rad(angle_deg % 180)
    c, s = abs(np.cos(t)), abs(np.sin(t))
    det = c * c - s * s
    w = h = -1.0
    if abs(det) > 0.05:  # within 1.5 degrees of 45 the box does not determine the sides
        w = (c * box.width - s * box.height) / det
        h = (c * box.height - s * box.width) / det
    if w <= 0 or h <= 0:  # keep the box itself (never under-counts an overlap)
        w, h, t = box.width, box.height, 0.0
    half = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return half @ rot.T + [cx, cy]


def _overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two convex quadrilaterals overlap by more than `_TOUCH_PX` (separating axes)."""
    for poly in (a, b):
        for i in range(4):
            edge = poly[(i + 1) % 4] - poly[i]
            norm = np.hypot(*edge)
            if norm == 0:
                continue
            axis = np.array([-edge[1], edge[0]]) / norm
            pa, pb = a @ axis, b @ axis
            if min(pa.max(), pb.max()) - max(pa.min(), pb.min()) <= _TOUCH_PX:
                return False
    return True


def _boxes(fig, renderer):
    """(name, corners (4, 2)) of every drawn text and legend."""
    boxes = [(name, _corners(t.get_window_extent(renderer), t.get_rotation())) for name, t in _texts(fig)]
    legends = [(f"legend of {ax.get_title() or f'axes {i}'}", ax.get_legend()) for i, ax in enumerate(fig.axes)]
    legends += [("figure legend", leg) for leg in fig.legends]
    for name, leg in legends:
        if leg is not None and leg.get_visible():
            boxes.append((name, _corners(leg.get_window_extent(renderer), 0.0)))
    return boxes


def measure(fig) -> Readability:
    """Measure how readable a drawn figure is (see `Readability`, `AxesUse`).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        Laid out as it will be saved (call it before ``savefig``; it draws the canvas once).

    Returns
    -------
    Readability
    """
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    axes = []
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible() or not ax.axison:
            continue
        box = ax.get_window_extent(renderer)
        parts = [(label, _display(ax, xy)) for label, xy in _data_artists(ax)]
        pts = np.concatenate([p for _, p in parts]) if parts else np.empty((0, 2))
        series = {label: _fraction(p[:, 1], box.y0, box.y1) for label, p in parts
                  if label and not label.startswith("_") and len(p)}
        n, stacked = _stacked(ax, fig)
        axes.append(AxesUse(label=ax.get_title() or ax.get_ylabel() or f"axes {i}",
                            y_fraction=_fraction(pts[:, 1], box.y0, box.y1),
                            x_fraction=_fraction(pts[:, 0], box.x0, box.x1),
                            n_markers=n, stacked_markers=stacked, series=series))
    boxes = _boxes(fig, renderer)
    overlaps = []
    for a in range(len(boxes)):
        for b in range(a + 1, len(boxes)):
            (na, ca), (nb, cb) = boxes[a], boxes[b]
            if _overlap(ca, cb):
                overlaps.append((na, nb))
    return Readability(axes=axes, overlaps=overlaps)
