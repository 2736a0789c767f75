"""The operator table walked operator by operator (every engine, replay and the
drawings have it, and agree), then every operator's value and gradient against
PyTorch float64 on both engines."""
import math
import operator
import os
import pickle
import re

import pytest

import regrad
from compare import same
from regrad import ops

try:
    import torch
except ImportError:             # the table tests below do not need it
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is the reference here")

# How a program applies each operator that has no method; the others are x.method().
SPELLED = {"Add": operator.add, "Sub": operator.sub, "Mul": operator.mul,
           "Div": operator.truediv, "Neg": operator.neg, "Pow": lambda x: x ** 1.5}
GRID = [-2.5, -1.0, -0.25, 0.0, 0.3, 1.0, 2.0, 40.0]


def apply(op, *xs):
    return SPELLED[op.name](*xs) if op.method is None else getattr(xs[0], op.method)()


def _run(engine, op, point, how="dynamic"):
    """Value and input gradients of ``op`` at ``point`` (an exception's type and
    text where it raises): by ``backward()``, through a tape ("replay"), as the
    Vars of ``regrad.grad(..., create_graph=True)`` (``backward_vars``), or as
    the step-by-step drawing computes them ("steps")."""
    xs = [engine.Var(v, req_grad=True) for v in point]
    try:
        y = apply(op, *xs)
        value = y.val
        if how == "replay":
            tape = regrad.compile(y)
            value = tape.forward()
            tape.backward()
        elif how == "create_graph":
            grads = regrad.grad(y, xs, create_graph=True)
            assert all(type(g) is engine.Var for g in grads)
            return value, tuple(0.0 + g.val for g in grads)   # as added into a leaf's .grad
        elif how == "steps":
            from regrad.draw import backward_schedule
            total = {x: 0.0 for x in xs}
            for step in backward_schedule(y):
                total.update((p.var, p.total) for p in step.passes if p.kind == "leaf")
            return value, tuple(total[x] for x in xs)
        else:
            y.backward()
    except Exception as exc:
        return type(exc), str(exc)
    return value, tuple(x.grad for x in xs)


@pytest.mark.parametrize("op", ops.OPS, ids=lambda op: op.name)
def test_every_operator_is_everywhere_and_agrees(op):
    """Codes and arity from the table; a compiled kernel, a pure one, a replay
    path in each engine, create_graph's Vars, the step-by-step drawing, a
    drawing label and a pickle, and the lanes of each engine (see
    _check_lanes); the same bits everywhere over a grid (a missing kernel raises
    or disagrees here, never passes silently)."""
    core, pure = regrad.get_engine("cython"), regrad.get_engine("python")
    assert core.OpCode[op.name.upper()] == op.code and op.code > 0
    assert op.name in SPELLED or op.method is not None
    assert op.arity == (2 if op.name in ("Add", "Sub", "Mul", "Div") else 1)
    assert op.formula and len(op.derivatives) == op.arity and op.symbol
    grid = [(a, b) for a in GRID for b in GRID] if op.arity == 2 else [(a,) for a in GRID]
    for point in grid:
        reference = _run(pure, op, point)
        for engine in (core, pure):
            for how in ("dynamic", "replay", "create_graph", "steps"):
                got = _run(engine, op, point, how)
                if (how == "create_graph" and isinstance(got[0], type)
                        and not isinstance(reference[0], type)
                        and not all(map(math.isfinite, reference[1]))):
                    # an infinite slope: derivatives made of Vars raise the
                    # operator's error (doc/higher-order.md), the same in both engines
                    assert got == _run(pure, op, point, how), (op.name, point)
                    continue
                assert repr(got) == repr(reference), (op.name, point, engine.__name__, how)
    from regrad.draw import build_svg
    for engine in (core, pure):
        y = apply(op, *[engine.Var(0.5, req_grad=True)] * op.arity)
        assert y.op.name == op.name and y.op.symbol == op.symbol
        assert op.name in build_svg(y)
        again = pickle.loads(pickle.dumps(y))
        assert again.op.name == op.name and repr(again.val) == repr(y.val)
    for engine_name in ("cython", "python"):
        _check_lanes(op, engine_name)


def test_the_table_has_one_code_per_operator():
    core = regrad.get_engine("cython")
    codes = [op.code for op in ops.OPS]
    assert codes == sorted(set(codes)) and 0 not in codes   # 0 marks a leaf
    assert {m.name for m in core.OpCode} == {op.name.upper() for op in ops.OPS} | {"LEAF", "N_OPS"}
    assert core.OpCode.N_OPS == len(ops.OPS) + 1

# (name, how regrad applies it, how torch applies it, inputs inside the domain)
UNARY = [
    ("neg", lambda x: -x, lambda t: -t, [-1.5, 0.3, 2.0]),
    ("exp", lambda x: x.exp(), lambda t: t.exp(), [-3.0, 0.0, 1.7]),
    ("log", lambda x: x.log(), lambda t: t.log(), [0.01, 1.0, 7.5]),
    ("sqrt", lambda x: x.sqrt(), lambda t: t.sqrt(), [0.04, 1.0, 9.3]),
    ("sin", lambda x: x.sin(), lambda t: t.sin(), [-2.0, 0.0, 1.1]),
    ("cos", lambda x: x.cos(), lambda t: t.cos(), [-2.0, 0.0, 1.1]),
    ("tanh", lambda x: x.tanh(), lambda t: t.tanh(), [-3.0, 0.0, 0.4]),
    ("relu", lambda x: x.relu(), lambda t: t.relu(), [-1.0, 0.0, 2.5]),
    ("sigmoid", lambda x: x.sigmoid(), lambda t: t.sigmoid(), [-40.0, -1.0, 0.0, 3.0, 40.0]),
    ("abs", lambda x: x.abs(), lambda t: t.abs(), [-2.0, 0.0, 3.5]),
    ("abs()", lambda x: abs(x), lambda t: t.abs(), [-2.0, 3.5]),
    ("pow2", lambda x: x ** 2, lambda t: t ** 2, [-1.5, 0.0, 3.0]),
    ("pow3", lambda x: x ** 3, lambda t: t ** 3, [-1.5, 0.0, 2.0]),
    ("pow-1", lambda x: x ** -1, lambda t: t ** -1, [-2.0, 0.5]),
    ("pow0.5", lambda x: x ** 0.5, lambda t: t ** 0.5, [0.25, 4.0]),
    ("pow0", lambda x: x ** 0, lambda t: t ** 0, [-2.0, 0.0, 3.0]),
    ("pow-2.5", lambda x: x ** -2.5, lambda t: t ** -2.5, [0.3, 2.0]),
]

BINARY = [
    ("add", lambda a, b: a + b, [(1.5, -2.0), (0.0, 0.0)]),
    ("sub", lambda a, b: a - b, [(1.5, -2.0), (3.0, 3.0)]),
    ("mul", lambda a, b: a * b, [(1.5, -2.0), (0.0, 4.0)]),
    ("div", lambda a, b: a / b, [(1.5, -2.0), (0.0, 4.0), (-3.0, 0.25)]),
]


def close(x, y, rel=1e-12):
    return same(x, y, rel)


def torch_value_and_grads(fn, *values):
    ts = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in values]
    out = fn(*ts)
    out.backward()
    return out.item(), [t.grad.item() for t in ts]


@needs_torch
@pytest.mark.parametrize("name, f, ft, points", UNARY, ids=[u[0] for u in UNARY])
def test_unary_value_and_grad(Var, name, f, ft, points):
    for x0 in points:
        x = Var(x0, req_grad=True)
        y = f(x)
        y.backward()
        value, (grad,) = torch_value_and_grads(ft, x0)
        assert close(y.val, value), (name, x0, y.val, value)
        assert close(x.grad, grad), (name, x0, x.grad, grad)


@needs_torch
@pytest.mark.parametrize("name, f, points", BINARY, ids=[b[0] for b in BINARY])
def test_binary_value_and_grads(Var, name, f, points):
    for a0, b0 in points:
        a, b = Var(a0, req_grad=True), Var(b0, req_grad=True)
        y = f(a, b)
        y.backward()
        value, (ga, gb) = torch_value_and_grads(f, a0, b0)
        assert close(y.val, value)
        assert close(a.grad, ga) and close(b.grad, gb), (name, a0, b0, a.grad, b.grad, ga, gb)


@needs_torch
@pytest.mark.parametrize("name, f, points", BINARY, ids=[b[0] for b in BINARY])
def test_binary_with_numbers_on_either_side(Var, name, f, points):
    for a0, b0 in points:
        for number_left in (False, True):
            x = Var(b0 if number_left else a0, req_grad=True)
            y = f(a0, x) if number_left else f(x, b0)
            y.backward()
            t = torch.tensor(x.val, dtype=torch.float64, requires_grad=True)
            out = f(a0, t) if number_left else f(t, b0)
            out.backward()
            assert close(y.val, out.item()) and close(x.grad, t.grad.item())


def test_relu_slope_at_zero_is_zero(Var):
    x = Var(0.0, req_grad=True)
    x.relu().backward()
    assert x.grad == 0.0


@needs_torch
def test_sqrt_slope_at_zero_is_infinite_like_torch(Var):
    x = Var(0.0, req_grad=True)
    x.sqrt().backward()
    t = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    t.sqrt().backward()
    assert x.grad == t.grad.item() == math.inf


@needs_torch
def test_composite_against_torch(Var):
    """A graph that reuses nodes (fan-out) and mixes every op."""
    def f(a, b, sqrt, log, exp, tanh, sigmoid, sin, cos, relu, absf):
        c = a * b + a / (b * b + 1.0) - (-a)
        d = sqrt(c * c + 1.0) + log(b * b + 2.0) * exp(a * 0.1)
        e = tanh(d) * sigmoid(c) + sin(a) * cos(b) + relu(c - 1.0) + absf(a - b)
        return e * d + c ** 2 + (e + 3.0) ** -0.5
    a, b = Var(0.7, req_grad=True), Var(-1.3, req_grad=True)
    y = f(a, b, *(lambda x, m=m: getattr(x, m)() for m in
                  ("sqrt", "log", "exp", "tanh", "sigmoid", "sin", "cos", "relu", "abs")))
    y.backward()
    ta = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(-1.3, dtype=torch.float64, requires_grad=True)
    ty = f(ta, tb, torch.sqrt, torch.log, torch.exp, torch.tanh, torch.sigmoid, torch.sin,
           torch.cos, torch.relu, torch.abs)
    ty.backward()
    assert close(y.val, ty.item(), 1e-12)
    assert close(a.grad, ta.grad.item(), 1e-11) and close(b.grad, tb.grad.item(), 1e-11)


def test_every_unary_method_is_tested():
    tested = {name.rstrip("()") for name, *_ in UNARY}
    assert set(ops.UNARY_METHODS) <= tested


def test_names_and_op_objects_come_from_the_table(Var):
    x = Var(2.0, req_grad=True)
    made = {"Add": x + 1, "Sub": x - 1, "Mul": x * 2, "Div": x / 2, "Neg": -x, "Pow": x ** 2}
    made.update({m.capitalize(): getattr(x, m)() for m in ops.UNARY_METHODS})
    assert set(made) == set(ops.OPS_BY_NAME)
    for name, y in made.items():
        assert y.name == name and y.op.name == name
        if name == "Pow":
            assert y.op.args == {"power": 2.0} and repr(y.op) == "Pow(power=2)"
        else:
            assert y.op is ops.OPS_BY_NAME[name] and y.op.args == {}


# ------------------------------------------ every operator through the lanes
# (part of test_every_operator_is_everywhere_and_agrees)

def _points(op):
    return [(a, b) for a in GRID for b in GRID] if op.arity == 2 else [(a,) for a in GRID]


def _check_lanes(op, engine_name):
    """A batch tape (both engines) runs each operator with the dynamic engine's
    bits: every input a lane, then an input a shared parameter (a scalar
    operand in the lane kernels); a point outside the domain raises what the
    dynamic engine raises. A lane table of its own that lacks an operator, or
    gives it another's formula, fails here."""
    engine, pure = regrad.get_engine(engine_name), regrad.get_engine("python")
    results = {p: _run(pure, op, p) for p in _points(op)}
    good = [p for p, r in results.items() if not isinstance(r[0], type)]
    bad = [p for p, r in results.items() if isinstance(r[0], type)]
    xs = [engine.Var(v, req_grad=True) for v in good[0]]
    batch = regrad.compile(apply(op, *xs), inputs=xs)
    values = batch.forward([list(p) for p in good])
    grads = batch.backward(input_grads=True)
    for i, p in enumerate(good):
        value, g = results[p]
        assert repr(values[i]) == repr(value), (op.name, p)
        assert repr(tuple(grads[i * op.arity:(i + 1) * op.arity])) == repr(g), (op.name, p)
    for p in bad:
        with pytest.raises(results[p][0]) as info:
            batch.forward([list(p)])
        assert str(info.value) == f"sample 0: {results[p][1]}", (op.name, p)
    # a shared parameter as the operand in each position in turn
    for shared in range(op.arity):
        w_value = 0.3
        lane_points = [p for p in good if p[shared] == w_value]
        if not lane_points:
            continue
        w = engine.Var(w_value, req_grad=True)
        xs = [engine.Var(v, req_grad=True) for v in lane_points[0]]
        xs[shared] = w
        lane_inputs = [x for k, x in enumerate(xs) if k != shared]
        y = apply(op, *xs)
        rows = [[v for k, v in enumerate(p) if k != shared] for p in lane_points]
        if not lane_inputs:                     # a unary operator of the parameter alone
            x = engine.Var(1.0, req_grad=True)
            y, lane_inputs = apply(op, w) * x, [x]
            lane_points = [(v,) for v in (1.0, -2.0, 0.5)]
            rows = [list(p) for p in lane_points]
        batch = regrad.compile(y, inputs=lane_inputs)
        values = batch.forward(rows)
        batch.backward()
        expected_grad = 0.0
        for i, p in enumerate(lane_points):
            if len(lane_inputs) == op.arity - 1:
                value, g = results[p]
                expected_grad += g[shared]
            else:                               # op(w) * x at x = p[0]
                value_w, g_w = results[(w_value,)]
                value, expected = value_w * p[0], g_w[0] * p[0]
                expected_grad += expected
            assert repr(values[i]) == repr(value), (op.name, p, shared)
        assert w.grad == pytest.approx(expected_grad, rel=1e-12, abs=1e-300), (op.name, shared)


# ------------------------------------- the files that repeat the op codes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(rel):
    with open(f"{ROOT}/{rel}", encoding="utf-8") as f:
        return f.read()


def _c_enum(body):
    """{name: value} of a C enum's body, counting on from the last value as C does."""
    values, nxt = {}, 0
    for item in body.replace("\n", " ").split(","):
        item = item.strip()
        if not item:
            continue
        name, _, value = item.partition("=")
        nxt = int(value) if value.strip() else nxt
        values[name.strip()] = nxt
        nxt += 1
    return values


def test_every_file_that_repeats_the_op_codes_agrees_with_the_table():
    """The C enum (regrad/_opcodes.h) and its stub (_core.pyi) hold each
    operator of regrad.ops under its code; _core.pxd declares every name from
    the header; the header's lists hold each operator under its arity, and
    every switch on the op code is made of them (none written by hand); the
    lanes number their fused codes past the table's."""
    table = {op.name.upper(): op.code for op in ops.OPS}
    expected = dict(table, LEAF=0, N_OPS=len(ops.OPS) + 1)
    header = _read("regrad/_opcodes.h")
    enum = re.search(r"enum rg_opcode\s*\{(.*?)\}", header, re.S).group(1)
    assert {k[3:]: v for k, v in _c_enum(enum).items()} == expected
    for arity, macro in ((1, "RG_UNARY_OPS"), (2, "RG_BINARY_OPS")):
        listed = re.search(rf"#define {macro}\(X\)((?: \\\n    X\(\w+, \w+\))*)", header).group(1)
        assert re.findall(r"X\(RG_(\w+), rg_(\w+)\)", listed) == [
            (op.name.upper(), op.name.lower()) for op in ops.OPS if op.arity == arity], macro
    for path, switches in (("regrad/_opdefs.h", 2), ("regrad/_lanes.h", 2)):
        text = _read(path)
        assert "case RG_" not in text, path
        assert (text.count("RG_UNARY_OPS(LN_") + text.count("RG_UNARY_OPS(RG_")) == switches, path
    declared = re.findall(r'^\s+([A-Z0-9_]+) "RG_([A-Z0-9_]+)"\s*$', _read("regrad/_core.pxd"), re.M)
    assert all(a == b for a, b in declared) and {a for a, _ in declared} == set(expected)
    assert re.search(r"enum \{ LN_DOT = RG_N_OPS \}", _read("regrad/_lanes.h"))
    text = _read("regrad/_core.pyi")
    text = text.split(re.search(r"class OpCode\(IntEnum\):", text).group(0), 1)[1]
    found = dict(re.findall(r"^\s+([A-Z0-9_]+) = (\d+)\s*$", text.split("\n\n", 1)[0], re.M))
    assert {k: int(v) for k, v in found.items()} == expected


def test_the_stubs_and_the_api_page_list_every_method():
    stub = _read("regrad/_core.pyi")
    for method in ops.UNARY_METHODS:
        assert re.search(rf"def {method}\(self\)", stub), method
    row = re.search(r"^\| `((?:\w+\(\) ?)+)` \| the other operators", _read("doc/api.md"), re.M)
    assert row and row.group(1).split() == [f"{m}()" for m in ops.UNARY_METHODS]
