"""Operators defined in Python (``regrad.Function``) on both engines: values and
gradients against PyTorch float64 and finite differences, the two engines
against each other bit for bit, second derivatives, pickles, drawings, tapes
(a composite expanded, a primitive refused), and user code that goes wrong in
every way the engines must catch: raising, the wrong type, the wrong number of
gradients, NaN, a wrong derivative."""
import gc
import math
import pickle

import pytest

import regrad
from regrad import draw

ENGINES = ("cython", "python")


# ------------------------------------------------ operators, at module level
# (so that pickle finds their classes by qualified name)

class Softplus(regrad.Function):
    def forward(self, a):
        return max(a, 0.0) + math.log1p(math.exp(-abs(a)))

    def backward(self, out, g, a):
        return (g / (1.0 + math.exp(-a)),)

    def backward_vars(self, out, g, a):
        return (g * a.sigmoid(),)


class LogSumExp(regrad.Function):
    """log(sum(exp(x))) of n inputs, shifted by the largest so exp never overflows."""

    def __init__(self, n):
        self.arity = n

    def forward(self, *xs):
        m = max(xs)
        return m + math.log(sum(math.exp(x - m) for x in xs))

    def backward(self, out, g, *xs):
        return tuple(g * math.exp(x - out) for x in xs)


class Huber(regrad.Function):
    """Huber loss of a residual: quadratic within delta, linear beyond."""
    symbol = "huber"

    def __init__(self, delta=1.0):
        self.delta = delta

    def forward(self, r):
        return 0.5 * r * r if abs(r) <= self.delta else self.delta * (abs(r) - 0.5 * self.delta)

    def backward(self, out, g, r):
        return (g * max(-self.delta, min(self.delta, r)),)


class Hypot(regrad.Function):
    """sqrt(a*a + b*b): two inputs, with both derivatives written with Vars too."""

    def forward(self, a, b):
        return math.hypot(a, b)

    def backward(self, out, g, a, b):
        return g * a / out, g * b / out

    def backward_vars(self, out, g, a, b):
        return g * a / out, g * b / out


class SoftplusComposite(regrad.Function):
    """No backward: forward is written with Vars and expanded into built-in operators."""

    def forward(self, a):
        return a.relu() + (1.0 + (-a.abs()).exp()).log()


class Raises(regrad.Function):
    def forward(self, a):
        if a > 10.0:
            raise ArithmeticError("too big for this operator")
        return 2.0 * a

    def backward(self, out, g, a):
        raise KeyError("no backward here")


class ReturnsStr(regrad.Function):
    def forward(self, a):
        return "2.0"

    def backward(self, out, g, a):
        return (g,)


class GradStr(regrad.Function):
    def forward(self, a):
        return a

    def backward(self, out, g, a):
        return ("1",)


class TooManyGrads(regrad.Function):
    def forward(self, a, b):
        return a + b

    def backward(self, out, g, a, b):
        return g, g, g


class NaNForward(regrad.Function):
    def forward(self, a):
        return math.nan

    def backward(self, out, g, a):
        return (g,)


class NaNBackward(regrad.Function):
    def forward(self, a):
        return a

    def backward(self, out, g, a):
        return (math.nan,)


class WrongDerivative(regrad.Function):
    """x ** 3 with the derivative forgotten to be multiplied by 3."""

    def forward(self, a):
        return a ** 3

    def backward(self, out, g, a):
        return (g * a * a,)


def engine_module(name):
    return regrad.get_engine(name)


def program(Var):
    """A graph mixing built-in and user operators, shared inputs included."""
    a = Var(-0.7, req_grad=True)
    b = Var(1.3, req_grad=True)
    h = Softplus()(a * b) + Huber(0.5)(a - b)
    y = LogSumExp(3)(h, a, b * 2.0) * Hypot()(a, h) + Softplus()(h)
    return a, b, y


def torch_program():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    a = torch.tensor(-0.7, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    h = F.softplus(a * b) + F.huber_loss(a - b, torch.zeros((), dtype=torch.float64), delta=0.5)
    y = torch.logsumexp(torch.stack([h, a, b * 2.0]), 0) * torch.hypot(a, h) + F.softplus(h)
    y.backward()
    return y.item(), a.grad.item(), b.grad.item()


@pytest.fixture(params=ENGINES)
def engine(request):
    return engine_module(request.param)


# ------------------------------------------------------ values and gradients

def test_values_and_gradients_match_torch(engine):
    a, b, y = program(engine.Var)
    y.backward()
    ty, ta, tb = torch_program()
    # Huber here is (1/delta) * torch's huber_loss times delta... both are 0.5 r^2 inside delta
    assert y.val == pytest.approx(ty, rel=1e-12)
    assert a.grad == pytest.approx(ta, rel=1e-12)
    assert b.grad == pytest.approx(tb, rel=1e-12)


def test_both_engines_agree_to_the_bit():
    results = []
    for name in ENGINES:
        a, b, y = program(engine_module(name).Var)
        y.backward()
        results.append((y.val, a.grad, b.grad))
    assert results[0] == results[1]


def test_the_node_is_one_operator_with_its_name(engine):
    x = engine.Var(0.5, req_grad=True)
    y = Softplus()(x)
    assert y.name == "Softplus" and isinstance(y.op, Softplus) and y.src == (x,)
    assert repr(y) == f"Var({y.val!r}, op=Softplus)"
    assert repr(Huber(0.5)(x).op) == "Huber(delta=0.5)"
    assert LogSumExp(2)(x, x).op.arity == 2


def test_numbers_as_inputs_and_constants(engine):
    y = Softplus()(2.0)
    assert type(y) is regrad.Var and y.op is None and y.val == pytest.approx(math.log1p(math.e ** 2))
    c = Softplus()(engine.Var(1.0))            # no input requires grad: a constant
    assert c.op is None and not c.req_grad
    x = engine.Var(0.25, req_grad=True)
    y = Hypot()(x, 3.0)
    y.backward()
    assert x.grad == pytest.approx(0.25 / math.hypot(0.25, 3.0))


def test_jvp_and_finite_differences(engine):
    x = engine.Var(0.3, req_grad=True)
    _, t = regrad.jvp(lambda v: Softplus()(v) * Hypot()(v, v + 1.0), [x], [1.0])

    def f(v):
        return math.log1p(math.exp(v)) * math.hypot(v, v + 1.0)
    assert t == pytest.approx((f(0.3 + 1e-6) - f(0.3 - 1e-6)) / 2e-6, rel=1e-6)


def test_gradcheck_passes_the_right_derivatives(engine):
    xs = [engine.Var(v, req_grad=True) for v in (0.4, -1.2, 2.0)]
    assert regrad.gradcheck(lambda a, b, c: LogSumExp(3)(a, b, c) * Huber()(a - c), xs)
    assert regrad.gradcheck(lambda a, b: Hypot()(a, b), xs[:2])


# ------------------------------------------------------- second derivatives

def test_create_graph_with_backward_vars_matches_torch(engine):
    torch = pytest.importorskip("torch")
    x = engine.Var(0.8, req_grad=True)
    y = Softplus()(x * x) * Hypot()(x, 2.0)
    (d1,) = regrad.grad(y, x, create_graph=True)
    (d2,) = regrad.grad(d1, x)
    tx = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)
    ty = torch.nn.functional.softplus(tx * tx) * torch.hypot(tx, torch.tensor(2.0, dtype=torch.float64))
    (t1,) = torch.autograd.grad(ty, tx, create_graph=True)
    (t2,) = torch.autograd.grad(t1, tx)
    assert d1.val == pytest.approx(t1.item(), rel=1e-12)
    assert d2 == pytest.approx(t2.item(), rel=1e-10)
    assert regrad.gradgradcheck(lambda v: Softplus()(v) * Hypot()(v, v), [engine.Var(0.3, req_grad=True)])


def test_create_graph_without_backward_vars_names_the_operator(engine):
    x = engine.Var(0.8, req_grad=True)
    with pytest.raises(NotImplementedError, match="LogSumExp operator has no backward_vars"):
        regrad.grad(LogSumExp(2)(x, x * 2.0), x, create_graph=True)


# ---------------------------------------------------------------- pickling

@pytest.mark.parametrize("protocol", [0, pickle.HIGHEST_PROTOCOL])
def test_pickle_round_trip(engine, protocol):
    a, b, y = program(engine.Var)
    data = pickle.dumps(y, protocol)
    # the class is pickled by reference: its module and name, not its code
    assert b"test_user_ops" in data and b"Softplus" in data and b"log1p" not in data
    y2 = pickle.loads(data)
    assert y2.val == y.val and type(y2.src[1].op) is Softplus
    leaves = {x.val: x for x in _leaves(y2)}
    y.backward()
    y2.backward()
    assert (leaves[-0.7].grad, leaves[1.3].grad) == (a.grad, b.grad)


def test_pickle_of_a_released_graph_and_an_unknown_operator(engine):
    x = engine.Var(0.5, req_grad=True)
    y = LogSumExp(2)(x, x * 3.0) * 2.0
    y.backward()
    y2 = pickle.loads(pickle.dumps(y))
    assert y2.src is None and y2.val == y.val
    with pytest.raises(ValueError, match="unknown operator"):
        engine._graph((x,), (object(),), (1.0,), (0,), (), {})
    with pytest.raises(ValueError, match="unknown operator"):
        engine._graph((x,), (SoftplusComposite(),), (1.0,), (0,), (), {})


def _leaves(root):
    seen, stack, out = set(), [root], []
    while stack:
        v = stack.pop()
        if v in seen:
            continue
        seen.add(v)
        if v.op is None:
            out.append(v)
        stack.extend(v.src or ())
    return out


# ----------------------------------------------------------------- drawings

def test_drawings_show_the_name(engine):
    x = engine.Var(0.5, req_grad=True, label="x")
    y = Huber(0.5)(Softplus()(x) * 2.0)
    svg = draw.build_svg(y)
    dot = draw.build_dot(y)
    mermaid = draw.build_mermaid_script(y)
    for text in (svg, dot, mermaid):
        assert "Softplus" in text and "Huber" in text


# -------------------------------------------------------------------- tapes

def test_a_composite_is_expanded_and_runs_on_tapes(engine):
    x = engine.Var(0.9, req_grad=True)
    w = engine.Var(-0.4, req_grad=True)
    y = SoftplusComposite()(x * w)
    assert y.name == "Add"                     # built-in nodes: nothing in Python at run time
    ref = Softplus()(engine.Var(0.9) * -0.4).val
    assert y.val == pytest.approx(ref, rel=1e-15)
    tape = regrad.compile(y, retain_graph=True)
    x.val = 2.0
    assert tape.forward() == pytest.approx(Softplus().forward(2.0 * -0.4), rel=1e-15)
    tape.backward()
    assert x.grad == pytest.approx(-0.4 / (1.0 + math.exp(0.8)), rel=1e-12)
    batch = regrad.compile(y, inputs=[x])
    out = batch.forward([[1.0], [2.0], [-3.0]])
    assert list(out) == pytest.approx([Softplus().forward(v * -0.4) for v in (1.0, 2.0, -3.0)],
                                      rel=1e-15)


def test_tapes_refuse_a_primitive_with_the_same_message():
    messages = []
    for name in ENGINES:
        Var = engine_module(name).Var
        x = Var(0.5, req_grad=True)
        y = Softplus()(x) * Huber()(x)
        for kwargs in ({}, {"inputs": [x]}):
            with pytest.raises(TypeError) as info:
                regrad.compile(y, retain_graph=True, **kwargs)
            messages.append(str(info.value))
        y.backward()                           # the graph is untouched by the refusals
        assert x.grad == pytest.approx(Softplus().backward(0, 1.0, 0.5)[0] * Huber().forward(0.5)
                                       + Softplus().forward(0.5) * 0.5)
    assert len(set(messages)) == 1
    assert "Huber" in messages[0] and "without backward" in messages[0]


# ------------------------------------------- user code that goes wrong

def _failure(name, make):
    """The exception type, message and notes that ``make(Var)`` raises on an engine."""
    with pytest.raises(Exception) as info:
        make(engine_module(name).Var)
    return type(info.value), str(info.value), getattr(info.value, "__notes__", [])


def _backward_of(op, *vals):
    def run(Var):
        xs = [Var(v, req_grad=True) for v in vals]
        (op(*xs) * 2.0 + xs[0]).backward()
    return run


CASES = {
    "forward raises": (lambda Var: Raises()(Var(11.0, req_grad=True)), ArithmeticError,
                       "too big", "Raises.forward"),
    "backward raises": (_backward_of(Raises(), 1.0), KeyError, "no backward", "Raises.backward"),
    "forward returns a str": (lambda Var: ReturnsStr()(Var(1.0, req_grad=True)), TypeError,
                              "ReturnsStr.forward must return a real number, not str", None),
    "a gradient is a str": (_backward_of(GradStr(), 1.0), TypeError,
                            "GradStr.backward: the gradient of input 0 must be a number", None),
    "too many gradients": (_backward_of(TooManyGrads(), 1.0, 2.0), TypeError,
                           "TooManyGrads.backward returned 3 gradients for 2 inputs", None),
    "too many inputs": (lambda Var: Softplus()(Var(1.0), Var(2.0)), TypeError,
                        "Softplus takes 1 input, got 2", None),
    "too few inputs": (lambda Var: Hypot()(Var(1.0)), TypeError, "Hypot takes 2 inputs, got 1",
                       None),
    "no arity": (lambda Var: LogSumExp(None)(Var(1.0)), TypeError,
                 "LogSumExp: arity must be a whole number of inputs >= 1, not None", None),
    "an input is a str": (lambda Var: Hypot()(Var(1.0), "2"), TypeError,
                          "Hypot: input 1 must be a Var or a real number, not str", None),
    "forward gives nan": (lambda Var: NaNForward()(Var(1.0, req_grad=True)), ValueError,
                          "NaNForward.forward(1.0) returned nan", None),
    "backward gives nan": (_backward_of(NaNBackward(), 1.0), ValueError,
                           "NaNBackward.backward returned nan as the gradient of input 0", None),
}


@pytest.mark.parametrize("case", CASES)
def test_user_errors_raise_the_same_on_both_engines(case):
    make, kind, text, note = CASES[case]
    compiled, pure = (_failure(name, make) for name in ENGINES)
    assert compiled == pure
    assert compiled[0] is kind and text in compiled[1]
    if note is not None:
        assert any(note in n for n in compiled[2])
    gc.collect()


@pytest.mark.parametrize("release", [True, False])
def test_a_backward_that_raises_leaves_a_usable_engine(release):
    """The failure stops the backward; the other engine agrees on what was
    accumulated before it and on what is left of the graph; the graph is
    freed without a crash; the engine runs on."""
    state = []
    for name in ENGINES:
        Var = engine_module(name).Var
        x = Var(1.5, req_grad=True)
        shared = x * x
        y = (shared.tanh() + Raises()(shared) * shared + x.exp()) * 3.0
        with pytest.raises(KeyError):
            y.backward(retain_graph=not release)
        with pytest.raises(RuntimeError if release else KeyError) as again:
            y.backward(retain_graph=not release)   # released as far as it went, or intact
        state.append((x.grad, y.src is None, type(again.value), str(again.value)))
        del x, shared, y
        gc.collect()
        v = Var(2.0, req_grad=True)
        (v * v).backward()
        assert v.grad == 4.0
    assert state[0] == state[1]


def test_a_wrong_derivative_is_caught_by_gradcheck_naming_the_operator(engine):
    x = engine.Var(1.5, req_grad=True)
    with pytest.raises(regrad.GradcheckError) as info:
        regrad.gradcheck(lambda v: WrongDerivative()(v).sin(), [x])
    message = str(info.value)
    assert "WrongDerivative" in message and "fix WrongDerivative.backward" in message
    assert "2.25" in message                   # what backward gives: 1.5 ** 2, not 3 * 1.5 ** 2
    # and against finite differences it is plainly wrong, which is what gradcheck saw
    assert WrongDerivative().backward(0.0, 1.0, 1.5)[0] != pytest.approx(3 * 1.5 ** 2)


def test_mixing_engines_is_refused():
    compiled, pure = (engine_module(n).Var for n in ENGINES)
    with pytest.raises(TypeError, match="mix the compiled and the pure engine"):
        Hypot()(compiled(1.0, req_grad=True), pure(2.0, req_grad=True))


def test_a_composite_must_return_a_var(engine):
    class Bad(regrad.Function):
        def forward(self, a):
            return "x"
    with pytest.raises(TypeError, match="Bad.forward must return a Var"):
        Bad()(engine.Var(1.0, req_grad=True))


def test_a_backward_inside_a_backward_over_the_same_graph_is_refused(engine):
    """The compiled engine keeps a pass's bookkeeping in the nodes: a second pass
    over nodes the first has yet to handle, started from a user backward, must
    raise, not corrupt it; the pure engine raises the same. A backward over
    another graph, or over nodes already handled, runs."""
    x = engine.Var(1.0, req_grad=True)
    inner = x * 3.0
    other = engine.Var(2.0, req_grad=True)
    calls = []

    class Reentrant(regrad.Function):
        def __init__(self, nested):
            self.nested = nested

        def forward(self, a):
            return a

        def backward(self, out, g, a):
            (other * other).backward()               # another graph: fine
            calls.append(other.grad)
            self.nested()                            # inner is still to be handled
            return (g,)

    for nested in (lambda: inner.backward(retain_graph=True),
                   lambda: regrad.grad(inner * 1.0, x)):   # regrad.grad releases inner
        y = Reentrant(nested)(inner) * inner
        with pytest.raises(RuntimeError, match="being differentiated by another backward"):
            y.backward(retain_graph=True)
    assert calls == [4.0, 8.0]
    del y, inner
    gc.collect()


def test_a_deep_chain_of_user_operators_is_freed_without_recursion(engine):
    x = engine.Var(0.1, req_grad=True)
    v = x
    for _ in range(50_000):
        v = Huber(2.0)(v)                      # r -> r^2/2 shrinks: stays finite
    del v
    gc.collect()
    v = x
    for _ in range(20_000):
        v = Softplus()(v) - 0.5
    v.backward()
    assert math.isfinite(x.grad)
