"""Lanes on the moons step, against replay, NumPy by hand and JAX; threads.

The step is GUIDE.md's (see ``bench_replay.py``). Contenders, each one whole
step (loss, gradients, SGD update) from ``regrad.apps.bench``:

- ``lanes``: one point's loss recorded once (``regrad.compile(..., inputs=)``)
  and run over the 100 points (``regrad.apps.moons.LanesStep``);
- ``lanes f+b``: the batch tape's ``forward`` and ``backward`` alone, without
  the step's Python around them (L2 term, zero_grad, update, accuracy);
- ``replay``, ``numpy`` (hand-written backward), ``jax`` (``jit`` of the whole
  step; skipped without JAX).

As a pytest-benchmark suite (``python -m pytest benchmarks/bench_lanes.py
--benchmark-enable``) each is timed on its own. As a script, the contenders
alternate in one process and the medians and the median per-round ratios are
printed; then forward + backward on 10^4 points with 1 and 2 threads::

    python benchmarks/bench_lanes.py [--rounds 200] [--steps 20] [--points 10000]
"""
import argparse
import gc
import math
import statistics
import sys
import time
from array import array

import pytest

import regrad
from regrad.apps import bench, moons


class LanesAlone:
    """The batch tape's forward and backward, nothing else."""
    key = "lanes f+b"

    def __init__(self, points=100, threads=1):
        E = regrad.get_engine("cython")
        X, y = moons.make_moons(points, 0.1, 1337)
        model = moons.build_model((16, 16), seed=1337, engine=E)
        self.params = model.parameters()
        x0, x1, t = E.Var(0.0), E.Var(0.0), E.Var(0.0)
        self.batch = regrad.compile((1 + t * model([x0, x1])).relu(), inputs=[x0, x1, t],
                                    threads=threads)
        self.data = array("d", [v for (a, b), c in zip(X, y) for v in (a, b, -c)])
        self.seed = 1.0 / points

    def step(self, k=0):
        self.batch.forward(self.data)
        self.batch.backward(self.seed)


def contenders():
    out = []
    work = bench.Workload()
    for cls in (bench.RegradLanes, bench.RegradReplay, bench.NumpyByHand, bench.JaxJit):
        c = cls()
        if c.missing() is None:
            c.setup(work)
            out.append(c)
    out.insert(1, LanesAlone())
    return out


# ------------------------------------------------------ pytest-benchmark suite

def _collect():
    gc.collect()


def _hinge_reference(points=100):
    """The gradients of the mean hinge loss (no L2 term) on the pure engine's
    dynamic graph: what ``LanesAlone`` computes."""
    E = regrad.get_engine("python")
    X, y = moons.make_moons(points, 0.1, 1337)
    model = moons.build_model((16, 16), seed=1337, engine=E)
    total = sum((1 - c * model([E.Var(a), E.Var(b)])).relu() for (a, b), c in zip(X, y))
    total.backward(1.0 / points)
    return [p.grad for p in model.parameters()]


@pytest.mark.parametrize("key", ["lanes", "lanes f+b", "replay", "numpy"])
def test_moons_step(benchmark, key):
    benchmark.group = "moons step: lanes vs replay vs NumPy by hand"
    c = next((c for c in contenders() if c.key == key), None)
    if c is None:
        pytest.skip(f"{key} cannot run here")
    if key == "lanes f+b":            # the gradients, against the dynamic graph's
        c.step()
        assert all(math.isclose(g, r, rel_tol=1e-9, abs_tol=1e-15)
                   for g, r in zip([p.grad for p in c.params], _hinge_reference(), strict=True))
    else:                             # the loss of step 0, against the dynamic graph's
        reference = bench.RegradPure()
        reference.setup(bench.Workload())
        assert math.isclose(c.step(0), reference.step(0), rel_tol=1e-9)
    counter = iter(range(1, 10**9))
    benchmark.pedantic(lambda: c.step(next(counter) % 100), setup=_collect, rounds=200,
                       warmup_rounds=5)


def test_lanes_threads(benchmark):
    benchmark.group = "lanes: forward + backward on 10^4 points, 2 threads"
    one, c = LanesAlone(10_000, threads=1), LanesAlone(10_000, threads=2)
    one.step()
    c.step()
    assert [p.grad for p in c.params] == [p.grad for p in one.params]   # the same bits
    benchmark.pedantic(c.step, setup=_collect, rounds=20, warmup_rounds=2)


# ---------------------------------------------------------- the comparison

def _interleave(cs, rounds, steps, clock=time.process_time):
    """Median seconds per step of each, and median per-round ratios to the first.
    CPU time by default, so that waiting for a core on a busy machine is not
    counted (threads: wall time)."""
    times = {c.key: [] for c in cs}
    ratios = {c.key: [] for c in cs}
    for c in cs:
        for k in range(10):
            c.step(k)
    for r in range(rounds):
        order = cs[r % len(cs):] + cs[:r % len(cs)]
        this = {}
        for c in order:
            t0 = clock()
            for k in range(steps):
                c.step(k)
            this[c.key] = (clock() - t0) / steps
            times[c.key].append(this[c.key])
        for c in cs:
            ratios[c.key].append(this[c.key] / this[cs[0].key])
    return ({k: statistics.median(v) for k, v in times.items()},
            {k: statistics.median(v) for k, v in ratios.items()})


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=200)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--points", type=int, default=10_000)
    a = p.parse_args(argv)
    cs = contenders()
    med, ratio = _interleave(cs, a.rounds, a.steps)
    print(f"moons step, {a.rounds} interleaved rounds of {a.steps} steps, one thread, CPU time")
    for c in cs:
        print(f"  {c.key:<10} {med[c.key] * 1e6:8.1f} us per step (median); "
              f"{ratio[c.key]:.2f}x lanes' time (median of per-round ratios)")
    one, two = LanesAlone(a.points, threads=1), LanesAlone(a.points, threads=2)
    one.key, two.key = "1 thread", "2 threads"
    med, ratio = _interleave([one, two], max(a.rounds // 10, 5), 3, time.perf_counter)
    print(f"forward + backward on {a.points:,} points: 1 thread {med['1 thread'] * 1e3:.2f} ms, "
          f"2 threads {med['2 threads'] * 1e3:.2f} ms: {1 / ratio['2 threads']:.2f}x "
          "(median of per-round ratios; wall time)")


if __name__ == "__main__":
    sys.exit(main())
