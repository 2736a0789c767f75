"""Two threads building and differentiating separate graphs at once get the
right results, on each engine and with one engine per thread.

The interpreter is made to switch threads every few microseconds, so that the
two graphs are built (and freed) interleaved node by node. The references are
independent of the threads: the same training run sequentially on the other
engine, and forward-mode derivatives computed on plain floats.
"""
import math
import random
import sys
import threading

import pytest

import regrad
from regrad.apps.moons import make_moons, build_model, step

# two pure engines at once take seconds: that pair runs with the slow tests
COMBOS = [("cython", "cython"),
          pytest.param(("python", "python"), marks=pytest.mark.slow), ("cython", "python")]
IDS = ["cython+cython", "python+python", "cython+python"]
OTHER = {"cython": "python", "python": "cython"}


@pytest.fixture(autouse=True)
def fast_switching():
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def run_in_threads(*jobs):
    """Run each job in its own thread, all released at once; re-raise the
    first exception of any."""
    barrier = threading.Barrier(len(jobs))
    errors = []

    def wrap(job):
        try:
            barrier.wait()
            job()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]


# ------------------------------------------------------------ training runs

def training_setup(engine_name, seed):
    X, y = make_moons(12, noise=0.1, seed=seed)
    model = build_model([8, 8], seed=seed, engine=engine_name)   # global random: main thread
    return model, X, y


def train(model, X, y, steps, losses):
    params = model.parameters()
    for k in range(steps):
        value, _ = step(model, X, y, 0.3 * (1 - k / (2 * steps)), 1e-4, params)
        losses.append(value)


@pytest.mark.parametrize("engines", COMBOS, ids=IDS)
def test_two_threads_train_separate_models(engines):
    steps = 15
    runs = [training_setup(name, seed) for name, seed in zip(engines, (11, 12))]
    losses = [[], []]
    run_in_threads(*[lambda i=i: train(*runs[i], steps, losses[i]) for i in range(2)])
    # the same runs, one after the other, on the other engine
    for i, (name, seed) in enumerate(zip(engines, (11, 12))):
        ref_model, X, y = training_setup(OTHER[name], seed)
        ref_losses = []
        train(ref_model, X, y, steps, ref_losses)
        assert len(losses[i]) == steps
        for a, b in zip(losses[i], ref_losses):
            assert math.isclose(a, b, rel_tol=1e-12), (i, losses[i], ref_losses)
        for p, q in zip(runs[i][0].parameters(), ref_model.parameters()):
            assert math.isclose(p.val, q.val, rel_tol=1e-12, abs_tol=1e-15)


# ------------------------------------------------- many graphs, many threads

def chain_with_reference(Var, seed, n_cycles):
    """A chain through every unary operator and the four binary ones, with
    its value and derivative computed in forward mode on floats."""
    rng = random.Random(seed)
    x0 = rng.uniform(0.2, 0.8)
    x = Var(x0, req_grad=True)
    w = Var(0.5, req_grad=False)
    y, v, d = x, x0, 1.0
    for _ in range(n_cycles):
        a = rng.uniform(0.5, 1.5)
        y = (y * a + w).sigmoid()          # in (0, 1)
        z = v * a + 0.5
        s = 1 / (1 + math.exp(-z))
        v, d = s, d * a * s * (1 - s)
        y = (y + 1.0).log().sqrt()         # log(1+y) in (0, 0.7): sqrt
        L = math.log(v + 1.0)
        r = math.sqrt(L)
        v, d = r, d / (v + 1.0) * 0.5 / r
        y = (y.sin() - y.cos() / 2.0).tanh() ** 2
        t = math.tanh(math.sin(v) - math.cos(v) / 2.0)
        dt = (1 - t * t) * (math.cos(v) + math.sin(v) / 2.0)
        v, d = t * t, d * 2 * t * dt
        y = (-y).exp().abs().relu() + 0.25   # in (0.25, 1.25]
        e = math.exp(-v)
        v, d = e + 0.25, -d * e
    return x, y, v, d


@pytest.mark.parametrize("engines", COMBOS, ids=IDS)
def test_two_threads_differentiate_many_graphs(engines):
    results = [[], []]

    def job(i, name):
        Var = regrad.get_engine(name).Var
        for g in range(40):
            x, root, value, deriv = chain_with_reference(Var, 1000 * i + g, 60)
            if g % 2:
                root.backward(retain_graph=True)
                root.backward()
                deriv *= 2
            else:
                root.backward()
            results[i].append((root.val, value, x.grad, deriv))
            del x, root                     # freed while the other thread builds

    run_in_threads(*[lambda i=i, name=name: job(i, name) for i, name in enumerate(engines)])
    for i in range(2):
        assert len(results[i]) == 40
        for val, value, grad, deriv in results[i]:
            assert math.isclose(val, value, rel_tol=1e-12), (val, value)
            assert math.isclose(grad, deriv, rel_tol=1e-9, abs_tol=1e-300), (grad, deriv)


def test_chain_reference_matches_torch():
    """The forward-mode reference above is right (checked against PyTorch)."""
    torch = pytest.importorskip("torch")

    class T:
        def __new__(cls, v, req_grad=False):
            return torch.tensor(float(v), dtype=torch.float64, requires_grad=req_grad)
    x, root, value, deriv = chain_with_reference(T, 7, 60)
    root.backward()
    assert math.isclose(root.item(), value, rel_tol=1e-12)
    assert math.isclose(x.grad.item(), deriv, rel_tol=1e-9)


@pytest.mark.parametrize("engine_name", ["cython", "python"])
def test_two_threads_backward_through_one_graph(engine_name):
    """One backward runs whole, the other meets the released graph and raises
    its RuntimeError (never anything else), and the leaves get one pass's
    gradients, on each engine. Reference: the same graph differentiated once."""
    Var = regrad.get_engine(engine_name).Var

    def build(w, b):
        y = w
        for k in range(60):
            y = (y * w + b).tanh() + k * 0.01
        return y

    ref_w, ref_b = Var(0.7, req_grad=True), Var(-0.2, req_grad=True)
    build(ref_w, ref_b).backward()
    for _ in range(100):
        w, b = Var(0.7, req_grad=True), Var(-0.2, req_grad=True)
        y = build(w, b)
        outcomes = []

        def job():
            try:
                y.backward()
                outcomes.append("ok")
            except RuntimeError as e:
                assert "released graph" in str(e)
                outcomes.append("released")

        run_in_threads(job, job)
        assert sorted(outcomes) == ["ok", "released"]
        assert (w.grad, b.grad) == (ref_w.grad, ref_b.grad)
