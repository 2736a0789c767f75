"""Every operator's value and gradient against PyTorch float64, on both engines,
and the operator table against the compiled engine's codes."""
import math

import pytest

import regrad
from regrad import ops

torch = pytest.importorskip("torch")

# (name, how regrad applies it, how torch applies it, inputs inside the domain)
UNARY = [
    ("neg", lambda x: -x, lambda t: -t, [-1.5, 0.3, 2.0]),
    ("exp", lambda x: x.exp(), torch.exp, [-3.0, 0.0, 1.7]),
    ("log", lambda x: x.log(), torch.log, [0.01, 1.0, 7.5]),
    ("sqrt", lambda x: x.sqrt(), torch.sqrt, [0.04, 1.0, 9.3]),
    ("sin", lambda x: x.sin(), torch.sin, [-2.0, 0.0, 1.1]),
    ("cos", lambda x: x.cos(), torch.cos, [-2.0, 0.0, 1.1]),
    ("tanh", lambda x: x.tanh(), torch.tanh, [-3.0, 0.0, 0.4]),
    ("relu", lambda x: x.relu(), torch.relu, [-1.0, 0.0, 2.5]),
    ("sigmoid", lambda x: x.sigmoid(), torch.sigmoid, [-40.0, -1.0, 0.0, 3.0, 40.0]),
    ("abs", lambda x: x.abs(), torch.abs, [-2.0, 0.0, 3.5]),
    ("abs()", lambda x: abs(x), torch.abs, [-2.0, 3.5]),
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
    return x == y or math.isclose(x, y, rel_tol=rel, abs_tol=1e-300)


def torch_value_and_grads(fn, *values):
    ts = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in values]
    out = fn(*ts)
    out.backward()
    return out.item(), [t.grad.item() for t in ts]


@pytest.mark.parametrize("name, f, ft, points", UNARY, ids=[u[0] for u in UNARY])
def test_unary_value_and_grad(Var, name, f, ft, points):
    for x0 in points:
        x = Var(x0, req_grad=True)
        y = f(x)
        y.backward()
        value, (grad,) = torch_value_and_grads(ft, x0)
        assert close(y.val, value), (name, x0, y.val, value)
        assert close(x.grad, grad), (name, x0, x.grad, grad)


@pytest.mark.parametrize("name, f, points", BINARY, ids=[b[0] for b in BINARY])
def test_binary_value_and_grads(Var, name, f, points):
    for a0, b0 in points:
        a, b = Var(a0, req_grad=True), Var(b0, req_grad=True)
        y = f(a, b)
        y.backward()
        value, (ga, gb) = torch_value_and_grads(f, a0, b0)
        assert close(y.val, value)
        assert close(a.grad, ga) and close(b.grad, gb), (name, a0, b0, a.grad, b.grad, ga, gb)


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


def test_sqrt_slope_at_zero_is_infinite_like_torch(Var):
    x = Var(0.0, req_grad=True)
    x.sqrt().backward()
    t = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    t.sqrt().backward()
    assert x.grad == t.grad.item() == math.inf


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


def test_op_table_matches_compiled_codes():
    core = regrad.get_engine("cython")
    assert core.OP_CODES == {op.name: op.code for op in ops.OPS}
    codes = [op.code for op in ops.OPS]
    assert len(set(codes)) == len(codes) and 0 not in codes   # 0 marks a leaf


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
