"""Write the step-by-step pictures of doc/autograd.md, doc/autograd/*.svg.

    python doc/make_autograd.py          # rewrite them
    python doc/make_autograd.py --check  # exit 1 if a committed file differs

They are drawn by ``regrad.draw.draw_backward`` with the pure engine, so
they show the schedule ``backward()`` runs. tests/test_docs.py fails when the
committed pictures, or the schedule table in doc/autograd.md, differ from
what this script draws.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

import regrad  # noqa: E402
from regrad.draw import draw_backward  # noqa: E402

Var = regrad.get_engine("python").Var


def small():
    """The first example of doc/autograd.md: a result used twice, a leaf used twice."""
    a = Var(2.0, req_grad=True)
    b = Var(3.0, req_grad=True)
    c = a * b
    y = c + c.relu() + a
    return draw_backward(y, "TB", labels={"a": a, "b": b})


def readme():
    """The README's example."""
    a = Var(-4.0, req_grad=True)
    b = Var(2.0, req_grad=True)
    c_5 = Var(5)  # const
    c = a + b
    d = a * b + b ** 3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += c_5 * d + (b - a).relu()
    e = c - d
    f = e ** 2
    g = f / 2.0
    g += 10.0 / f
    return draw_backward(g, "TB", labels={"a": a, "b": b})


#: The README example's states drawn in the document: before the pass, the
#: step where a result used twice finally runs, and the last step.
README_STEPS = (0, 11, 25)


def render():
    """{path relative to the repository: text} for every file this script writes."""
    files = {}
    d = small()
    for k in range(len(d.svgs)):
        files[f"doc/autograd/small-{k}.svg"] = _captioned(d, k)
    d = readme()
    for k in README_STEPS:
        files[f"doc/autograd/readme-{k:02d}.svg"] = _captioned(d, k)
    return files


def _captioned(drawing, k):
    return drawing.captioned(k) + "\n"


def main(argv):
    from make_ops import write       # the same writer, beside this script
    return write(render(), "--check" in argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
