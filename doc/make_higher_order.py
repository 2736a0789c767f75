"""Write the pictures of doc/higher-order.md, doc/higher-order/*.svg.

    python doc/make_higher_order.py          # rewrite them
    python doc/make_higher_order.py --check  # exit 1 if a committed file differs

Drawn by ``regrad.draw`` with the pure engine. tests/test_docs.py fails when
the committed pictures differ from what this script draws.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

import regrad  # noqa: E402
from regrad.draw import draw  # noqa: E402

Var = regrad.get_engine("python").Var


def x_cubed():
    """x ** 3 at x = 3, its first and its second derivative as graphs."""
    x = Var(3.0, req_grad=True, label="x")
    y = x ** 3
    (d1,) = regrad.grad(y, x, create_graph=True)
    (d2,) = regrad.grad(d1, x, create_graph=True)
    d1.label, d2.label = "dy/dx", "d2y/dx2"
    return d1, d2


def render():
    """{path relative to the repository: text} for every file this script writes."""
    d1, d2 = x_cubed()
    return {"doc/higher-order/x-cubed-d1.svg": draw(d1, "LR").svg + "\n",
            "doc/higher-order/x-cubed-d2.svg": draw(d2, "LR").svg + "\n"}


def main(argv):
    from make_ops import write       # the same writer, beside this script
    return write(render(), "--check" in argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
