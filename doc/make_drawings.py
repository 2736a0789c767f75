"""Regenerate the pictures of README.md and doc/drawing.md: doc/computed_graph_{pow,sigmoid,mlp,grad}.png
and doc/moons_sample_{full,compact}.png.

    python doc/make_drawings.py [--html-dir DIR] [--scale 2]

Each example writes its page with ``tools.draw_to_html`` (the original
regrad's import path, which the seed's scripts use), then headless Chromium, with every network fetch refused, takes a
screenshot of it: of the whole page, or for the moons sample's full view (a
page that opens fitted to the window) of a window of a fixed size. Needs
Debian's ``chromium`` (or ``chromium-browser`` / ``google-chrome``) on PATH.
"""
import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from regrad import Var  # noqa: E402
from tools import draw, draw_to_html  # noqa: E402


def example_pow():
    a = Var(-4.0, req_grad=True)
    y = a + a ** 2
    return y, "TB"


def example_sigmoid():
    def sigmoid(x):
        return 1 / (1 + (-x).exp())
    y = sigmoid(Var(0.5, req_grad=True))
    return y, "TB"


def example_mlp():
    from tools.nn import MLP
    random.seed(1)
    model = MLP(2, [3, 1])
    x = Var(0.5)
    y = model([x, x ** 2])
    return y, "BT"


def example_grad():
    x = Var(2.0)
    w = Var(-0.5, req_grad=True)
    b = Var(0.3, req_grad=True)
    y = (w * x + b).sigmoid()
    y.backward(retain_graph=True)   # keep the graph to draw it with the gradients
    return y, "LR"


def moons_sample():
    """One two-moons sample through the seed's model: ``(1 - t * score).relu()``."""
    from tools.nn import MLP
    random.seed(1337)
    model = MLP(2, [16, 16, 1])
    x0, x1, t = Var(0.5), Var(-0.3), Var(1.0)
    return (1 - t * model([x0, x1])).relu()


def example_moons_full():
    return moons_sample(), "TB", {"window": (1000, 780), "scale": 1.0}


def example_moons_compact():
    return moons_sample(), "LR", {"view": "compact", "scale": 0.7}


EXAMPLES = {
    "computed_graph_pow": example_pow,
    "computed_graph_sigmoid": example_sigmoid,
    "computed_graph_mlp": example_mlp,
    "computed_graph_grad": example_grad,
    "moons_sample_full": example_moons_full,
    "moons_sample_compact": example_moons_compact,
}

HEADER_HEIGHT = 60   # the title line and the legend line (one line each at 600 px or more)
PAGE_PAD = 18


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def screenshot(chromium, html_path, png_path, width, height, scale):
    with tempfile.TemporaryDirectory() as profile:
        cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", f"--user-data-dir={profile}",
               "--proxy-server=127.0.0.1:9", "--hide-scrollbars",
               f"--force-device-scale-factor={scale}",
               f"--window-size={width},{height}", f"--screenshot={png_path}",
               "file://" + os.path.abspath(html_path)]
        subprocess.run(cmd, check=True, timeout=60, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html-dir", help="keep the HTML pages here (default: a temporary dir)")
    parser.add_argument("--out-dir", default=HERE, help="where the PNGs go (default: doc/)")
    parser.add_argument("--scale", type=float, default=2.0, help="device pixel ratio")
    args = parser.parse_args(argv)
    chromium = find_chromium()
    if chromium is None:
        sys.exit("chromium not found: apt-get install -y chromium")
    html_dir = args.html_dir or tempfile.mkdtemp(prefix="regrad-drawings-")
    for name, make in EXAMPLES.items():
        root, orientation, *rest = make()
        options = rest[0] if rest else {}
        view = options.get("view", "full")
        page = draw_to_html(root, os.path.join(html_dir, name), orientation, view=view)
        drawing = draw(root, orientation, view=view)
        width = max(600, int(drawing.width) + 2 * PAGE_PAD)
        height = int(drawing.height) + HEADER_HEIGHT + 2 * PAGE_PAD
        width, height = options.get("window", (width, height))
        png = os.path.join(args.out_dir, name + ".png")
        screenshot(chromium, page, png, width, height, options.get("scale", args.scale))
        print(f"{png}: {drawing!r}")
    if not args.html_dir:
        shutil.rmtree(html_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
