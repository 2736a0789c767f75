"""Lanes on the moons step, against replay, NumPy by hand and JAX; threads.

The step is GUIDE.md's (see ``bench_replay.py``). Contenders, each one whole
step (loss, gradients, SGD update) from ``regrad.apps.bench``:

- ``lanes``: one point's loss recorded once (``regrad.compile(..., inputs=)``)
  and run over the 100 points (``regrad.apps.moons.LanesStep``);
- ``lanes f+b``: the batch tape's ``forward`` and ``backward`` alone, without
  the step's Python around them (L2 term, zero_grad, update, accuracy);
- ``replay``, ``numpy`` (hand-written backward), ``jax`` (``jit`` of the whole
  step; skipped without JAX), ``jax-loop`` (the same, ten steps a call, the
  loss read at the end), ``c`` (``moons_step.c``, written by hand; skipped
  without a C compiler).

As a pytest-benchmark suite (``python -m pytest benchmarks/bench_lanes.py
--benchmark-enable``) each is timed on its own. As a script, the contenders
alternate in one process and the medians and the median per-round ratios are
printed (after, on ``--points`` points (10^4), forward + backward and the
fused step (``BatchTape.step``) with 1 thread and with 2, bitwise and
``bitwise=False``); then the fused step's cost per point at 10^3 and 10^6
points and the memory it allocates per point::

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

    def __init__(self, points=100, threads=1, bitwise=True):
        E = regrad.get_engine("cython")
        X, y = moons.make_moons(points, 0.1, 1337)
        model = moons.build_model((16, 16), seed=1337, engine=E)
        self.params = model.parameters()
        x0, x1, t = E.Var(0.0), E.Var(0.0), E.Var(0.0)
        self.batch = regrad.compile((1 + t * model([x0, x1])).relu(), inputs=[x0, x1, t],
                                    threads=threads, bitwise=bitwise)
        self.data = array("d", [v for (a, b), c in zip(X, y) for v in (a, b, -c)])
        self.seed = 1.0 / points

    def step(self, k=0):
        self.batch.forward(self.data)
        self.batch.backward(self.seed)


class FusedStep(LanesAlone):
    """``BatchTape.step``: loss, L2 term, gradients and SGD update in one call
    (the accuracy and the Python of ``LanesStep`` left out)."""
    key = "lanes step"

    def __init__(self, points=100, threads=1, bitwise=True):
        from regrad.optim import SGD
        super().__init__(points, threads, bitwise)
        self.sgd = SGD(self.batch.params, lr=0.0)     # the update runs; the weights stay

    def step(self, k=0):
        return self.batch.step(self.data, self.sgd, 1e-4)


def contenders(only=None):
    """The contenders that can run here, set up: all, or the one keyed ``only``."""
    out = []
    work = bench.Workload()
    for cls in (bench.RegradLanes, bench.RegradReplay, bench.NumpyByHand, bench.JaxJit,
                bench.JaxLoop, bench.HandWrittenC):
        c = cls()
        if only in (None, c.key) and c.missing() is None:
            c.setup(work)
            out.append(c)
    return out[:1] + [cls() for cls in (LanesAlone, FusedStep) if only in (None, cls.key)] + out[1:]


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


@pytest.fixture(scope="module")
def pure_first_loss():
    """The loss of step 0 on the pure engine's dynamic graph."""
    reference = bench.RegradPure()
    reference.setup(bench.Workload())
    return reference.step(0)


@pytest.mark.parametrize("key", ["lanes", "lanes f+b", "lanes step", "replay", "numpy", "c"])
def test_moons_step(benchmark, key, pure_first_loss):
    benchmark.group = "moons step: lanes vs replay vs NumPy by hand"
    c = next(iter(contenders(only=key)), None)
    if c is None:
        pytest.skip(f"{key} cannot run here")
    if key == "lanes f+b":            # the gradients, against the dynamic graph's
        c.step()
        assert all(math.isclose(g, r, rel_tol=1e-9, abs_tol=1e-15)
                   for g, r in zip([p.grad for p in c.params], _hinge_reference(), strict=True))
    else:                             # the loss of step 0, against the dynamic graph's
        assert math.isclose(c.step(0), pure_first_loss, rel_tol=1e-9)
    counter = iter(range(1, 10**9))
    benchmark.pedantic(lambda: c.step(next(counter) % 100), setup=_collect, rounds=200,
                       warmup_rounds=5)


@pytest.mark.parametrize("cls", [LanesAlone, FusedStep], ids=lambda c: c.key)
def test_lanes_threads(benchmark, cls):
    benchmark.group = "lanes on 10^4 points, 2 threads"
    one, c = cls(10_000, threads=1), cls(10_000, threads=2)
    one.step()
    c.step()
    assert [p.grad for p in c.params] == [p.grad for p in one.params]   # the same bits
    benchmark.pedantic(c.step, setup=_collect, rounds=20, warmup_rounds=2)


def step_bytes_per_point(points):
    """What one fused step allocates and holds at its peak, per point
    (tracemalloc sees the tape's PyMem allocations)."""
    import tracemalloc
    c = FusedStep(points)
    c.step()
    tracemalloc.start()
    try:
        c.step()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak / points


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
            this[c.key] = (clock() - t0) / (steps * getattr(c, "steps_per_call", 1))
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
    p.add_argument("--threads-min", action="store_true",
                   help="only: 1 vs 2 threads on small batches, the "
                        "measure behind regrad._messages.LANES_PER_THREAD")
    a = p.parse_args(argv)
    if a.threads_min:
        return threads_min(a.rounds)
    for cls in (LanesAlone, FusedStep):       # first: JAX's threads, once started, compete
        one, two, apart = cls(a.points), cls(a.points, 2), cls(a.points, 2, bitwise=False)
        one.key, two.key, apart.key = "1 thread", "2 threads", "2 threads, bitwise=False"
        med, ratio = _interleave([one, two, apart], max(a.rounds // 10, 5), 3, time.perf_counter)
        print(f"{cls.key} on {a.points:,} points (wall time; speed-ups: medians of per-round "
              f"ratios): 1 thread {med[one.key] * 1e3:.2f} ms; " + "; ".join(
                  f"{c.key} {med[c.key] * 1e3:.2f} ms, {1 / ratio[c.key]:.2f}x" for c in (two, apart)))
    cs = contenders()
    med, ratio = _interleave(cs, a.rounds, a.steps)
    print(f"moons step, {a.rounds} interleaved rounds of {a.steps} steps, one thread, CPU time")
    for c in cs:
        print(f"  {c.key:<10} {med[c.key] * 1e6:8.1f} us per step (median); "
              f"{ratio[c.key]:.2f}x lanes' time (median of per-round ratios)")
    small, large = FusedStep(1_000), FusedStep(1_000_000)
    small.key, large.key = "10^3", "10^6"
    med, ratio = _interleave([small, large], 5, 1)
    print(f"fused step per point: {med['10^3'] / 1e3 * 1e9:.0f} ns at 10^3 points, "
          f"{med['10^6'] / 1e6 * 1e9:.0f} ns at 10^6: "
          f"{ratio['10^6'] / 1e3:.2f}x (median of per-round ratios; CPU time)")
    print("fused step, peak bytes allocated per point: "
          + ", ".join(f"{step_bytes_per_point(n):.1f} at {n:,}" for n in (1_000, 100_000)))


def threads_min(rounds):
    """1 thread against 2 (bitwise, and bitwise=False), every size split, per
    batch size."""
    import regrad._messages
    keep, regrad._messages.LANES_PER_THREAD = regrad._messages.LANES_PER_THREAD, 1
    try:
        for points in (250, 500, 1000, 2000, 4000):
            for cls in (LanesAlone, FusedStep):
                cs = [cls(points), cls(points, 2), cls(points, 2, bitwise=False)]
                for c, key in zip(cs, ("1", "2", "2 apart")):
                    c.key = key
                med, ratio = _interleave(cs, max(rounds // 10, 9), 5, time.perf_counter)
                print(f"{cls.key:<10} {points:>5} points: 1 thread {med['1'] * 1e6:6.0f} us; 2 threads: "
                      f"bitwise {1 / ratio['2']:.2f}x, bitwise=False {1 / ratio['2 apart']:.2f}x")
    finally:
        regrad._messages.LANES_PER_THREAD = keep


if __name__ == "__main__":
    sys.exit(main())
