"""The step-by-step drawings of backward in a real browser (headless Chromium,
every network fetch refused), as tests/test_draw_browser.py does for the graph
drawings: the page renders every step, and a step's SVG shows one orange node,
the one the engine processes, with the gradient flowing on orange edges."""
import importlib.util
import os
import re

import pytest

from regrad import Var
from regrad.draw import backward_steps, draw_backward
from regrad.draw._steps import CURRENT, FLOW
from regrad.draw._style import STYLE


def _browser_helpers():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "test_draw_browser.py")
    spec = importlib.util.spec_from_file_location("_regrad_test_draw_browser", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tb = _browser_helpers()
pytestmark = tb.pytestmark


def example():
    a = Var(2.0, req_grad=True)
    b = Var(-3.0, req_grad=True)
    c = a * b
    return a, b, c + c.relu() + a       # c has two consumers: it waits for both


def test_page_renders_every_step_offline(tmp_path):
    a, b, y = example()
    page = backward_steps(y, tmp_path / "steps", labels={"a": a, "b": b})[0]
    dom = tb.dump_dom(tmp_path, page)
    n = len(draw_backward(y).steps)
    assert n == 4
    assert dom.count('<section class="step"') == n + 1
    assert dom.count("current") >= n and "<script" not in dom
    assert dom.count("<svg") == n + 1
    for text in (">Step 4 of 4<", ">grad -2.0000<", ">grad 2.0000<"):
        assert text in dom


@pytest.mark.parametrize("step", [1, 3])
def test_step_svg_shows_the_processed_node(tmp_path, step):
    a, b, y = example()
    drawing = draw_backward(y, "TB", labels={"a": a, "b": b})
    paths = drawing.save_svgs(tmp_path / "steps")
    svg = open(paths[step], encoding="utf-8").read()
    width = float(svg.split('width="', 1)[1].split('"', 1)[0])
    height = float(svg.split('height="', 1)[1].split('"', 1)[0])

    class Size:
        pass
    size = Size()
    size.width, size.height = width, height - 100      # screenshot() adds 120 px
    image = tb.screenshot(tmp_path, paths[step], size)
    current = tb.blobs(image, CURRENT["fill"])
    assert len(current) == 1, current                  # one node processed per step
    params = tb.blobs(image, STYLE["param"]["fill"])
    assert len(params) == 2                            # a and b
    orange = sum(px == tuple(int(FLOW[k:k + 2], 16) for k in (1, 3, 5))
                 for row in image[2] for px in row)
    assert orange > 200                                # the edges carrying gradients
    # results not yet processed keep the usual grey; those done are faded
    assert len(tb.blobs(image, STYLE["op"]["fill"])) == 4 - step
    # the orange patch is where the SVG puts the node of this step
    top = float(re.search(r'<g transform="translate\(0,([\d.]+)\)">', svg).group(1))
    m = re.search(r'<g class="node op[^"]*current[^"]*" data-node="n\d+"[^>]*>'
                  r'<title>[^<]*</title><rect x="([\d.]+)" y="([\d.]+)" '
                  r'width="([\d.]+)" height="([\d.]+)"', svg)
    x, y, w, h = (float(v) for v in m.groups())
    _, cx, cy = current[0]
    assert abs(cx - (x + w / 2)) < 3 and abs(cy - (top + y + h / 2)) < 3
    assert f"#{step} " in svg[m.end():m.end() + 400]    # numbered by its step
