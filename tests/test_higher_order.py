"""Gradients of gradients, forward mode and gradient checks (regrad.autodiff),
on both engines: against PyTorch float64 (``torch.autograd.grad`` with
``create_graph=True``, ``torch.autograd.functional.hessian``, ``torch.func.jvp``),
against each other bit for bit, and against ``backward()``.

The random programs are those of ``test_random_programs`` (in-domain ones:
every operator, guarded away from kinks and domain edges). Example counts:
40 programs by default, 500 in the slow variant, ``REGRAD_EXAMPLES=n`` runs
``n``.
"""
import gc
import math
import os
import sys
import tracemalloc

import pytest

import regrad
from regrad import ops

CY = regrad.get_engine("cython")
PY = regrad.get_engine("python")
N_EXAMPLES = int(os.environ.get("REGRAD_EXAMPLES", 40))


def needs_torch():
    return pytest.importorskip("torch")


def programs():
    """The random-program module (it needs torch and hypothesis)."""
    return pytest.importorskip("test_random_programs")


def same_number(a, b):
    """The same float: equal (0.0 and -0.0 alike) or both NaN."""
    return a == b or (math.isnan(a) and math.isnan(b))


def close(a, b, scale, rtol=1e-7, atol=1e-10):
    """Within rtol of the reference's scale (the largest derivative of its kind),
    or atol: rounding where terms cancel to 0 (the programs' values stay within
    +-1e3); a wrong formula is off by far more."""
    return (abs(a - b) <= rtol * (abs(b) + scale) + atol
            or (math.isnan(a) and math.isnan(b)))


# ------------------------------------------------------- worked examples

def test_x_cubed_derivatives_at_3(engine):
    x = engine.Var(3.0, req_grad=True)
    d = [x ** 3]
    for _ in range(4):
        (g,) = regrad.grad(d[-1], x, create_graph=True)
        d.append(g)
    assert [v.val for v in d] == [27.0, 27.0, 18.0, 6.0, 0.0]
    assert all(type(v) is engine.Var for v in d)
    assert d[3].req_grad and not d[4].req_grad      # 6 = 6 * x ** 0; then a constant
    with pytest.raises(RuntimeError, match=r"grad: outputs\[0\] does not require grad"):
        regrad.grad(d[4], x)


def test_grad_leaves_dot_grad_alone_and_matches_backward(engine):
    x, y = engine.Var(1.5, req_grad=True), engine.Var(-0.5, req_grad=True)
    z = (x * y).sin() + x / y
    gx, gy = regrad.grad(z, [x, y], retain_graph=True)
    assert x.grad is None and y.grad is None
    z.backward()
    assert (gx, gy) == (x.grad, y.grad)


def test_grad_with_respect_to_a_result_and_several_outputs(engine):
    torch = needs_torch()
    x = engine.Var(0.7, req_grad=True)
    h = x.tanh()
    u, w = h * x, h.exp()
    gh, gx = regrad.grad([u, w], [h, x], grad_outputs=[2.0, -0.5])
    tx = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    th = tx.tanh()
    ref = torch.autograd.grad([th * tx, th.exp()], [th, tx],
                              grad_outputs=[torch.tensor(2.0, dtype=torch.float64),
                                            torch.tensor(-0.5, dtype=torch.float64)])
    assert gh == pytest.approx(ref[0].item(), rel=1e-14)
    assert gx == pytest.approx(ref[1].item(), rel=1e-14)


def test_the_schedule_of_several_outputs(engine):
    """``regrad.pure.Schedule`` over several roots (``grad``'s outputs): each
    result under them once, after every result that consumes it; a root that
    another root consumes waits for it; repeated roots count once."""
    from regrad.pure import Schedule
    x, y = engine.Var(0.3, req_grad=True), engine.Var(-1.2, req_grad=True)
    h = x * y
    u = h.sin() + h
    w = u * h.exp()
    steps = list(Schedule([u, w, u], engine._born_of))
    order = [node for node, _ in steps]
    assert len(order) == len(set(order)) == 5       # w, u, the Add's sin, exp, h
    assert set(order) == {w, u, h, u.src[0], w.src[1]}
    for k, (node, inputs) in enumerate(steps):
        for consumer, consumer_inputs in steps[k + 1:]:
            assert node not in consumer_inputs
    torch = needs_torch()
    tx, ty = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (0.3, -1.2))
    th = tx * ty
    tu = th.sin() + th
    ref = torch.autograd.grad([tu, tu * th.exp(), tu, tx], [tx, ty, th],
                              grad_outputs=[torch.tensor(v, dtype=torch.float64)
                                            for v in (2.0, -0.5, 0.25, 3.0)])
    got = regrad.grad([u, w, u, x], [x, y, h], grad_outputs=[2.0, -0.5, 0.25, 3.0])
    for g, r in zip(got, ref):
        assert g == pytest.approx(r.item(), rel=1e-14)


def test_unused_inputs(engine):
    x, y = engine.Var(1.0, req_grad=True), engine.Var(2.0, req_grad=True)
    z = x * 3.0
    with pytest.raises(RuntimeError, match=r"inputs\[1\] is not used .* allow_unused=True"):
        regrad.grad(z, [x, y])
    assert regrad.grad(z, [x, y], allow_unused=True) == (3.0, None)
    # used, but every path multiplies by zero: 0, not None
    r = (x - 5.0).relu()
    assert regrad.grad(r, x, retain_graph=True) == (0.0,)
    (g,) = regrad.grad(r, x, create_graph=True)
    assert type(g) is engine.Var and g.val == 0.0 and not g.req_grad


def test_retain_graph_and_released_graphs(engine):
    x = engine.Var(2.0, req_grad=True)
    z = x * x
    regrad.grad(z, x, retain_graph=True)
    assert regrad.grad(z, x) == (4.0,)                   # releases, as backward() does
    with pytest.raises(RuntimeError, match="released graph.*retain_graph=True to keep it"):
        regrad.grad(z, x)
    z = x.exp()
    z.backward()
    with pytest.raises(RuntimeError, match=r"released graph \(Exp result\).*retain_graph=True"):
        regrad.grad(z, x)
    # create_graph keeps the graph by default
    z = x ** 3
    (g,) = regrad.grad(z, x, create_graph=True)
    assert regrad.grad(z, x) == (12.0,)
    assert regrad.grad(g, x) == (12.0,)


def test_a_gradient_replays_on_a_tape_and_in_lanes(engine):
    x, y = engine.Var(3.0, req_grad=True), engine.Var(0.5, req_grad=True)
    (d1,) = regrad.grad(x ** 3, x, create_graph=True)
    tape = regrad.compile(d1)
    x.val = 2.0
    assert tape.forward() == 12.0               # 3 x ** 2
    tape.backward()
    assert x.grad == 12.0                       # 6 x
    x.grad = None
    # d/dy sin(x y) = x cos(x y), over a batch of x; its backward: -x**2 sin(x y), summed
    (g,) = regrad.grad((x * y).sin(), y, create_graph=True)
    batch = regrad.compile(g, inputs=[x])
    xs = [1.0, 2.0]
    assert list(batch.forward([[v] for v in xs])) == pytest.approx(
        [v * math.cos(v * 0.5) for v in xs], rel=1e-15)
    batch.backward()
    assert y.grad == pytest.approx(sum(-v * v * math.sin(v * 0.5) for v in xs), rel=1e-14)


def test_newton_method_on_a_cubic(engine):
    # f(x) = x^3 - 2x - 5: its real root (Wallis's example), by Newton's steps
    x = engine.Var(2.0, req_grad=True)
    for _ in range(6):
        f = x ** 3 - 2.0 * x - 5.0
        (slope,) = regrad.grad(f, x)
        x = engine.Var(x.val - f.val / slope, req_grad=True)
    assert abs(x.val ** 3 - 2 * x.val - 5) < 1e-12
    # minimizing with the second derivative: g(x) = x^4 - 3x, g'' by grad twice
    x = engine.Var(1.0, req_grad=True)
    for _ in range(8):
        (d1,) = regrad.grad(x ** 4 - 3.0 * x, x, create_graph=True)
        (d2,) = regrad.grad(d1, x)
        x = engine.Var(x.val - d1.val / d2, req_grad=True)
    assert x.val == pytest.approx((3 / 4) ** (1 / 3), rel=1e-14)


def test_third_order_against_torch():
    torch = needs_torch()
    cases = [
        lambda a, b: a ** 3 * b + (a * b).sin(),
        lambda a, b: (a / b).tanh() * b.sigmoid(),
        lambda a, b: (a * a + b).log() - (a + 2.0).sqrt() * b.cos(),
        lambda a, b: (a - b).exp() * (a ** 2.5 + b ** -1.0),
    ]
    point = (0.8, 1.3)
    for f in cases:
        ts = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in point]
        ref = [f(*ts)]
        for _ in range(3):
            ref.append(torch.autograd.grad(ref[-1], ts[0], create_graph=True)[0])
        for E in (CY, PY):
            xs = [E.Var(v, req_grad=True) for v in point]
            got = [f(*xs)]
            for _ in range(3):
                got.append(regrad.grad(got[-1], xs[0], create_graph=True)[0])
            for g, r in zip(got, ref):
                assert g.val == pytest.approx(r.item(), rel=1e-12, abs=1e-12)


# --------------------------------------------------------- random programs

def _settings(n):
    from hypothesis import HealthCheck, settings
    return settings(max_examples=n, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _program(data, P):
    from hypothesis import assume
    leaves, raw, _, _ = data.draw(P.raw_programs(P.finite, P.finite, P.exponents, max_steps=15))
    assume(any(r for _, r in leaves))
    return leaves, P.plan_in_domain(leaves, raw)


def as_function(P, leaves, steps, constant):
    """The program as a function of its leaves that require grad; the other
    leaves become ``constant(value)``."""
    def f(*xs):
        it = iter(xs)
        regs = [next(it) if r else constant(v) for v, r in leaves]
        for step in steps:
            regs.append(P.apply_step(step, regs))
        return regs[-1]
    return f


def torch_function(P, torch, leaves, steps):
    return as_function(P, leaves, steps, lambda v: torch.tensor(v, dtype=torch.float64))


def test_random_programs_first_second_order_and_forward_mode():
    check_random_programs(N_EXAMPLES)


@pytest.mark.slow
def test_random_programs_first_second_order_and_forward_mode_long():
    check_random_programs(max(N_EXAMPLES, 500))


def check_random_programs(n):
    P = programs()
    torch = needs_torch()
    from hypothesis import given, strategies as st

    @_settings(n)
    @given(st.data())
    def check(data):
        leaves, steps = _program(data, P)
        point = [v for v, r in leaves if r]
        ft = torch_function(P, torch, leaves, steps)
        ts = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in point]
        y = ft(*ts)
        if not y.requires_grad:
            return
        g1 = torch.autograd.grad(y, ts, create_graph=True, allow_unused=True)
        h_rev = [[0.0 if g is None or not g.requires_grad else
                  (lambda r: 0.0 if r is None else r.item())(
                      torch.autograd.grad(g, t, retain_graph=True, allow_unused=True)[0])
                  for t in ts] for g in g1]
        h_ref = torch.autograd.functional.hessian(ft, tuple(
            torch.tensor(v, dtype=torch.float64) for v in point))
        h_ref = [[h_ref[i][j].item() for j in range(len(point))] for i in range(len(point))]
        tangent = [data.draw(P.finite) for _ in point]
        jv_ref = torch.func.jvp(ft, tuple(torch.tensor(v, dtype=torch.float64) for v in point),
                                tuple(torch.tensor(t, dtype=torch.float64) for t in tangent))
        g1_ref = [0.0 if g is None else g.item() for g in g1]
        scale1 = max(abs(v) for v in g1_ref + [1e-300])
        scale2 = max(abs(v) for row in h_ref for v in row) + scale1
        results = {}
        for E in (CY, PY):
            f = as_function(P, leaves, steps, E.Var)
            xs = [E.Var(v, req_grad=True) for v in point]
            out = f(*xs)
            first = regrad.grad(out, xs, retain_graph=True, allow_unused=True)
            grads = regrad.grad(out, xs, create_graph=True, allow_unused=True)
            # the graph of the gradient holds the first-order numbers, bit for bit
            for a, b in zip(first, grads):
                assert (a is None) == (b is None)
                assert a is None or same_number(a, b.val), (a, b.val)
            out.backward(retain_graph=True)
            for a, x in zip(first, xs):
                assert same_number(0.0 if a is None else a, 0.0 if x.grad is None else x.grad)
            for a, r in zip(first, g1_ref):
                assert close(0.0 if a is None else a, r, scale1), (first, g1_ref)
            # reverse over reverse
            h_rr = [[0.0 if g is None or not g.req_grad else
                     (regrad.grad(g, x, retain_graph=True, allow_unused=True)[0] or 0.0)
                     for x in xs] for g in grads]
            # forward over reverse
            h_fr = regrad.hessian(f, [E.Var(v) for v in point])
            for i in range(len(point)):
                for j in range(len(point)):
                    assert close(h_rr[i][j], h_rev[i][j], scale2), (h_rr, h_rev)
                    assert close(h_fr[i][j], h_ref[i][j], scale2), (h_fr, h_ref)
            jv = regrad.jvp(f, [E.Var(v) for v in point], tangent)
            assert same_number(jv[0], out.val)
            assert close(jv[1], jv_ref[1].item(),
                         sum(abs(a * t) for a, t in zip(g1_ref, tangent)) + 1e-300), (jv, jv_ref)
            results[E] = (first, [g and g.val for g in grads], h_rr, h_fr, jv)
        # both engines: the same numbers, bit for bit
        flat = [[x for x in _flatten(results[E])] for E in (CY, PY)]
        assert all(same_number(a, b) for a, b in zip(*flat)), flat

    check()


def _flatten(x):
    if isinstance(x, (list, tuple)):
        for y in x:
            yield from _flatten(y)
    else:
        yield math.nan if x is None else float(x)


def test_hvp_matches_torch(engine):
    torch = needs_torch()

    def f(a, b, c):
        return (a * b).tanh() + c ** 3 * a.sigmoid() - (b / c).exp()

    point, v = (0.4, -1.1, 0.9), (1.0, -2.0, 0.5)
    value, hv = regrad.hvp(f, [engine.Var(p) for p in point], v)
    ref_value, ref_hv = torch.autograd.functional.hvp(
        f, tuple(torch.tensor(p, dtype=torch.float64) for p in point),
        tuple(torch.tensor(t, dtype=torch.float64) for t in v))
    assert value == pytest.approx(ref_value.item(), rel=1e-14)
    assert hv == pytest.approx([t.item() for t in ref_hv], rel=1e-12)


def test_dot_product_test(engine):
    """v . (J u) by forward mode equals (v J) . u by reverse mode."""
    def f(a, b, c):
        return (a * b).sin() + c, a / c - b.exp(), (a + b + c).tanh()

    point, u, v = (0.3, 0.8, -1.4), (1.0, -0.5, 2.0), (0.25, -1.0, 3.0)
    _, ju = regrad.jvp(f, point, u)
    xs = [engine.Var(p, req_grad=True) for p in point]
    vj = regrad.grad(f(*xs), xs, grad_outputs=v)
    assert sum(a * b for a, b in zip(v, ju)) == pytest.approx(
        sum(a * b for a, b in zip(vj, u)), rel=1e-14)


# ------------------------------------------------------------ gradcheck

def test_gradcheck_passes_on_correct_functions(engine):
    point = [engine.Var(0.6), engine.Var(-1.3)]
    for f in (lambda a, b: a * b.sin() + (a / b).exp(),
              lambda a, b: (a.tanh(), b.sigmoid() * a ** 2, (a * a + 1.0).log()),
              lambda a, b: (a - b).abs() + (a + 2.0).sqrt() + b.relu() * a.cos()):
        assert regrad.gradcheck(f, point) is True
        assert regrad.gradgradcheck(f, point) is True


def test_gradcheck_names_the_worst_wrong_derivative(engine, monkeypatch):
    # a wrong derivative of tanh: 1 - t instead of 1 - t**2
    monkeypatch.setattr(ops.Tanh, "backward", lambda self, out, g, a: (g * (1.0 - out),))

    def f(a, b):
        return a * b, (a * 0.5).tanh()

    with pytest.raises(regrad.GradcheckError) as e:
        regrad.gradcheck(f, [engine.Var(0.3), engine.Var(0.8)])
    t = math.tanh(0.15)
    assert str(e.value) == (
        "gradcheck: Jacobian mismatch for output 1 with respect to input 0: "
        f"analytical {0.5 * (1 - t)!r}, numerical "
        f"{(math.tanh(0.5 * (0.3 + 1e-6)) - math.tanh(0.5 * (0.3 - 1e-6))) / 2e-6!r} "
        f"(|difference| {abs(0.5 * (1 - t) - 0.5 * (1 - t * t)):.3g} > atol + rtol * |numerical| "
        f"= {1e-5 + 1e-3 * 0.5 * (1 - t * t):.3g})")
    assert regrad.gradcheck(f, [0.3, 0.8], raise_exception=False) is False


def test_gradgradcheck_catches_a_derivative_built_from_numbers(engine, monkeypatch):
    # the right first derivative, but made of out.val (a number): its graph
    # misses tanh's own dependence on the input, so the second derivative is wrong
    monkeypatch.setattr(ops.Tanh, "backward_vars",
                        lambda self, out, g, a: (g * (1.0 - out.val * out.val),))

    def f(a):
        return a.tanh()

    assert regrad.gradcheck(f, [0.5]) is True
    with pytest.raises(regrad.GradcheckError,
                       match=r"gradgradcheck: Jacobian mismatch for gradient with respect to "
                             r"input 0 with respect to input 0: analytical 0.0, numerical -0.7"):
        regrad.gradgradcheck(f, [0.5])


def test_gradcheck_at_a_kink_says_so(engine):
    with pytest.raises(regrad.GradcheckError, match="analytical 0.0, numerical 0.5.*kink"):
        regrad.gradcheck(lambda a: a.relu(), [engine.Var(0.0)])
    with pytest.raises(regrad.GradcheckError, match="kink"):
        regrad.gradcheck(lambda a: (a - 1.0).abs(), [1.0 + 1e-7])
    assert regrad.gradcheck(lambda a: a.relu() + a.abs(), [engine.Var(1e-3)])


# -------------------------------------------------------------- drawings

def test_a_gradient_graph_draws(engine):
    x = engine.Var(3.0, req_grad=True, label="x")
    (g,) = regrad.grad(x ** 3, x, create_graph=True)
    # g = 1.0 * (3 * x ** 2): x, x**2, 3, 3*x**2, the seed 1.0 and the product
    from regrad.draw import draw
    drawing = draw(g)
    assert (drawing.node_count, drawing.edge_count) == (6, 5)
    assert "power=2" in drawing.svg and "27.0000" in drawing.svg
    (g2,) = regrad.grad(g, x, create_graph=True)
    assert g2.val == 18.0 and "power=1" in draw(g2).svg    # 2 * x ** 1, inside


# ------------------------------------------------------------------ errors

def _message(fn, *args, **kwargs):
    with pytest.raises(Exception) as e:
        fn(*args, **kwargs)
    return type(e.value), str(e.value)


def test_bad_input_errors_are_the_same_on_both_engines():
    def errors(E):
        x, y = E.Var(1.0, req_grad=True), E.Var(2.0, req_grad=True)
        z = x * y
        released = x * y
        released.backward()
        tape = regrad.compile(x * y, retain_graph=True)
        other = (PY if E is CY else CY).Var(1.0, req_grad=True)
        return [
            _message(regrad.grad, 3.0, x),
            _message(regrad.grad, z, [x, "y"]),
            _message(regrad.grad, z, []),
            _message(regrad.grad, z, [other]),
            _message(regrad.grad, z, x, grad_outputs=[1.0, 2.0]),
            _message(regrad.grad, z, x, grad_outputs=["a"]),
            _message(regrad.grad, z, E.Var(1.0)),
            _message(regrad.grad, E.Var(1.0), x),
            _message(regrad.grad, released, x),
            _message(regrad.grad, tape, x),
            _message(tape.backward, create_graph=True),
            _message(z.backward, create_graph=True),
            _message(regrad.jvp, lambda a: a, [1.0, 2.0], [1.0]),
            _message(regrad.jvp, lambda a: a, ["x"], [1.0]),
            _message(regrad.jvp, lambda a: "no", [1.0], [1.0]),
            _message(regrad.jvp, lambda a: a, 1.0, [1.0]),
            _message(regrad.hvp, lambda a, b: (a, b), [1.0, 2.0], [1.0, 1.0]),
            _message(regrad.hvp, lambda a: a * a, [E.Var(1.0)], [1.0, 1.0]),
            _message(regrad.hessian, lambda a: a, []),
            _message(regrad.gradcheck, lambda a: a, [None]),
        ]

    cy, py = errors(CY), errors(PY)
    assert cy == py
    kinds = [k for k, _ in cy]
    assert kinds == [TypeError, TypeError, ValueError, TypeError, ValueError, TypeError,
                     RuntimeError, RuntimeError, RuntimeError, TypeError, ValueError,
                     ValueError, ValueError, TypeError, TypeError, TypeError, ValueError,
                     ValueError, ValueError, TypeError]
    assert "regrad.grad(root, [x, ...], create_graph=True)" in cy[10][1]
    assert "regrad.grad(y, [x, ...], create_graph=True)" in cy[11][1]
    assert "retain_graph=True to keep it" in cy[8][1]


def test_batch_tape_backward_is_first_order(engine):
    w = engine.Var(0.5, req_grad=True)
    x = engine.Var(1.0)
    batch = regrad.compile(w * x, inputs=[x])
    batch.forward([[1.0], [2.0]])
    with pytest.raises(ValueError, match="first derivatives only.*regrad.grad"):
        batch.backward(create_graph=True)


def test_a_user_operator_without_backward_vars_is_differentiated_once(engine, monkeypatch):
    monkeypatch.setattr(ops.Sin, "backward_vars", None)
    x = engine.Var(0.5, req_grad=True)
    assert regrad.grad(x.sin(), x) == (math.cos(0.5),)
    with pytest.raises(NotImplementedError, match="the Sin operator has no backward_vars"):
        regrad.grad(x.sin(), x, create_graph=True)


# ------------------------------------------------------------------ memory

def _hvp_and_grad(engine, n):
    def f(a, b):
        return (a * b).sin() * a.exp() + b ** 3 / a

    for _ in range(n):
        regrad.hvp(f, [engine.Var(0.5), engine.Var(1.5)], [1.0, -1.0])
        xs = [engine.Var(0.5, req_grad=True), engine.Var(1.5, req_grad=True)]
        regrad.grad(f(*xs), xs)             # releases the graph as it goes


def test_gradient_graphs_are_freed(engine):
    """10^3 Hessian-vector products (and releasing gradients) leave nothing
    behind: the gradient graphs are freed by reference counting as any graph
    is. Counted: Python's allocated blocks (every Python object, the pure
    engine's nodes) and the compiled engine's slabs of nodes."""
    slabs = getattr(engine, "_pool_stats", lambda: {"slabs": 0})
    _hvp_and_grad(engine, 50)
    gc.collect()                    # empties the free lists of floats and tuples
    blocks, before = sys.getallocatedblocks(), slabs()["slabs"]
    _hvp_and_grad(engine, 1000)
    assert gc.collect() == 0        # no reference cycles: all went by reference counting
    # a gradient graph is ~40 nodes: one Python object leaked a call would be 1000 blocks
    assert sys.getallocatedblocks() - blocks < 200
    assert slabs()["slabs"] <= before


@pytest.mark.slow
def test_gradient_graphs_are_freed_traced(engine):
    """The same, every allocation traced (compiled nodes are traced by
    tracemalloc too, see regrad/_pool.h)."""
    _hvp_and_grad(engine, 50)
    tracemalloc.start()
    try:
        _hvp_and_grad(engine, 50)
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        _hvp_and_grad(engine, 1000)
        assert gc.collect() == 0
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    # one node leaked a call would be 48 KB
    assert after - before < 4_000, after - before


def test_at_an_infinite_slope_create_graph_raises_the_operators_error(engine):
    """backward follows IEEE arithmetic (an infinite slope is inf), backward_vars
    the operators' domains: sqrt's slope at 0 is 0.5 / 0."""
    x = engine.Var(0.0, req_grad=True)
    assert regrad.grad(x.sqrt(), x, retain_graph=True) == (math.inf,)
    with pytest.raises(ZeroDivisionError, match=r"Div\(0.5, 0.0\): division by zero"):
        regrad.grad(x.sqrt(), x, create_graph=True)


def test_the_hvp_cost_script_runs(capsys):
    """benchmarks/hvp_cost.py (the doc's figures), on a few points, once."""
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "benchmarks", "hvp_cost.py")
    spec = importlib.util.spec_from_file_location("hvp_cost", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    script.main(["--rounds", "1", "--samples", "3"])
    out = capsys.readouterr().out
    assert out.count("hvp / backward") == 2 and "python: 337 parameters" in out
