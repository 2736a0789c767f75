"""Write doc/ops.md and its drawings doc/ops/*.svg from the operator table.

    python doc/make_ops.py          # rewrite the files
    python doc/make_ops.py --check  # exit 1 if a committed file differs

Everything said about an operator comes from ``regrad.ops``: its ``name``,
``symbol``, ``code``, ``arity``, ``method``, ``formula``, ``derivatives``,
``domain`` and the source of its ``forward``, ``backward`` and ``backward_vars``. What this
script adds is only how to show them: how the operator is written in Python
(from its symbol or method) and one small drawing at a sample point, made by
the pure engine and ``regrad.draw`` after ``backward(retain_graph=True)``.
tests/test_docs.py fails when the committed files differ from what it writes.
"""
import inspect
import os
import sys
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

import regrad  # noqa: E402
from regrad import ops  # noqa: E402
from regrad.draw import draw  # noqa: E402
from regrad.draw._graph import format_value  # noqa: E402

#: The sample point of the drawings: a and b for the inputs, p for the exponent.
SAMPLE = {"a": 0.5, "b": 2.0, "p": 3.0}


def written(op):
    """How a program applies ``op`` to Vars a (and b)."""
    if op.arity == 2:
        return f"a {op.symbol} b"
    if op.method:
        return f"a.{op.method}()"
    if isinstance(op, type):            # takes an argument: a ** p
        return f"a {op.symbol} p"
    return f"{op.symbol}a"


def sample(op):
    """The drawing of ``op`` at the sample point, and the value and gradients there."""
    Var = regrad.get_engine("python").Var
    inputs = [Var(SAMPLE["a"], req_grad=True)]
    if op.arity == 2:
        inputs.append(Var(SAMPLE["b"], req_grad=True))
    names = dict(zip("ab", inputs), p=SAMPLE["p"])
    y = eval(written(op), {}, names)
    y.backward(retain_graph=True)
    return draw(y, "LR").svg + "\n", y.val, [x.grad for x in inputs]


def source(op):
    cls = op if isinstance(op, type) else type(op)
    return "\n\n".join(textwrap.dedent(inspect.getsource(getattr(cls, name))).rstrip()
                     for name in ("forward", "backward", "backward_vars"))


def render():
    """{path relative to the repository: text} for every file this script writes."""
    files = {}
    at = "a = {a:g}, b = {b:g}".format(**SAMPLE)
    lines = [
        "# Operators",
        "",
        "<!-- Written by doc/make_ops.py from regrad/ops.py: edit those, then run "
        "`python doc/make_ops.py`. -->",
        "",
        "Every operator regrad knows, as the operator table [`regrad/ops.py`](../regrad/ops.py) "
        "declares it. Each one computes its value from its inputs' values (`forward`) and, "
        "given the gradient `g` arriving at its result, the gradient it passes to each input: "
        "`g` times the local derivative of the result with respect to that input (`backward`). "
        "That is all backward needs from an operator; "
        "[autograd.md](autograd.md) shows how the engine chains them. "
        "`backward_vars` is `backward` written with Vars, the same float operations in the "
        "same order, so that a gradient can be built as a graph and differentiated again "
        "([higher-order.md](higher-order.md)).",
        "",
        "Outside its domain an operator raises the exception Python's `float` and `math` "
        "raise, with the operator and its inputs in the message, e.g. "
        f"`{type(ops.math_error('Log', 'domain', 0.0)).__name__}: "
        f"{ops.math_error('Log', 'domain', 0.0)}`. Derivatives never raise: they follow "
        "IEEE arithmetic (an infinite slope is `inf`), as in PyTorch.",
        "",
        f"Each drawing is the operator applied to leaves at {at} (and p = {SAMPLE['p']:g}), "
        "after `backward(retain_graph=True)`: the leaves show their gradients.",
        "",
        "| operator | written | value | local derivatives | domain |",
        "|---|---|---|---|---|",
    ]
    for op in ops.OPS:
        cells = (f"[{op.name}](#{op.name.lower()})", f"`{written(op)}`", f"`{op.formula}`",
                 _derivs(op), op.domain)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    for op in ops.OPS:
        svg, val, grads = sample(op)
        files[f"doc/ops/{op.name}.svg"] = svg
        shown = ", ".join(f"d/d{n} = {format_value(g)}" for n, g in zip("ab", grads))
        lines += [
            "",
            f"## {op.name}",
            "",
            f"`{written(op)}`: op code {op.code}, {op.arity} input{'s' if op.arity > 1 else ''}.",
            "",
            f"- value: `{op.formula}`",
            f"- local derivatives: {_derivs(op)}",
            f"- domain: {op.domain}",
            f"- at {_point(op)}: value {format_value(val)}, {shown}",
            "",
            f"![{op.name} at {_point(op)}](ops/{op.name}.svg)",
            "",
            "```python",
            source(op),
            "```",
        ]
    files["doc/ops.md"] = "\n".join(lines) + "\n"
    return files


def _point(op):
    point = f"a = {SAMPLE['a']:g}"
    if op.arity == 2:
        point += f", b = {SAMPLE['b']:g}"
    if isinstance(op, type):
        point += f", p = {SAMPLE['p']:g}"
    return point


def _derivs(op):
    return ", ".join(f"d/d{n}: `{d}`" for n, d in zip("ab", op.derivatives))


def main(argv):
    return write(render(), "--check" in argv)


def write(files, check):
    """Write ``files`` ({path under the repository: text}) where they differ,
    or with ``check`` only say which differ (exit status 1 if any)."""
    stale = []
    for rel, text in files.items():
        path = os.path.join(ROOT, rel)
        old = open(path, encoding="utf-8").read() if os.path.exists(path) else None
        if old == text:
            continue
        stale.append(rel)
        if not check:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    for rel in stale:
        print(("differs: " if check else "wrote ") + rel)
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
