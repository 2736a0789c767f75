"""The drawings in a real browser: headless Chromium opens each page with every
network fetch refused (``--proxy-server=127.0.0.1:9``) and must render the
nodes, as the DOM and a screenshot show.

Skipped when no Chromium is installed (CI installs Debian's ``chromium``).
Every browser run is bounded by a timeout."""
import importlib.util
import os
import shutil
import struct
import subprocess
import zlib

import pytest

from tools import draw, draw_to_html
from regrad.draw._style import STYLE

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None,
                       reason="headless Chromium is not installed (apt-get install -y chromium)"),
]

TIMEOUT = 90   # seconds for one browser run (a cold start takes a second or two)


def chromium(tmp_path, *args):
    profile = tmp_path / f"profile-{len(os.listdir(tmp_path))}"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-extensions", "--mute-audio",
           f"--user-data-dir={profile}", "--proxy-server=127.0.0.1:9", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT,
                         stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def dump_dom(tmp_path, page):
    return chromium(tmp_path, "--dump-dom", "file://" + os.path.abspath(page))


def screenshot(tmp_path, page, drawing):
    """A screenshot of ``page`` (at one CSS pixel per pixel) big enough for
    the header and the whole ``drawing``; returns the decoded image."""
    png = tmp_path / (os.path.basename(page) + ".png")
    width = max(600, int(drawing.width) + 40)
    height = int(drawing.height) + 120
    chromium(tmp_path, "--hide-scrollbars", "--force-device-scale-factor=1",
             f"--window-size={width},{height}", f"--screenshot={png}",
             "file://" + os.path.abspath(page))
    return read_png(png)


def _test_draw():
    """tests/test_draw.py (its example graphs), whatever pytest's import mode."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "test_draw.py")
    spec = importlib.util.spec_from_file_location("_regrad_test_draw", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------- PNG reading

def read_png(path):
    """(width, height, rows of (r, g, b) tuples) of an 8-bit RGB or RGBA PNG."""
    try:
        from PIL import Image
    except ImportError:
        return _read_png_pure(path)
    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        b = im.tobytes()
    return w, h, [[tuple(b[i:i + 3]) for i in range(y * w * 3, (y + 1) * w * 3, 3)]
                  for y in range(h)]


def _read_png_pure(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, []
    while pos < len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if ctype == b"IHDR":
            w, h, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif ctype == b"IDAT":
            idat.append(body)
        elif ctype == b"IEND":
            break
    assert depth == 8 and interlace == 0 and colour in (2, 6), (depth, colour, interlace)
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = w * bpp
    prev = bytearray(stride)
    rows = []
    i = 0
    for _ in range(h):
        f = raw[i]
        line = bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        if f == 1:
            for x in range(bpp, stride):
                line[x] = (line[x] + line[x - bpp]) & 255
        elif f == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif f == 3:
            for x in range(stride):
                left = line[x - bpp] if x >= bpp else 0
                line[x] = (line[x] + ((left + prev[x]) >> 1)) & 255
        elif f == 4:
            for x in range(stride):
                a = line[x - bpp] if x >= bpp else 0
                b = prev[x]
                c = prev[x - bpp] if x >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pred) & 255
        rows.append([tuple(line[x:x + 3]) for x in range(0, stride, bpp)])
        prev = line
    return w, h, rows


def blobs(image, hex_colour, min_size=400):
    """Connected regions of exactly ``hex_colour`` with at least ``min_size``
    pixels (a node's fill; the counters of letters and the legend's small
    swatches are smaller): a list of (size, centre x, centre y)."""
    w, h, rows = image
    target = tuple(int(hex_colour[k:k + 2], 16) for k in (1, 3, 5))
    seen = [bytearray(w) for _ in range(h)]
    found = []
    for y0 in range(h):
        row = rows[y0]
        for x0 in range(w):
            if seen[y0][x0] or row[x0] != target:
                continue
            seen[y0][x0] = 1
            stack = [(x0, y0)]
            size = sx = sy = 0
            while stack:
                x, y = stack.pop()
                size += 1
                sx += x
                sy += y
                for nx, ny in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
                    if 0 <= nx < w and 0 <= ny < h and not seen[ny][nx] \
                            and rows[ny][nx] == target:
                        seen[ny][nx] = 1
                        stack.append((nx, ny))
            if size >= min_size:
                found.append((size, sx / size, sy / size))
    return found


def mean_xy(found):
    return (sum(b[1] for b in found) / len(found), sum(b[2] for b in found) / len(found))


# ------------------------------------------------------------------ tests

def test_page_renders_offline(tmp_path):
    from regrad import Var
    a = Var(-4.0, req_grad=True)
    page = draw_to_html(a + a ** 2, tmp_path / "computed_graph_pow")
    dom = dump_dom(tmp_path, page)
    assert "<svg" in dom
    assert dom.count('class="node ') == 3 and dom.count('class="edge"') == 3
    for text in (">Pow<", ">power=2<", ">16.0000<", ">Add<", ">12.0000<", ">-4.0000<"):
        assert text in dom
    assert "<script" not in dom


@pytest.mark.parametrize("orientation", ["TB", "BT", "LR", "RL"])
def test_screenshot_shows_nodes_in_each_orientation(tmp_path, orientation):
    from regrad import Var
    a = Var(-4.0, req_grad=True)
    y = a + a ** 2
    page = draw_to_html(y, tmp_path / f"pow_{orientation}", orientation)
    image = screenshot(tmp_path, page, draw(y, orientation))
    params = blobs(image, STYLE["param"]["fill"])
    ops = blobs(image, STYLE["op"]["fill"])
    assert len(params) == 1 and len(ops) == 2, (params, ops)
    (px, py), (ox, oy) = mean_xy(params), mean_xy(ops)
    # the input (a) lies where the orientation says inputs are
    assert {"TB": py < oy, "BT": py > oy, "LR": px < ox, "RL": px > ox}[orientation]


def test_screenshot_sigmoid_kinds(tmp_path):
    from regrad import Var
    y = 1 / (1 + (-Var(0.5, req_grad=True)).exp())
    page = draw_to_html(y, tmp_path / "computed_graph_sigmoid")
    image = screenshot(tmp_path, page, draw(y))
    counts = {k: len(blobs(image, STYLE[k]["fill"])) for k in ("param", "const", "op")}
    assert counts == {"param": 1, "const": 2, "op": 4}
    # the plain-Python PNG reader (used where Pillow is missing) reads the same
    assert _read_png_pure(tmp_path / "computed_graph_sigmoid.html.png") == image


def test_screenshot_mlp_every_node_visible(tmp_path):
    from regrad import Var
    try:
        from tools.nn import MLP
        model = MLP(2, [3, 1])
        x = Var(0.5)
        y = model([x, x ** 2])
    except ImportError:          # the same graph, by hand
        x = Var(0.5)
        y = _test_draw().hand_mlp(Var, [x, x ** 2])
    page = draw_to_html(y, tmp_path / "computed_graph_mlp", "BT")
    image = screenshot(tmp_path, page, draw(y, "BT"))
    found = {k: blobs(image, STYLE[k]["fill"]) for k in ("param", "const", "op")}
    # each node is its own patch of colour: none hidden, none overlapping
    assert {k: len(v) for k, v in found.items()} == {"param": 13, "const": 2, "op": 21}
    # BT: the inputs x and x ** 2 are below the operators, the root on top
    assert mean_xy(found["const"])[1] > mean_xy(found["op"])[1]
    assert min(b[2] for b in found["op"]) < min(b[2] for b in found["param"])


def test_hostile_labels_stay_text_in_the_browser(tmp_path):
    td = _test_draw()
    page = draw(td.evil_graph()).save(tmp_path / "evil.html", title=td.EVIL[0])
    dom = dump_dom(tmp_path, page)
    assert "<script" not in dom and "<img" not in dom
    assert dom.count('class="node ') == 3
    assert "&lt;script&gt;alert" in dom        # shown, as text


def test_screenshot_compact_view(tmp_path):
    from regrad import Var
    x = Var(0.5)
    y = _test_draw().hand_mlp(Var, [x, x ** 2])
    page = draw_to_html(y, tmp_path / "mlp_compact", "BT", view="compact")
    image = screenshot(tmp_path, page, draw(y, "BT", view="compact"))
    found = {k: blobs(image, STYLE[k]["fill"]) for k in ("param", "const", "op", "neuron")}
    # 3 hidden neurons and the output, each one patch of colour; x and x ** 2
    assert {k: len(v) for k, v in found.items()} == {"param": 0, "const": 2, "op": 0,
                                                     "neuron": 4}
    # BT: the inputs below, the output neuron on top
    assert min(b[2] for b in found["neuron"]) < min(b[2] for b in found["const"])


def test_large_page_opens_fitted_to_the_window(tmp_path):
    from regrad import Var
    try:
        import random
        from tools.nn import MLP
        random.seed(1337)
        model = MLP(2, [16, 16, 1])
    except ImportError:
        pytest.skip("tools.nn is not available")
    y = (1 - Var(1.0) * model([Var(0.5), Var(-0.3)])).relu()
    page = draw_to_html(y, tmp_path / "moons_sample")      # the default max_nodes
    dom = dump_dom(tmp_path, page)
    assert "<title>moons_sample (984 nodes)</title>" in dom and "984 nodes, 1253 edges" in dom
    assert 'id="fit" checked' in dom
    png = tmp_path / "moons.png"
    chromium(tmp_path, "--hide-scrollbars", "--force-device-scale-factor=1",
             "--window-size=1200,800", f"--screenshot={png}", "file://" + os.path.abspath(page))
    w, h, rows = read_png(png)
    # the whole drawing (4872 x 3851 px at actual size) shows in the window:
    # nearly all of its 337 parameters (dark blue) are on screen, where the
    # drawing at its actual size shows fewer than half of them
    params = [b for b in blobs((w, h, rows), STYLE["param"]["fill"], min_size=6) if b[2] > 70]
    assert len(params) >= 300, len(params)
    xs = [b[1] for b in params]
    assert max(xs) - min(xs) > 0.5 * w, (min(xs), max(xs))
