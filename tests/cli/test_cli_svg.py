"""The SVG plotter of the quickstart report: well-formed XML, points where the data says."""
import math
import xml.etree.ElementTree as ET
from itertools import pairwise

import pytest

from nlpkit.cli.svg import bar_chart, line_plot, nice_ticks, scatter_plot

NS = "{http://www.w3.org/2000/svg}"


def parse(svg):
    root = ET.fromstring(svg)  # raises on anything that is not well-formed XML
    assert root.tag == f"{NS}svg"
    return root


def texts(root):
    return [t.text for t in root.iter(f"{NS}text")]


@pytest.mark.parametrize("lo, hi", [(0, 1), (0.013, 0.98), (-3.2, 7.9), (71.9, 72.4),
                                    (5, 5), (0, 0), (-1e6, 3e6), (1e-4, 3e-4)])
def test_nice_ticks_cover_the_range_with_round_equal_steps(lo, hi):
    t = nice_ticks(lo, hi)
    assert t[0] <= lo and t[-1] >= hi and 2 <= len(t) <= 12
    steps = {round((b - a) / (t[1] - t[0]), 9) for a, b in pairwise(t)}
    assert steps == {1.0}
    step = t[1] - t[0]
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert any(math.isclose(mantissa, m) for m in (1, 2, 5, 10))


def test_line_plot_draws_each_series_with_its_points_in_the_frame():
    svg = line_plot([("train", [1, 2, 3], [2.0, 1.0, 0.5]), ("a < b & c", [1, 2], [1.5, 0.7])],
                    title="loss <per> epoch", xlabel="epoch", ylabel="loss")
    root = parse(svg)
    lines = root.findall(f"{NS}polyline")
    assert len(lines) == 2
    frame = root.find(f"{NS}rect")
    x0, y0 = float(frame.get("x")), float(frame.get("y"))
    x1, y1 = x0 + float(frame.get("width")), y0 + float(frame.get("height"))
    pts = [tuple(map(float, p.split(","))) for p in lines[0].get("points").split()]
    assert len(pts) == 3 and all(x0 <= x <= x1 and y0 <= y <= y1 for x, y in pts)
    assert pts[0][0] < pts[1][0] < pts[2][0]  # x grows to the right
    assert pts[0][1] < pts[1][1] < pts[2][1]  # a falling loss goes down the page
    assert "a < b & c" in texts(root) and "loss <per> epoch" in texts(root)
    assert root.find(f"{NS}title").text == "loss <per> epoch"
    assert len(root.findall(f"{NS}circle")) == 5  # markers: few points


def test_non_finite_values_are_left_out_and_nothing_to_plot_says_so():
    root = parse(line_plot([("s", [1, 2, 3, 4], [1.0, float("nan"), float("inf"), 2.0])]))
    pts = root.find(f"{NS}polyline").get("points").split()
    assert len(pts) == 2
    for svg in (line_plot([("s", [1], [float("nan")])], title="t"), scatter_plot([], title="t"),
                bar_chart([], title="t")):
        assert "t: nothing to plot" in texts(parse(svg))


def test_scatter_plot_labels_every_point_and_colours_groups():
    pts = [("king", 0.1, 0.2), ("queen", 0.15, 0.25), ("sheep", -0.4, 0.0)]
    root = parse(scatter_plot(pts, groups=["rule", "rule", "animals"], title="map"))
    circles = root.findall(f"{NS}circle")
    assert len(circles) == 3
    assert circles[0].get("fill") == circles[1].get("fill") != circles[2].get("fill")
    assert {"king", "queen", "sheep", "rule", "animals"} <= set(texts(root))


def test_bar_chart_bars_are_proportional_to_the_values():
    root = parse(bar_chart([("Katz", 72.0), ("KN", 36.0), ("bad", float("nan"))]))
    bars = root.findall(f"{NS}rect")
    assert len(bars) == 2
    w = [float(b.get("width")) for b in bars]
    assert math.isclose(w[0], 2 * w[1], rel_tol=1e-2)
    assert {"Katz", "KN", "72.0", "36.0"} <= set(texts(root))
