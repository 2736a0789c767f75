"""Write what follows from the operator table, ``regrad/ops.py``: doc/ops.md and
its drawings doc/ops/*.svg, and the op codes where C, Cython and the stubs need
them (regrad/_opcodes.h, the OpCode declaration of regrad/_core.pxd, the
OpCode enum and the operators' methods in regrad/_core.pyi, the method list of
doc/api.md).

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
import re
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
    files.update(op_codes())
    return files


#: How the files written by hand say they hold generated lines.
WRITTEN = "written by doc/make_ops.py from regrad/ops.py"


def op_codes():
    """{path: text} of the files that repeat the op codes for C and Cython."""
    codes = [("LEAF", 0)] + [(op.name.upper(), op.code) for op in ops.OPS]
    codes.append(("N_OPS", len(ops.OPS) + 1))
    enum = ",\n".join(f"    RG_{name} = {code}" for name, code in codes)

    def x_list(arity):
        return "".join(f" \\\n    X(RG_{op.name.upper()}, rg_{op.name.lower()})"
                       for op in ops.OPS if op.arity == arity)

    header = (
        "/* The op codes, for every compiled module. Written by doc/make_ops.py from\n"
        " * regrad/ops.py (each operator's code and arity): edit that, then run\n"
        " * `python doc/make_ops.py`; regrad._core refuses to import if it was built\n"
        " * from another table.\n"
        " *\n"
        " * RG_BINARY_OPS(X) and RG_UNARY_OPS(X) are X(code, prefix) for each operator\n"
        " * of two and of one input, prefix##_value and the others being its functions\n"
        " * in _opdefs.h: every switch on the op code (_opdefs.h, _lanes.h) is one of\n"
        " * these lists, so none misses an operator. */\n"
        "#ifndef REGRAD_OPCODES_H\n#define REGRAD_OPCODES_H\n\n"
        f"enum rg_opcode {{\n{enum}\n}};\n\n"
        f"#define RG_BINARY_OPS(X){x_list(2)}\n\n"
        f"#define RG_UNARY_OPS(X){x_list(1)}\n\n#endif\n")
    pxd = "".join(f'\n        {name} "RG_{name}"' for name, _ in codes)
    pyi = "".join(f"\n    {name} = {code}" for name, code in codes)
    methods = "".join(f'    def {m}(self) -> "Var": ...\n' for m in ops.UNARY_METHODS)
    row = " ".join(f"{m}()" for m in ops.UNARY_METHODS)
    return {
        "regrad/_opcodes.h": header,
        "regrad/_core.pxd": _replace("regrad/_core.pxd",
                                     r'(cpdef enum OpCode "rg_opcode":)(\n        \w+ "\w+")*', pxd),
        "regrad/_core.pyi": _replace(
            "regrad/_core.pyi", r"(class OpCode\(IntEnum\):\n    .*)(\n    \w+ = \d+)*", pyi,
            r'(    def __abs__.*\n)(    def \w+\(self\) -> "Var": \.\.\.\n)*', methods),
        "doc/api.md": _replace("doc/api.md", r"^(\| `)(\w+\(\) ?)+(?=` \| the other operators)",
                               row),
    }


def _replace(rel, *edits):
    """The file ``rel`` with each (pattern, text) of ``edits`` applied: the
    pattern's one match becomes its first group followed by the text."""
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        text = f.read()
    for pattern, new in zip(edits[::2], edits[1::2]):
        text, n = re.subn(pattern, lambda m: m.group(1) + new, text, count=1, flags=re.M)
        assert n == 1, f"{rel}: no place for the lines {WRITTEN} ({pattern})"
    return text


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
