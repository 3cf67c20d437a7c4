"""Plots as self-contained SVG text: line plots, labelled scatter plots, horizontal bar charts.

``nlpkit quickstart`` draws its report with these rather than with matplotlib, so the command
line needs no plotting dependency and the page needs no network: each function returns one
``<svg>`` element (a string) to put inline in an HTML page or to save as a ``.svg`` file.
Non-finite values (NaN, inf) are left out of a plot rather than breaking its scale.
"""
from __future__ import annotations

import math
from xml.sax.saxutils import escape

#: Colours of the series, in order (colour-blind-safe, Okabe and Ito's palette).
COLOURS = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#f0e442",
           "#000000")

_FONT = 'font-family="sans-serif" font-size="11"'


def nice_ticks(lo, hi, n=5):
    """About ``n`` round tick values (1, 2 or 5 times a power of ten apart) covering
    ``[lo, hi]``; the axis then runs from the first to the last."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError("nice_ticks needs finite bounds")
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:  # one value: a unit (or a tenth of it) either side
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(n, 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step + 1e-9) * step
    last = math.ceil(hi / step - 1e-9) * step
    count = round((last - first) / step)
    return [first + i * step for i in range(count + 1)]


def _fmt(v):
    """A tick label: no trailing zeros, thousands as 12k, small values in full."""
    if v == 0:
        return "0"
    if abs(v) >= 10000:
        return f"{v / 1000:g}k"
    return f"{v:.6g}" if abs(v) >= 1e-3 else f"{v:.1e}"


class _Frame:
    """The plotting area of a figure: data -> pixel transforms, axes, ticks and labels."""

    def __init__(self, width, height, xs, ys, *, left=56, right=12, top=28, bottom=40,
                 xlabel="", ylabel="", title=""):
        self.width, self.height = width, height
        self.x0, self.x1 = left, width - right
        self.y0, self.y1 = height - bottom, top  # y0: the bottom of the area in pixels
        self.xt = nice_ticks(min(xs), max(xs))
        self.yt = nice_ticks(min(ys), max(ys))
        self.xlabel, self.ylabel, self.title = xlabel, ylabel, title

    def px(self, x):
        lo, hi = self.xt[0], self.xt[-1]
        return self.x0 + (x - lo) / ((hi - lo) or 1.0) * (self.x1 - self.x0)

    def py(self, y):
        lo, hi = self.yt[0], self.yt[-1]
        return self.y0 - (y - lo) / ((hi - lo) or 1.0) * (self.y0 - self.y1)

    def axes(self):
        out = [(f'<rect x="{self.x0}" y="{self.y1}" width="{self.x1 - self.x0}" '
                f'height="{self.y0 - self.y1}" fill="none" stroke="#888"/>')]
        for t in self.yt:
            y = self.py(t)
            label = _fmt(t)
            out.append(f'<line x1="{self.x0}" x2="{self.x1}" y1="{y:.1f}" y2="{y:.1f}" '
                       f'stroke="#ddd"/>')
            out.append(f'<text x="{self.x0 - 4}" y="{y + 4:.1f}" text-anchor="end" {_FONT}>'
                       f'{escape(label)}</text>')
        for t in self.xt:
            x = self.px(t)
            out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{self.y0}" y2="{self.y0 + 4}" '
                       f'stroke="#888"/>')
            out.append(f'<text x="{x:.1f}" y="{self.y0 + 15}" text-anchor="middle" '
                       f'{_FONT}>{escape(_fmt(t))}</text>')
        if self.xlabel:
            out.append(f'<text x="{(self.x0 + self.x1) / 2:.1f}" y="{self.height - 6}" '
                       f'text-anchor="middle" {_FONT}>{escape(self.xlabel)}</text>')
        if self.ylabel:
            cy = (self.y0 + self.y1) / 2
            out.append(f'<text x="12" y="{cy:.1f}" text-anchor="middle" '
                       f'transform="rotate(-90 12 {cy:.1f})" {_FONT}>{escape(self.ylabel)}</text>')
        if self.title:
            out.append(f'<text x="{self.width / 2:.1f}" y="16" text-anchor="middle" '
                       f'font-family="sans-serif" font-size="13" font-weight="bold">'
                       f'{escape(self.title)}</text>')
        return out


def _svg(width, height, body, title):
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img">'
            f'<title>{escape(title)}</title>{"".join(body)}</svg>')


def _finite(xs, ys):
    pts = [(float(x), float(y)) for x, y in zip(xs, ys) if math.isfinite(x) and math.isfinite(y)]
    return [p[0] for p in pts], [p[1] for p in pts]


def line_plot(series, *, title="", xlabel="", ylabel="", width=480, height=300, markers=None):
    """Lines through points: ``series`` is a list of ``(label, xs, ys)``, one line and one
    legend entry each; ``markers`` (default: when a series has at most 30 points) draws a
    dot at each point."""
    clean = [(label, *_finite(xs, ys)) for label, xs, ys in series]
    clean = [(label, xs, ys) for label, xs, ys in clean if xs]
    if not clean:
        return _empty(width, height, title)
    all_x = [x for _, xs, _ in clean for x in xs]
    all_y = [y for _, _, ys in clean for y in ys]
    frame = _Frame(width, height, all_x, all_y, xlabel=xlabel, ylabel=ylabel, title=title)
    body = frame.axes()
    for i, (label, xs, ys) in enumerate(clean):
        colour = COLOURS[i % len(COLOURS)]
        pts = " ".join(f"{frame.px(x):.1f},{frame.py(y):.1f}" for x, y in zip(xs, ys))
        body.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" '
                    f'stroke-width="1.6"/>')
        if markers or (markers is None and len(xs) <= 30):
            body += [f'<circle cx="{frame.px(x):.1f}" cy="{frame.py(y):.1f}" r="2.5" '
                     f'fill="{colour}"/>' for x, y in zip(xs, ys)]
    body += _legend([label for label, _, _ in clean], frame.x1 - 6, frame.y1 + 6)
    return _svg(width, height, body, title)


def scatter_plot(points, *, groups=None, title="", width=560, height=420, xlabel="",
                 ylabel=""):
    """Labelled points: ``points`` is a list of ``(label, x, y)``; ``groups`` (one name per
    point, optional) colours them and adds a legend."""
    keep = [i for i, (_, x, y) in enumerate(points) if math.isfinite(x) and math.isfinite(y)]
    if not keep:
        return _empty(width, height, title)
    xs = [float(points[i][1]) for i in keep]
    ys = [float(points[i][2]) for i in keep]
    frame = _Frame(width, height, xs, ys, left=40, right=16, xlabel=xlabel, ylabel=ylabel,
                   title=title)
    names = [] if groups is None else list(dict.fromkeys(groups[i] for i in keep))
    body = frame.axes()
    for i, x, y in zip(keep, xs, ys):
        colour = COLOURS[names.index(groups[i]) % len(COLOURS)] if names else COLOURS[0]
        cx, cy = frame.px(x), frame.py(y)
        body.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3" fill="{colour}"/>')
        body.append(f'<text x="{cx + 4:.1f}" y="{cy - 3:.1f}" fill="{colour}" {_FONT}>'
                    f'{escape(str(points[i][0]))}</text>')
    if names:
        body += _legend(names, frame.x1 - 6, frame.y1 + 6)
    return _svg(width, height, body, title)


def bar_chart(items, *, title="", xlabel="", width=480, height=None, fmt="{:.1f}"):
    """Horizontal bars: ``items`` is a list of ``(label, value)`` (values >= 0), drawn top
    to bottom in that order with the value printed at the end of each bar."""
    items = [(str(label), float(v)) for label, v in items if math.isfinite(v) and v >= 0]
    height = height or 44 + 22 * max(len(items), 1)
    if not items:
        return _empty(width, height, title)
    left = 12 + 6.5 * max(len(label) for label, _ in items)
    x0, x1 = left, width - 60
    top = max(v for _, v in items) or 1.0
    body = []
    if title:
        body.append(f'<text x="{width / 2:.1f}" y="16" text-anchor="middle" '
                    f'font-family="sans-serif" font-size="13" font-weight="bold">'
                    f'{escape(title)}</text>')
    for i, (label, v) in enumerate(items):
        y = 28 + 22 * i
        w = (x1 - x0) * v / top
        body.append(f'<text x="{x0 - 6:.1f}" y="{y + 13}" text-anchor="end" {_FONT}>'
                    f'{escape(label)}</text>')
        body.append(f'<rect x="{x0:.1f}" y="{y}" width="{w:.1f}" height="16" '
                    f'fill="{COLOURS[i % len(COLOURS)]}"/>')
        body.append(f'<text x="{x0 + w + 4:.1f}" y="{y + 13}" {_FONT}>'
                    f'{escape(fmt.format(v))}</text>')
    if xlabel:
        body.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{height - 6}" text-anchor="middle" '
                    f'{_FONT}>{escape(xlabel)}</text>')
    return _svg(width, height, body, title)


def _legend(labels, right, top):
    out = []
    for i, label in enumerate(labels):
        y = top + 14 * i
        colour = COLOURS[i % len(COLOURS)]
        out.append(f'<rect x="{right - 10}" y="{y}" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{right - 14}" y="{y + 9}" text-anchor="end" {_FONT}>'
                   f'{escape(str(label))}</text>')
    return out


def _empty(width, height, title):
    return _svg(width, height, [(
        f'<text x="{width / 2:.1f}" y="{height / 2:.1f}" text-anchor="middle" {_FONT}>'
        f'{escape(title)}: nothing to plot</text>')], title)
