"""Static-graph replay (``regrad.compile``) against the dynamic engine, on both engines.

The reference is always the dynamic engine building the graph anew at the
same numbers: a tape must give its values and gradients (to 1e-12 relative)
and raise its exceptions.
"""
import array
import math
import sys

import pytest

import compare
import regrad
from regrad import ops
from regrad.apps import moons


def same(x, y, rel=1e-12):
    return compare.same(x, y, rel)


def outcome(fn):
    """``fn()``'s result, or the (type, message) of the exception it raised."""
    try:
        return fn()
    except (ValueError, ZeroDivisionError, OverflowError) as exc:
        return (type(exc), str(exc))


def assert_same(got, want):
    if isinstance(want, tuple) and want and isinstance(want[0], type):
        assert got == want                      # the same exception, the same message
        return
    assert isinstance(got, list) and len(got) == len(want)
    for g, w in zip(got, want):
        assert same(g, w), (got, want)


# --------------------------------------------------------------- every op

def _positive_only(op):
    """Whether ``op`` refuses negative numbers (Log, Sqrt): its inputs are then kept positive."""
    try:
        op.forward(*[-4.0] * op.arity)
    except ValueError:
        return True
    return False


def _inputs_for(op):
    """Input values inside the op's domain, and values that change the branch
    taken by relu/abs and the sign of the result."""
    name = op.name
    if name != "Pow" and _positive_only(op):
        return [(2.5, 0.7), (0.3, 1.1), (7.0, 2.0)]
    if name == "Div":
        return [(2.5, -0.7), (-0.3, 1.1), (7.0, 2e-3)]
    return [(2.5, -0.7), (-0.3, 1.1), (0.0, 3.0), (-4.0, -2.0)]


_POWERS = [2.0, 3.0, -1.0, 0.5, 0.0, -2.5, 1.0]


def _op_cases():
    for op in ops.OPS:
        if op is ops.Pow:
            for p in _POWERS:
                yield pytest.param(op, p, id=f"Pow-{p:g}")
        else:
            yield pytest.param(op, None, id=op.name)


def _apply(op, power, x, y):
    """``op`` applied by the Var API to x (and y), inside a small graph that
    reuses the result, so adjoints add up from several consumers."""
    name = op.name
    binary = {"Add": lambda a, b: a + b, "Sub": lambda a, b: a - b,
              "Mul": lambda a, b: a * b, "Div": lambda a, b: a / b}
    if name in binary:
        r = binary[name](x, y)
        r2 = binary[name](y, x) if name != "Div" else binary[name](x, y * y + 1.0)
    elif name == "Neg":
        r = -x
        r2 = -(x * y)
    elif name == "Pow":
        base = x * x + 0.5 if (power != int(power) or power < 0) else x
        r = base ** power
        r2 = (y * y + 0.25) ** power
    else:
        method = name.lower()
        positive = _positive_only(op)
        r = getattr(x * x + 0.1 if positive else x, method)()
        r2 = getattr(y * y + 0.2 if positive else y * 0.5, method)()
    return r * r2 + r * 1.5 + r2


@pytest.mark.parametrize("op, power", list(_op_cases()))
def test_every_op_values_and_gradients(engine, op, power):
    Var = engine.Var
    inputs = _inputs_for(op)
    x0, y0 = inputs[0]
    x = Var(x0, req_grad=True)
    y = Var(y0, req_grad=True)
    root = _apply(op, power, x, y)
    tape = regrad.compile(root)
    for xv, yv in inputs[1:] + inputs[:1]:
        # the dynamic reference at these numbers
        rx, ry = Var(xv, req_grad=True), Var(yv, req_grad=True)
        ref = _apply(op, power, rx, ry)
        ref.backward()
        # the tape at the same numbers
        x.val, y.val = xv, yv
        x.grad = y.grad = None
        assert same(tape.forward(), ref.val)
        assert same(root.val, ref.val)
        tape.backward()
        assert same(x.grad, rx.grad) and same(y.grad, ry.grad), (xv, yv)


# ------------------------------------------------------------ domain errors

@pytest.mark.parametrize("build, bad", [
    (lambda x: x.log(), 0.0),
    (lambda x: x.log(), -1.0),
    (lambda x: x.sqrt(), -2.0),
    (lambda x: 1.0 / x, 0.0),
    (lambda x: x ** -1.0, 0.0),
    (lambda x: x ** 0.5, -3.0),
    (lambda x: x.exp(), 1000.0),
    (lambda x: (x * 1e100) ** 2.0, 1e200),
    (lambda x: x.sin(), math.inf),
    (lambda x: (x - 1.0).cos() * 2.0, -math.inf),
], ids=["log0", "log-", "sqrt", "div0", "pow0", "powfrac", "exp", "powover", "sin", "cos"])
def test_domain_errors_during_replay(engine, build, bad):
    Var = engine.Var
    x = Var(2.0, req_grad=True)
    root = build(x) * 3.0 + x
    tape = regrad.compile(root)
    before = root.val
    x.val = bad
    with pytest.raises(Exception) as got:
        tape.forward()
    with pytest.raises(Exception) as want:
        build(Var(bad, req_grad=True))
    assert type(got.value) is type(want.value)
    assert str(got.value) == str(want.value)
    assert root.val == before                  # not overwritten by a failed forward
    x.val = 2.0                                # the tape still works
    assert tape.forward() == before


# ---------------------------------------------------------------- moons

def _moons_setup(engine, n, hidden):
    X, y = moons.make_moons(n, noise=0.1, seed=5)
    return X, y, moons.build_model(hidden, seed=7, engine=engine)


@pytest.mark.parametrize("batch_size", [None, 7])
def test_train_through_replay_gives_the_dynamic_losses(engine, batch_size):
    n, epochs = (40, 6) if engine.__name__.endswith("_core") else (20, 3)
    X, y = moons.make_moons(n, noise=0.1, seed=3)
    runs = []
    for replay in (False, True):
        model = moons.build_model([5, 4], seed=3, engine=engine)
        history = moons.train(model, X, y, epochs=epochs, batch_size=batch_size, seed=1,
                              replay=replay)
        runs.append(([s.loss for s in history], [s.accuracy for s in history],
                     [p.val for p in model.parameters()]))
    (loss0, acc0, w0), (loss1, acc1, w1) = runs
    assert all(same(a, b) for a, b in zip(loss1, loss0)) and len(loss1) == epochs
    assert acc1 == acc0
    assert all(same(a, b) for a, b in zip(w1, w0))


def test_moons_job_replay_option(capsys):
    args = ["moons", "--epochs", "4", "--samples", "24", "--hidden", "4", "--no-picture"]
    assert moons_main(args + ["--replay"]) == 0
    with_replay = capsys.readouterr().out
    assert moons_main(args + ["--no-replay"]) == 0
    without = capsys.readouterr().out
    assert "static-graph replay" in with_replay and "replay" not in without
    final = [line for line in with_replay.splitlines() if line.startswith("epoch")]
    assert final == [line for line in without.splitlines() if line.startswith("epoch")]


def moons_main(args):
    from regrad.apps.main import main
    return main(args)


# ----------------------------------------------------- references and memory

def test_the_tape_holds_no_interior_node(engine):
    Var = engine.Var
    x = Var(1.5, req_grad=True)
    c = Var(2.0)
    inner = x * c
    mid = inner.tanh() + inner
    root = mid * mid
    base_x, base_c = sys.getrefcount(x), sys.getrefcount(c)
    tape = regrad.compile(root)
    assert inner.src is None and mid.src is None and root.src is None   # released
    assert sys.getrefcount(inner) == sys.getrefcount(mid) == 2    # only this test holds them
    assert sys.getrefcount(root) == 3           # and the tape its root
    assert sys.getrefcount(x) == base_x - 1 + 1  # inner's link dropped, the tape's added
    assert sys.getrefcount(c) == base_c
    with pytest.raises(RuntimeError, match="released graph"):
        root.backward()
    del tape
    assert sys.getrefcount(x) == base_x - 1
    assert sys.getrefcount(c) == base_c - 1


def test_no_interior_node_survives_recording(engine):
    """Every result of a larger graph is held by nothing but this test's list."""
    Var = engine.Var
    X, y = moons.make_moons(6, noise=0.1, seed=1)
    model = moons.build_model([4], seed=1, engine=engine)
    results = []
    real_graph = moons._graph

    def keeping(model, X, neg_y, alpha):
        total, scores = real_graph(model, X, neg_y, alpha)
        seen, stack = set(), [total]
        while stack:                             # every result under the loss
            node = stack.pop()
            if node.src is not None and id(node) not in seen:
                seen.add(id(node))
                results.append(node)
                stack.extend(node.src)
        return total, scores

    moons._graph = keeping
    try:
        total, _ = moons.loss(model, X, y)
    finally:
        moons._graph = real_graph
    assert len(results) > 100
    tape = regrad.compile(total)
    del total
    assert all(node.src is None for node in results)
    # references: the list, the loop's name, getrefcount's argument; the root's
    # (results[0]) also the tape's
    counts = [sys.getrefcount(node) for node in results]
    assert counts[0] == 4 and set(counts[1:]) == {3}
    assert tape.size > len(results)


def test_released_pow_still_describes_itself(engine):
    Var = engine.Var
    x = Var(3.0, req_grad=True)
    p = x ** 2.5
    root = p * 2.0
    tape = regrad.compile(root)
    assert p.src is None and p.op == ops.Pow(2.5) and p.name == "Pow"
    x.val = 4.0
    assert tape.forward() == 64.0
    tape.backward()
    assert x.grad == 2.0 * 2.5 * 4.0 ** 1.5


def test_retain_graph_keeps_it(engine):
    Var = engine.Var
    x = Var(0.5, req_grad=True)
    inner = x.sin()
    root = inner * x
    tape = regrad.compile(root, retain_graph=True)
    assert inner.src == (x,) and root.src is not None
    root.backward(retain_graph=True)             # the dynamic graph still works
    dynamic = x.grad
    x.grad = None
    tape.backward()
    assert same(x.grad, dynamic)
    again = regrad.compile(root, retain_graph=True)
    assert again.size == tape.size


def test_compiled_tape_is_33_bytes_a_node_and_freed():
    import tracemalloc
    Var = regrad.get_engine("cython").Var
    x = Var(0.1, req_grad=True)
    node = x
    for i in range(50000):
        node = node * x + x
    tracemalloc.start()
    try:
        tape = regrad.compile(node)
        del node
        size = tape.size
        held = tracemalloc.get_traced_memory()[0]
        del tape
        freed = held - tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert size == 100001
    # op code, two operand slots, value, adjoint: 25 bytes a node; a result's
    # creation number: 8 more (one leaf here); all returned
    assert 33 * size - 8 <= freed < 38 * size


def test_deep_graph_records_iteratively():
    Var = regrad.get_engine("cython").Var
    x = Var(1.0, req_grad=True)
    node = x
    for _ in range(1000000):
        node = node + x
    tape = regrad.compile(node)            # a million nodes, no recursion
    assert tape.size == 1000001
    assert tape.forward() == 1000001.0
    tape.backward()
    assert x.grad == 1000001.0
    del tape


def test_pure_deep_graph_records_iteratively():
    Var = regrad.get_engine("python").Var
    x = Var(1.0, req_grad=True)
    node = x
    for _ in range(20000):
        node = node * 1.0 + x
    tape = regrad.compile(node)
    assert tape.forward() == 20001.0


# ------------------------------------------------------------ the API

def test_forward_backward_semantics(engine):
    Var = engine.Var
    w = Var(3.0, req_grad=True)
    x = Var(2.0)                        # an input: a leaf that does not require grad
    root = (w * x).relu() + w * w
    tape = regrad.compile(root)
    tape.backward()                     # before any forward: the recorded values
    assert w.grad == 2.0 + 6.0 and x.grad is None
    tape.backward(dy=0.5)               # adds up, as backward() does
    assert w.grad == 8.0 + 4.0
    x.val = -1.0                        # relu's branch changes at replay
    assert tape.forward() == 9.0 and root.val == 9.0
    w.grad = None
    tape.backward()
    assert w.grad == 6.0
    w.req_grad = False                  # read at each backward
    w.grad = None
    tape.backward()
    assert w.grad is None
    with pytest.raises(TypeError):
        tape.backward(dy="1")


def test_python_control_flow_is_frozen(engine):
    Var = engine.Var
    x = Var(2.0, req_grad=True)
    root = x * x if x.val > 0 else -x   # decided now, once
    tape = regrad.compile(root)
    x.val = -3.0
    assert tape.forward() == 9.0        # still x * x, as torch.jit.trace would
    assert (-x).val == 3.0


def test_leaf_root_and_outputs(engine):
    Var = engine.Var
    x = Var(4.0, req_grad=True)
    tape = regrad.compile(x)
    assert tape.size == 1 and tape.leaves == (x,)
    x.val = 5.0
    assert tape.forward() == 5.0
    tape.backward(2.0)
    assert x.grad == 2.0

    y = Var(1.0, req_grad=True)
    h = y * 3.0
    out = h.exp()
    root = out + h
    tape = regrad.compile(root, outputs=[h, out, y])
    assert tape.outputs == (h, out, y) and tape.root is root
    y.val = 0.0
    tape.forward()
    assert (h.val, out.val, root.val) == (0.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="not a node"):
        regrad.compile(Var(1.0, req_grad=True) * 2.0, outputs=[h])
    with pytest.raises(TypeError):
        regrad.compile(Var(1.0, req_grad=True) * 2.0, outputs=[1.0])


def test_constants_shown_by_leaves_can_be_changed(engine):
    Var = engine.Var
    x = Var(2.0, req_grad=True)
    tape = regrad.compile(x * 10.0)
    const = [leaf for leaf in tape.leaves if leaf is not x]
    assert [c.val for c in const] == [10.0] and not const[0].req_grad
    const[0].val = 100.0
    assert tape.forward() == 200.0


def test_size_leaves_and_repr(engine):
    Var = engine.Var
    a, b = Var(1.0, req_grad=True), Var(2.0)
    root = (a * b + a).tanh()
    tape = regrad.compile(root, retain_graph=True)
    assert tape.size == 5 and set(tape.leaves) == {a, b}
    text = repr(tape)
    assert "5 nodes" in text and "3 operations" in text and "2 leaves" in text
    assert ("cython" if engine.__name__.endswith("_core") else "python") in text


# ----------------------------------------------------------------- load()

def _tape_with_inputs(Var, n):
    w = Var(0.5, req_grad=True)
    xs = [Var(0.0) for _ in range(n)]
    root = sum(w * x for x in xs)
    return regrad.compile(root), w, xs


def test_load_from_lists_and_buffers(engine):
    np = pytest.importorskip("numpy")
    tape, w, xs = _tape_with_inputs(engine.Var, 6)
    tape.load(xs, [1.0, 2, 3.5, True, 0.25, -1])
    assert [x.val for x in xs] == [1.0, 2.0, 3.5, 1.0, 0.25, -1.0]
    assert tape.forward() == 0.5 * 6.75
    tape.load(xs, np.arange(6, dtype=float))
    assert [x.val for x in xs] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    tape.load(xs, np.arange(6.0).reshape(3, 2) * 2)           # any shape, C order
    assert [x.val for x in xs] == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    tape.load(tuple(xs), array.array("d", [6, 5, 4, 3, 2, 1]))
    assert [x.val for x in xs] == [6.0, 5.0, 4.0, 3.0, 2.0, 1.0]
    tape.load(xs[:2], (x for x in (7.0, 8.0)))
    assert xs[0].val == 7.0 and xs[1].val == 8.0
    tape.load([w], [2.0])                                       # parameters are leaves too
    assert w.val == 2.0
    tape.load([], [])


def test_load_rejects_bad_input_and_sets_nothing(engine):
    np = pytest.importorskip("numpy")
    Var = engine.Var
    tape, w, xs = _tape_with_inputs(Var, 3)
    tape.load(xs, [1.0, 2.0, 3.0])
    other = regrad.get_engine("python" if engine.__name__.endswith("_core") else "cython").Var
    cases = [
        (xs, [1.0, 2.0], ValueError, "3 vars but 2 values"),
        (xs, np.zeros(4), ValueError, "3 vars but 4 values"),
        (xs, np.zeros(3, dtype=np.float32), TypeError, "float64"),
        (xs, np.zeros(3, dtype=np.int64), TypeError, "float64"),
        (xs, np.zeros(6)[::2], TypeError, "C-contiguous"),
        (xs, b"abc", TypeError, "float64"),
        (xs, [1.0, "2", 3.0], TypeError, r"values\[1\] must be a real number, not str"),
        (xs, [1.0, None, 3.0], TypeError, r"values\[1\] must be a real number"),
        (xs, 3.0, TypeError, "values must be a sequence"),
        (xs[:2] + [1.0], [1.0, 2.0, 3.0], TypeError, r"vars\[2\] must be a"),
        (xs[:2] + [other(1.0)], [1.0, 2.0, 3.0], TypeError, r"vars\[2\] must be a"),
        (xs[:2] + [Var(1.0)], [1.0, 2.0, 3.0], ValueError, r"vars\[2\] is not a leaf"),
        (5, [1.0], TypeError, "vars must be a sequence"),
    ]
    for vars_, values, exc, message in cases:
        with pytest.raises(exc, match=message):
            tape.load(vars_, values)
        assert [x.val for x in xs] == [1.0, 2.0, 3.0]           # nothing was set


# ---------------------------------------------------------- compile() errors

def test_compile_errors(engine):
    Var = engine.Var
    with pytest.raises(RuntimeError, match="does not require grad"):
        regrad.compile(Var(1.0) * 2.0)
    with pytest.raises(RuntimeError, match="does not require grad"):
        regrad.compile(Var(1.0))
    x = Var(1.0, req_grad=True)
    root = x * 2.0 + 1.0
    root.backward()
    with pytest.raises(RuntimeError, match="released graph"):
        regrad.compile(root)
    # a released interior seen from another root
    inner = x * 3.0
    first = inner + 1.0
    second = inner * 2.0
    first.backward()
    with pytest.raises(RuntimeError, match="released graph"):
        regrad.compile(second)
    # recording releases the graph, as backward() does
    root = x * x
    regrad.compile(root)
    with pytest.raises(RuntimeError, match="released graph"):
        regrad.compile(root)
    for bad in (1.0, None, "x"):
        with pytest.raises(TypeError):
            regrad.compile(bad)


def test_failed_compile_leaves_the_graph_usable(engine):
    Var = engine.Var
    x = Var(1.0, req_grad=True)
    root = (x * 2.0).exp() + x
    with pytest.raises(ValueError):
        regrad.compile(root, outputs=[Var(3.0, req_grad=True) * 1.0])
    tape = regrad.compile(root)         # nothing was released or left marked
    tape.backward()
    assert same(x.grad, 2.0 * math.exp(2.0) + 1.0)


# ------------------------------------------------------------ the benchmark

def test_benchmark_comparison_runs():
    """``python benchmarks/bench_replay.py`` works (no timing checked here)."""
    import importlib.util
    import io
    import os
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "benchmarks", "bench_replay.py")
    spec = importlib.util.spec_from_file_location("bench_replay", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    text = io.StringIO()
    result = bench.compare(rounds=2, steps=1, dynamic_every=1, out=text)
    assert result["nodes"] > 60000 and result["ns_per_node"] > 0
    assert "ns per node" in text.getvalue() and result["dynamic_over_replay"] > 0


def test_an_unrecorded_compiled_tape_refuses_to_run():
    from regrad._replay import Tape
    tape = Tape.__new__(Tape)
    for call in (tape.forward, tape.backward, lambda: tape.load([], [])):
        with pytest.raises(RuntimeError, match="empty Tape"):
            call()
    assert tape.size == 0 and tape.leaves == () and tape.root is None
    x = regrad.get_engine("cython").Var(1.0, req_grad=True)
    with pytest.raises(ValueError):           # a failed recording leaves an empty tape
        tape.__init__(x * 2.0, outputs=[x * 3.0])
    with pytest.raises(RuntimeError, match="empty Tape"):
        tape.forward()


# ------------------------------------------------- ** exponents are not leaves

def test_pow_exponent_is_not_a_leaf(engine):
    Var = engine.Var
    w = Var(3.0, req_grad=True)
    tape = regrad.compile(w ** 2)
    assert tape.size == 2 and tape.leaves == (w,)
    assert repr(tape) == ("<regrad Tape: 2 nodes (1 operations, 1 leaves), "
                          f"{'cython' if engine.__name__.endswith('_core') else 'python'} engine>")
    for leaf in tape.leaves:                 # nothing a user can reach changes the power
        leaf.val = 5.0
    assert tape.forward() == 25.0
    tape.backward()
    assert w.grad == 10.0


def test_pow_exponents_replay_as_recorded_on_both_engines():
    """Several Pows, shared operands: the tapes of both engines agree on
    sizes, leaves and the bits of every value and gradient, and with PyTorch."""
    torch = pytest.importorskip("torch")
    got = []
    for name in ("cython", "python"):
        Var = regrad.get_engine(name).Var
        a, b = Var(1.5, req_grad=True), Var(0.5, req_grad=True)
        y = (a ** 2 + b ** -0.5) ** 3 * a ** 0.5 + (a * b) ** 2.0 - 4 * b
        tape = regrad.compile(y)
        a.val, b.val = 1.25, 0.75
        value = tape.forward()
        tape.backward()
        got.append((tape.size, len(tape.leaves), value, a.grad, b.grad))
    assert got[0] == got[1]
    ta = torch.tensor(1.25, dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(0.75, dtype=torch.float64, requires_grad=True)
    ty = (ta ** 2 + tb ** -0.5) ** 3 * ta ** 0.5 + (ta * tb) ** 2.0 - 4 * tb
    ty.backward()
    assert same(got[0][2], ty.item()) and same(got[0][3], ta.grad.item())
    assert same(got[0][4], tb.grad.item())
    # leaves: a, b and the constant 4; nodes: 3 leaves + 11 operations
    assert got[0][:2] == (14, 3)
