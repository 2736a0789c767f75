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
    """The first example of doc/autograd.md: a result used twice, a leaf used twice,
    every result named as in the page."""
    a = Var(2.0, req_grad=True)
    b = Var(3.0, req_grad=True)
    c = a * b
    r = c.relu()
    s = c + r
    y = s + a
    return draw_backward(y, "TB", labels={"a": a, "b": b, "c": c, "r": r, "s": s, "y": y})


def readme():
    """The README's example, one operation per line, every Var named by its line
    (as doc/autograd.md writes it: the same graph as the README's ``+=`` lines)."""
    a = Var(-4.0, req_grad=True)
    b = Var(2.0, req_grad=True)
    c_5 = Var(5)      # const
    c1 = a + b        # c = a + b
    t1 = a * b        # d = a * b + b ** 3
    t2 = b ** 3
    d1 = t1 + t2
    t3 = c1 + 1       # c += c + 1
    c2 = c1 + t3
    t4 = 1 + c2       # c += 1 + c + (-a)
    t5 = -a
    t6 = t4 + t5
    c3 = c2 + t6
    t7 = d1 * 2       # d += d * 2 + (b + a).relu()
    t8 = b + a
    t9 = t8.relu()
    t10 = t7 + t9
    d2 = d1 + t10
    t11 = c_5 * d2    # d += c_5 * d + (b - a).relu()
    t12 = b - a
    t13 = t12.relu()
    t14 = t11 + t13
    d3 = d2 + t14
    e = c3 - d3       # e = c - d
    f = e ** 2        # f = e ** 2
    t15 = f / 2.0     # g = f / 2.0
    t16 = 10.0 / f    # g += 10.0 / f
    g = t15 + t16
    names = {name: v for name, v in locals().items() if isinstance(v, Var)}
    return draw_backward(g, "TB", labels=names)


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
