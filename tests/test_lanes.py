"""Lanes (``regrad.compile(root, inputs=[...])``) on both engines.

References: the dynamic engine building each sample's graph anew (values,
gradients and exceptions, to the bit: the lanes promise its order), PyTorch in
float64 for the summed gradients, and the pure batch tape for the compiled
one's block and thread variants.
"""
import math
import random
from array import array

import numpy as np
import pytest

import regrad
from regrad.optim import SGD
from regrad.apps import moons

ENGINES = ["cython", "python"]


def mlp_sample(E, hidden=(5, 4), seed=3):
    """An MLP's hinge loss on one sample: (batch tape, params, sample function)."""
    model = moons.build_model(hidden, seed=seed, engine=E)

    def sample(x0, x1, t):
        return (1 + t * model([x0, x1])).relu()

    x0, x1, t = E.Var(0.0), E.Var(0.0), E.Var(0.0)
    return sample, model.parameters(), (x0, x1, t)


def rows(n, seed=0):
    rng = random.Random(seed)
    return [(rng.uniform(-2, 2), rng.uniform(-2, 2), rng.choice((-1.0, 1.0)))
            for _ in range(n)]


def dynamic(E, sample, params, data, dy=1.0, input_grads=False):
    """Each sample's graph built anew: (outputs, parameter grads, input grads).
    ``sum(dy_i * out_i)`` with the lanes' promised order: the last sample first."""
    outs, ins = [], []
    for row in data:
        xs = [E.Var(v, req_grad=input_grads) for v in row]
        outs.append(sample(*xs))
        ins.append(xs)
    for p in params:
        p.grad = 0.0
    if isinstance(dy, (int, float)):
        total = sum(outs)
        total.backward(dy)
    else:
        total = sum(w * o for w, o in zip(dy, outs))
        total.backward()
    grads = [p.grad for p in params]
    in_grads = [x.grad for xs in ins for x in xs] if input_grads else None
    return [o.val for o in outs], grads, in_grads


def lanes(E, sample, params, inputs, data, dy=None, input_grads=False, **kw):
    batch = regrad.compile(sample(*inputs), inputs=list(inputs), **kw)
    out = batch.forward(data)
    for p in params:
        p.grad = 0.0
    ig = batch.backward(dy, input_grads=input_grads)
    return list(out), [p.grad for p in params], (list(ig) if ig is not None else None)


# ------------------------------------------------------ the dynamic engine's bits

@pytest.mark.parametrize("name", ENGINES)
@pytest.mark.parametrize("dy", [None, 0.25, "weights"])
def test_values_and_gradients_are_the_dynamic_engines(name, dy):
    E = regrad.get_engine(name)
    sample, params, inputs = mlp_sample(E)
    data = rows(37)
    if dy == "weights":
        dy = [random.Random(1).uniform(-1, 1) for _ in data]
    want = dynamic(E, sample, params, data, 1.0 if dy is None else dy, input_grads=True)
    got = lanes(E, sample, params, inputs, data, dy, input_grads=True)
    assert got[0] == want[0]
    assert got[1] == want[1]
    assert got[2] == want[2]


def test_the_moons_step_matches_the_dynamic_engine_to_the_bit():
    """Full batch: data loss by lanes, seeded with 1/N, after the L2 term."""
    for name in ENGINES:
        E = regrad.get_engine(name)
        X, y = moons.make_moons(40, noise=0.1, seed=2)
        model = moons.build_model([8, 8], seed=2, engine=E)
        params = model.parameters()
        total, _ = moons.loss(model, X, y)
        model.zero_grad()
        total.backward()
        want = [p.grad for p in params]
        x0, x1, t = E.Var(0.0), E.Var(0.0), E.Var(0.0)
        batch = regrad.compile((1 + t * model([x0, x1])).relu(), inputs=[x0, x1, t])
        batch.forward([(a, b, -c) for (a, b), c in zip(X, y)])
        for p in params:
            p.grad = 0.0 + 1e-4 * p.val + 1e-4 * p.val     # the L2 term's, first
        batch.backward(1.0 / len(X))
        assert [p.grad for p in params] == want


@pytest.mark.parametrize("name", ENGINES)
def test_every_operator(name):
    E = regrad.get_engine(name)
    w = [E.Var(v, req_grad=True) for v in (0.7, -1.3, 0.4, 2.1)]
    c = E.Var(0.5)                                   # a constant leaf

    def sample(x, y):
        a = w[0] * x + w[1]
        b = (w[2] * y).exp() + (a * a).sqrt() + (w[3] * y) ** 3 - a.sin() * (w[0] * x).cos()
        d = (b.abs() + 1.0).log() / (w[2] * y + 3.0) + (-a).tanh() * (w[1] * y).sigmoid()
        return d * c + (w[3] * x).relu() + w[0] * w[0] - (w[2] * y) ** 0.5 * 0.1 + abs(a) ** 2.5

    data = [(random.Random(i).uniform(-1, 1), random.Random(-i).uniform(0.1, 1))
            for i in range(23)]
    data.append((0.0, 0.5))                          # relu and abs at their kinks
    inputs = (E.Var(0.0), E.Var(0.0))
    want = dynamic(E, sample, w, data, 0.5, input_grads=True)
    got = lanes(E, sample, w, inputs, data, 0.5, input_grads=True)
    assert got == want


@pytest.mark.parametrize("name", ENGINES)
def test_a_parameter_used_many_times_a_sample(name):
    E = regrad.get_engine(name)
    w, v = E.Var(0.3, req_grad=True), E.Var(-0.8, req_grad=True)

    def sample(x):
        h = w * x + w * w + v
        return (h * w + v * x) * (w * h)

    data = [(0.1 * i - 1,) for i in range(19)]
    want = dynamic(E, sample, [w, v], data, 0.5, input_grads=True)
    for block, threads in [(None, 1), (4, 2), (1, 3)]:
        got = lanes(E, sample, [w, v], (E.Var(0.0),), data, 0.5, input_grads=True,
                    block=block, threads=threads)
        assert got == want


def test_the_gradients_are_pytorchs():
    torch = pytest.importorskip("torch")
    data = np.array(rows(64, seed=5))
    dy = np.random.default_rng(0).uniform(0.1, 1.0, 64)
    for name in ENGINES:
        E = regrad.get_engine(name)
        sample, params, inputs = mlp_sample(E, hidden=(6,))
        got = lanes(E, sample, params, inputs, data, dy)
        ws = [torch.tensor(p.val, dtype=torch.float64, requires_grad=True) for p in params]
        x = torch.tensor(data, dtype=torch.float64)
        # MLP(2, [6, 1]): per neuron 2 weights then a bias
        h = [torch.relu(ws[3 * j + 2] + ws[3 * j] * x[:, 0] + ws[3 * j + 1] * x[:, 1])
             for j in range(6)]
        score = ws[24] + sum(ws[18 + j] * h[j] for j in range(6))
        out = torch.relu(1 + x[:, 2] * score)
        assert np.array_equal(np.array(got[0]), out.detach().numpy())
        (torch.tensor(dy) * out).sum().backward()
        for g, t in zip(got[1], ws):
            assert math.isclose(g, t.grad.item(), rel_tol=1e-12, abs_tol=1e-300)


# ------------------------------------------------ blocks, threads, engines

@pytest.mark.parametrize("n", [1, 15, 16, 17, 1000])
def test_blocks_and_threads_give_the_same_bits(n):
    data = np.array(rows(n, seed=n))
    dy = np.linspace(-1, 1, n)
    E = regrad.get_engine("python")
    sample, params, inputs = mlp_sample(E, hidden=(9, 3))     # neurons of 2 and 9 terms
    want = lanes(E, sample, params, inputs, data, dy, input_grads=True)
    E = regrad.get_engine("cython")
    for block, threads in [(16, 1), (16, 2), (1, 1), (1, 2), (None, 2), (7, 3)]:
        sample, params, inputs = mlp_sample(E, hidden=(9, 3))
        got = lanes(E, sample, params, inputs, data, dy, input_grads=True,
                    block=block, threads=threads)
        assert got == want, (block, threads)


@pytest.mark.parametrize("name", ENGINES)
@pytest.mark.parametrize("threads,n,block", [(2, 9, None), (3, 10, 1), (3, 5, 4), (4, 3, 2),
                                             (3, 64, 7)])
def test_bitwise_false_adds_up_each_threads_lanes_apart(name, threads, n, block, monkeypatch):
    """The reference: the dynamic engine's gradients of each thread's lanes
    alone (sum of their outputs, from 0.0), added the last lanes' first."""
    monkeypatch.setattr(regrad._messages, "LANES_PER_THREAD", 2)
    T = max(1, min(threads, n // 2))      # at least 2 lanes a thread
    data = rows(n, seed=n)
    dy = [random.Random(n).uniform(-1, 1) for _ in data]
    E = regrad.get_engine(name)
    sample, params, inputs = mlp_sample(E, hidden=(9, 3))
    want_out, _, want_in = dynamic(E, sample, params, data, dy, input_grads=True)
    cuts = [n * t // T for t in range(T + 1)]
    parts = [dynamic(E, sample, params, data[cuts[t]:cuts[t + 1]], dy[cuts[t]:cuts[t + 1]])[1]
             for t in reversed(range(T))]
    want = parts[0]
    for part in parts[1:]:
        want = [a + b for a, b in zip(want, part)]
    got = lanes(E, sample, params, inputs, data, dy, input_grads=True, threads=threads,
                block=block, bitwise=False)
    assert list(got) == [want_out, want, want_in]
    if T > 1:      # a test that can fail: the order differs in the last bits here
        assert want != dynamic(E, sample, params, data, dy)[1]


def test_bitwise_false_steps_agree_across_engines_and_small_batches_use_one_thread(monkeypatch):
    monkeypatch.setattr(regrad._messages, "LANES_PER_THREAD", 512)    # the default
    got = []
    for name in ENGINES:
        runs = []
        for n, bitwise in [(5000, False), (5000, True), (100, False), (100, True)]:
            sample, params, inputs = mlp_sample(regrad.get_engine(name), hidden=(9, 3))
            batch = regrad.compile(sample(*inputs), inputs=list(inputs), threads=2,
                                   bitwise=bitwise)
            assert batch.bitwise is bitwise
            loss = batch.step(rows(n, seed=n), SGD(params, lr=0.1), 1e-3)
            runs.append((loss, [p.grad for p in params], [p.val for p in params]))
        got.append(runs)
    assert got[0] == got[1]                  # both engines, to the bit
    (loss, grads, _), (bit_loss, bit_grads, _), small, bit_small = got[0]
    assert loss == bit_loss and grads != bit_grads      # two threads: the sums apart
    assert max(abs(a - b) for a, b in zip(grads, bit_grads)) < 1e-12
    assert small == bit_small                # 100 lanes: one thread, the bitwise order
    assert [regrad._messages.threads_for(2, n) for n in (1023, 1024)] == [1, 2]


@pytest.mark.parametrize("name", ENGINES)
def test_data_as_arrays_buffers_and_rows(name):
    E = regrad.get_engine(name)
    sample, params, inputs = mlp_sample(E)
    data = rows(9)
    batch = regrad.compile(sample(*inputs), inputs=list(inputs))
    want = list(batch.forward(data))
    flat = [v for row in data for v in row]
    for form in (np.array(data), np.array(flat), array("d", flat), tuple(map(list, data)),
                 [np.array(r) for r in data]):
        out = batch.forward(form)
        assert isinstance(out, array) and out.typecode == "d"
        assert list(out) == want
    assert len(batch) == 9
    one = regrad.compile((inputs[0] * params[0]).exp(), inputs=[inputs[0]])
    assert list(one.forward([0.5, 2])) == list(one.forward([[0.5], [2.0]]))
    assert list(one.forward([0.5, 2])) == [math.exp(0.5 * params[0].val),
                                          math.exp(2.0 * params[0].val)]


@pytest.mark.parametrize("name", ENGINES)
def test_leaves_are_read_at_each_forward(name):
    E = regrad.get_engine(name)
    w, c = E.Var(2.0, req_grad=True), E.Var(3.0)
    x = E.Var(0.0)
    batch = regrad.compile(w * x + c, inputs=[x])
    assert list(batch.forward([1.0, 2.0])) == [5.0, 7.0]
    w.val, c.val = -1.0, 0.5
    assert list(batch.forward([1.0, 2.0])) == [-0.5, -1.5]
    w.grad = 10.0
    batch.backward()
    assert w.grad == 10.0 + 2.0 + 1.0            # added to .grad, last lane first
    for dy in (np.float64(0.5), np.array([0.5, 0.5]), array("d", [0.5, 0.5]), [0.5, 0.5],
               (0.5, np.float32(0.5)), 0.5, True):
        w.grad = 0.0
        batch.backward(dy)
        assert w.grad == (2.0 + 1.0) * float(dy if np.ndim(dy) == 0 else 0.5)
    assert c.grad is None and x.grad is None
    assert batch.params == (w,) and batch.inputs == (x,)


# ---------------------------------------------------------------- errors

def _sample_with_domains(E):
    w = E.Var(1.0, req_grad=True)
    x, y = E.Var(1.0), E.Var(4.0)                    # recorded in the domain
    root = (w * x).log() + (w * y).sqrt() + w / (w * y - 1.0)
    return w, x, y, root


@pytest.mark.parametrize("name", ENGINES)
@pytest.mark.parametrize("bad", [[(1.0, 4.0), (2.0, 1.0), (1.0, 1.0)],     # Div
                                 [(1.0, 4.0), (-1.0, -1.0), (-2.0, 1.0)],  # Log and Sqrt
                                 [(0.5, 0.0), (1.0, -4.0)]])
def test_a_domain_error_names_the_sample_and_is_the_dynamic_engines(name, bad):
    E = regrad.get_engine(name)
    w, x, y, root = _sample_with_domains(E)
    batch = regrad.compile(root, inputs=[x, y], block=2)
    first = None
    for i, (a, b) in enumerate(bad):
        try:
            _sample_with_domains_at(E, a, b)
        except (ValueError, ZeroDivisionError) as e:
            first = (i, type(e), str(e))
            break
    assert first is not None
    with pytest.raises(first[1]) as info:
        batch.forward(bad)
    assert str(info.value) == f"sample {first[0]}: {first[2]}"
    with pytest.raises(RuntimeError, match="no successful forward"):
        batch.backward()
    assert list(batch.forward([(1.0, 4.0)])) == [_sample_with_domains_at(E, 1.0, 4.0)]


def _sample_with_domains_at(E, a, b):
    w = E.Var(1.0, req_grad=True)
    return ((w * a).log() + (w * b).sqrt() + w / (w * b - 1.0)).val


def _errors(fn):
    try:
        fn()
    except Exception as e:          # the same words, but each engine names its own Var
        return type(e), str(e).replace("regrad.pure.Var", "Var").replace("regrad._core.Var", "Var")
    return None


def _compile_cases(E):
    w = E.Var(1.0, req_grad=True)
    x, y = E.Var(0.0), E.Var(0.0)
    root = w * x + w
    return [
        lambda: regrad.compile(root, inputs=[x, 3]),
        lambda: regrad.compile(root, inputs=5),
        lambda: regrad.compile(root, inputs="x"),
        lambda: regrad.compile(root, inputs=[]),
        lambda: regrad.compile(root, inputs=[x, x]),
        lambda: regrad.compile(root, inputs=[w * x]),
        lambda: regrad.compile(root, inputs=[y]),
        lambda: regrad.compile(2 * y + w, inputs=[y]),       # folded into a constant
        lambda: regrad.compile(x * 2, inputs=[x]),
        lambda: regrad.compile(w, inputs=[x]),
        lambda: regrad.compile(root, inputs=[x], threads=0),
        lambda: regrad.compile(root, inputs=[x], threads="2"),
        lambda: regrad.compile(root, inputs=[x], block=0),
        lambda: regrad.compile(root, inputs=[x], block=2.5),
        lambda: regrad.compile(root, inputs=[x], outputs=[x]),
        lambda: regrad.compile(root, threads=2),
        lambda: regrad.compile(root, block=8),
        lambda: regrad.compile(root, bitwise=False),
        lambda: regrad.compile(root, inputs=[x], bitwise=1),
        lambda: regrad.compile(root, inputs=[x], bitwise=None),
        lambda: regrad.compile(root, inputs=[x], outputs=[(w * y).exp()]),
    ]


def _data_cases(E):
    w = E.Var(1.0, req_grad=True)
    x, y = E.Var(0.0), E.Var(0.0)
    batch = regrad.compile(w * x + y, inputs=[x, y])
    return [
        lambda: batch.backward(),
        lambda: batch.forward(np.zeros((3, 2), dtype=np.int64)),
        lambda: batch.forward(np.zeros((3, 4))[:, ::2]),
        lambda: batch.forward(np.zeros((3, 3))),
        lambda: batch.forward(np.zeros(5)),
        lambda: batch.forward(np.zeros(())),                 # 0-d
        lambda: batch.forward(np.array(1.0)),
        lambda: batch.forward(np.zeros((2, 2, 2))),
        lambda: batch.__init__(w * x + y, inputs=[x, y]),   # recorded once
        lambda: batch.forward("ab"),
        lambda: batch.forward(None),
        lambda: batch.forward([(1.0, 2.0), (1.0,)]),
        lambda: batch.forward([(1.0, 2.0), 3.0]),
        lambda: batch.forward([(1.0, "2")]),
        lambda: batch.forward([(1.0, 2.0)]) and batch.backward([1.0, 2.0]),
        lambda: batch.forward([(1.0, 2.0)]) and batch.backward("1"),
        lambda: batch.forward([(1.0, 2.0)]) and batch.backward(["1"]),
        lambda: batch.forward([(1.0, 2.0)]) and batch.backward(np.ones(2)),
        lambda: batch.forward([(1.0, 2.0)]) and batch.backward(np.ones(1, dtype=np.float32)),
        lambda: batch.forward([(1.0, 2.0)]) and batch.backward(np.array(1.0)),   # 0-d
        lambda: batch.forward([(1.0, 2.0)]) and batch.backward(np.ones((1, 1, 1))),
    ]


@pytest.mark.parametrize("cases", [_compile_cases, _data_cases])
def test_bad_input_raises_the_same_errors_on_both_engines(cases):
    py = [_errors(f) for f in cases(regrad.get_engine("python"))]
    cy = [_errors(f) for f in cases(regrad.get_engine("cython"))]
    assert py == cy
    for got in py:
        assert got is not None and got[0] in (TypeError, ValueError, RuntimeError), got
    assert [t for t, _ in py].count(TypeError) >= 4


def test_the_recording_releases_the_graph_unless_kept(engine):
    w, x = engine.Var(1.0, req_grad=True), engine.Var(0.0)
    root = (w * x).exp()
    batch = regrad.compile(root, inputs=[x])
    with pytest.raises(RuntimeError):
        root.backward()
    root = (w * x).exp()
    batch = regrad.compile(root, inputs=[x], retain_graph=True)
    root.backward()
    assert list(batch.forward([0.0])) == [1.0]
    assert "2 nodes" not in repr(batch) and f"{batch.size} nodes" in repr(batch)


@pytest.mark.parametrize("name", ENGINES)
def test_outputs_keep_their_lane_values(name):
    E = regrad.get_engine(name)
    model = moons.build_model([4], seed=1, engine=E)
    x0, x1, t = E.Var(0.0), E.Var(0.0), E.Var(0.0)
    w, b = model.layers[0].neurons[0].w, model.layers[0].neurons[0].b
    partial = b + w[0] * x0                          # inside a neuron's chain of sums
    score = model([x0, x1])
    root = (1 + t * score).relu() + partial * 0.0
    batch = regrad.compile(root, inputs=[x0, x1, t], outputs=[score, partial])
    assert batch.outputs == (score, partial)
    with pytest.raises(RuntimeError, match="no successful forward"):
        batch.output_values
    data = rows(21)
    batch.forward(data)
    scores, partials = batch.output_values
    assert list(scores) == [model([E.Var(a), E.Var(c)]).val for a, c, _ in data]
    assert list(partials) == [(b + w[0] * E.Var(a)).val for a, _, _ in data]
    with pytest.raises(ValueError, match="is a leaf"):
        regrad.compile(root, inputs=[x0, x1, t], outputs=[w[0]])
    with pytest.raises(TypeError, match="outputs"):
        regrad.compile((1 + t * model([x0, x1])).relu(), inputs=[x0, x1, t], outputs=[1.0])


# ------------------------------------------------------------ the moons job

@pytest.mark.parametrize("batch_size", [None, 7])
def test_training_in_lanes_gives_the_dynamic_losses_to_the_bit(engine, batch_size):
    n, epochs = (40, 6) if engine.__name__.endswith("_core") else (20, 3)
    X, y = moons.make_moons(n, noise=0.1, seed=3)
    runs = []
    for path in ("dynamic", "lanes"):
        model = moons.build_model([5, 4], seed=3, engine=engine)
        history = moons.train(model, X, y, epochs=epochs, batch_size=batch_size, seed=1,
                              path=path, threads=2 if batch_size else 1)
        runs.append(([(s.loss, s.accuracy) for s in history],
                     [p.val for p in model.parameters()]))
    assert runs[0] == runs[1]


def test_training_in_lanes_without_l2():
    X, y = moons.make_moons(30, noise=0.1, seed=4)
    runs = []
    for path in ("dynamic", "lanes"):
        model = moons.build_model([6], seed=4, engine=regrad.get_engine("cython"))
        runs.append([s.loss for s in moons.train(model, X, y, epochs=5, alpha=0, path=path)])
    assert runs[0] == runs[1]
    with pytest.raises(ValueError, match="path"):
        moons.train(model, X, y, epochs=1, path="jit")


def test_the_job_runs_in_lanes_by_default(capsys):
    from regrad.apps.main import main
    args = ["moons", "--epochs", "4", "--samples", "24", "--hidden", "4", "--no-picture"]
    outs = []
    for extra in ([], ["--path", "dynamic"], ["--threads", "2"], ["--no-replay"]):
        assert main(args + extra) == 0
        outs.append(capsys.readouterr().out)
    assert "lanes" in outs[0] and "lanes" not in outs[1]
    epochs = [[line for line in out.splitlines() if line.startswith("epoch")] for out in outs]
    assert epochs[0] == epochs[1] == epochs[2] == epochs[3] and len(epochs[0]) == 4


def test_one_tape_used_from_two_threads_refuses_rather_than_races():
    """forward() and backward() release the GIL: a second caller gets an error,
    never values half written by the first (or a crash)."""
    import threading
    E = regrad.get_engine("cython")
    sample, params, inputs = mlp_sample(E, hidden=(8,))
    batch = regrad.compile(sample(*inputs), inputs=list(inputs), threads=2)
    data = np.array(rows(20_000, seed=9))
    want = list(batch.forward(data))
    outcomes = []

    def run():
        for _ in range(5):
            try:
                outcomes.append(list(batch.forward(data)) == want)
                batch.backward(1e-3)
                outcomes.append(True)
            except RuntimeError as e:
                outcomes.append("another thread" in str(e) or "no successful forward" in str(e))

    workers = [threading.Thread(target=run) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert outcomes and all(outcomes)


@pytest.mark.parametrize("name", ENGINES)
def test_chains_of_products_in_every_operand_order(name):
    """Sums of products whose parameter is the first or the second factor, or
    neither (two lanes, or a constant), starting from a parameter, a constant
    or a lane; one thread and several. The inputs require grad, so that
    ``x * y`` and ``c * x`` are recorded (not folded into constants)."""
    E = regrad.get_engine(name)
    w = [E.Var(v, req_grad=True) for v in (0.5, -1.5, 2.0, 0.25)]
    c = E.Var(3.0)

    def sample(x, y):
        a = w[0] + x * w[1] + w[2] * y + x * y + c * x       # starts from a parameter
        b = c + y * w[3] + w[0] * a                           # from a constant
        d = x + a * w[1] + b * a                              # from a lane
        return d * b + (2.0 + w[2] * d).relu()

    data = [(0.1 * i - 1.2, 0.3 - 0.05 * i) for i in range(41)]
    want = dynamic(E, sample, w, data, 0.5, input_grads=True)
    for block, threads in [(None, 1), (8, 2), (3, 3)]:
        inputs = (E.Var(0.0, req_grad=True), E.Var(0.0, req_grad=True))
        got = lanes(E, sample, w, inputs, data, 0.5, input_grads=True,
                    block=block, threads=threads)
        assert got == want, (block, threads)
        assert all(x.grad is None for x in inputs)       # inputs are lanes, not parameters


def test_inputs_that_require_grad_are_recorded_wherever_they_go(engine):
    w = engine.Var(1.5, req_grad=True)
    x = engine.Var(0.0)
    with pytest.raises(ValueError, match="req_grad=True"):
        regrad.compile(2 * x + w, inputs=[x])
    x = engine.Var(0.0, req_grad=True)
    batch = regrad.compile(2 * x + w * (x * x), inputs=[x])
    assert list(batch.forward([1.0, -2.0, 0.5])) == [2 * v + 1.5 * (v * v)
                                                    for v in (1.0, -2.0, 0.5)]
    assert batch.params == (w,)


def test_numpy_scalars_and_bools_are_numbers_like_bool(engine):
    np = pytest.importorskip("numpy")
    E = engine
    w = E.Var(0.5, req_grad=True)
    x = E.Var(0.0)
    batch = regrad.compile(w * x, inputs=[x])
    out = batch.forward([[np.float64(2.0)], [np.True_], [True]])
    assert list(out) == [1.0, 0.5, 0.5]
    for dy in (np.True_, np.float64(1.0), True, [np.True_, 1, np.float64(1.0)]):
        w.grad = None
        batch.backward(dy)
        assert w.grad == 2.0 + 1.0 + 1.0
