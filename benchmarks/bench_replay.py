"""Static-graph replay on the moons step, against the dynamic engine and PyTorch.

The step is GUIDE.md's: MLP(2, [16, 16, 1]) on 100 two-moons points (noise
0.1), hinge loss ``relu(1 - y*score)`` averaged plus 1e-4 * sum(p*p), SGD with
``lr = 1.0 - 0.9*k/100``. Three ways of running it:

- ``replay``: the loss graph recorded once (``regrad.compile``); a step is
  ``tape.forward()``, zeroing the gradients, ``tape.backward()`` and the
  update of the 337 parameters by ``regrad.optim.SGD``;
- ``dynamic``: ``regrad.apps.moons.step`` on the compiled engine (builds the graph);
- ``torch``: PyTorch, the same MLP as float64 matrices, one thread.

As a pytest-benchmark suite (``python -m pytest benchmarks/bench_replay.py
--benchmark-enable``) each is timed on its own. For the comparison that counts
on a noisy machine, run it as a script: the contenders alternate in one
process, and the median of the per-round ratios is printed with the replay's
nanoseconds per node::

    python benchmarks/bench_replay.py [--rounds 300] [--steps 10]
"""
import argparse
import gc
import statistics
import sys
import time

import pytest

from regrad.apps import bench
from regrad.apps.bench import Workload

class Running:
    """A contender of the comparison report (``regrad.apps.bench``), stepping
    with k = 0, 1, 2, ... on the report's workload."""

    def __init__(self, contender, name):
        self.contender, self.name, self.k = contender, name, 0
        contender.setup(Workload())
        self.params = getattr(contender, "params", None)

    def step(self):
        value = self.contender.step(self.k)
        self.k += 1
        return value


def Replay():
    r = Running(bench.RegradReplay(), "replay")
    r.tape, r.nodes = r.contender.tape, r.contender.tape.size
    return r


def Dynamic():
    return Running(bench.RegradCompiled(), "dynamic")


def TorchBatched():
    return Running(bench.TorchBatched(), "torch")


def _have_torch():
    return bench.TorchBatched().missing() is None


# ------------------------------------------------------ pytest-benchmark suite

def _collect():
    gc.collect()          # untimed, before each round (pedantic wants None back)

@pytest.fixture(scope="module")
def replay():
    r = Replay()
    r.step()
    return r


def test_replay_step(benchmark, replay):
    benchmark.group = "moons step: replay vs dynamic vs PyTorch batched"
    benchmark.extra_info["nodes"] = replay.nodes
    before = [p.val for p in replay.params]
    benchmark.pedantic(replay.step, setup=_collect, rounds=200, warmup_rounds=5)
    assert [p.val for p in replay.params] != before


def test_dynamic_step(benchmark):
    benchmark.group = "moons step: replay vs dynamic vs PyTorch batched"
    d = Dynamic()
    before = [p.val for p in d.params]
    benchmark.pedantic(d.step, setup=_collect, rounds=20, warmup_rounds=1)
    assert [p.val for p in d.params] != before


def test_torch_batched_step(benchmark):
    if not _have_torch():
        pytest.skip("PyTorch is not installed")
    benchmark.group = "moons step: replay vs dynamic vs PyTorch batched"
    t = TorchBatched()
    first = t.step()
    benchmark.pedantic(t.step, setup=_collect, rounds=200, warmup_rounds=5)
    assert t.step() < first                     # it trains


# ---------------------------------------------------------- the comparison

def compare(rounds=300, steps=10, dynamic_every=10, out=sys.stdout):
    """Alternate the contenders in one process: each round times ``steps``
    steps of each (order rotated each round; the dynamic engine, 100 times
    slower, every ``dynamic_every`` rounds, one step). Returns a dict of
    medians (seconds per step), the median ratios and the replay's ns/node."""
    contenders = [Replay()]
    if _have_torch():
        contenders.append(TorchBatched())
    dynamic = Dynamic() if dynamic_every else None
    for c in contenders:                       # warm up
        for _ in range(20):
            c.step()
    gc.collect()                               # then the collector runs as in training
    nodes, ops = contenders[0].nodes, contenders[0].tape.size - len(contenders[0].tape.leaves)
    times = {c.name: [] for c in contenders}
    times["dynamic"] = []
    ratios = {"torch": [], "dynamic": []}
    for r in range(rounds):
        order = contenders[r % len(contenders):] + contenders[:r % len(contenders)]
        this = {}
        for c in order:
            t0 = time.perf_counter()
            for _ in range(steps):
                c.step()
            this[c.name] = (time.perf_counter() - t0) / steps
            times[c.name].append(this[c.name])
        if "torch" in this:
            ratios["torch"].append(this["torch"] / this["replay"])
        if dynamic is not None and r % dynamic_every == 0:
            t0 = time.perf_counter()
            dynamic.step()
            t = time.perf_counter() - t0
            times["dynamic"].append(t)
            ratios["dynamic"].append(t / this["replay"])
    # the replay's parts on their own: forward, backward
    replay = contenders[0]
    parts = {"forward": [], "backward": []}
    for _ in range(rounds):
        t0 = time.perf_counter()
        replay.tape.forward()
        t1 = time.perf_counter()
        replay.tape.backward()
        parts["forward"].append(t1 - t0)
        parts["backward"].append(time.perf_counter() - t1)
    for p in replay.params:
        p.grad = None
    med = {k: statistics.median(v) for k, v in times.items() if v}
    best = {k: min(v) for k, v in times.items() if v}
    result = dict(seconds=med, best_seconds=best, nodes=nodes, operations=ops,
                  ns_per_node=med["replay"] / nodes * 1e9,
                  ns_per_operation=med["replay"] / ops * 1e9,
                  ns_per_node_best=best["replay"] / nodes * 1e9,
                  ns_per_node_forward=statistics.median(parts["forward"]) / nodes * 1e9,
                  ns_per_node_backward=statistics.median(parts["backward"]) / nodes * 1e9,
                  replay_faster_rounds=(sum(r > 1 for r in ratios["torch"]) / len(ratios["torch"])
                                        if ratios["torch"] else None),
                  torch_over_replay=statistics.median(ratios["torch"]) if ratios["torch"] else None,
                  dynamic_over_replay=(statistics.median(ratios["dynamic"])
                                       if ratios["dynamic"] else None),
                  rounds=rounds, steps=steps)
    if out is not None:
        p = out.write
        p(f"moons step, {rounds} rounds of {steps} steps, interleaved in one process\n")
        p(f"tape: {nodes:,} nodes ({ops:,} operations, {nodes - ops:,} leaves)\n")
        for name in ("replay", "torch", "dynamic"):
            if name in med:
                p(f"  {name:<8} {med[name] * 1e3:8.3f} ms per step (median), "
                  f"{best[name] * 1e3:.3f} ms (best round)\n")
        p(f"replay: {result['ns_per_node']:.2f} ns per node, "
          f"{result['ns_per_operation']:.2f} ns per operation, median "
          f"({result['ns_per_node_best']:.2f} ns per node in the best round); "
          "forward + zero_grad + backward + update\n")
        p(f"  of which tape.forward() {result['ns_per_node_forward']:.2f} ns per node, "
          f"tape.backward() {result['ns_per_node_backward']:.2f} (medians, alone)\n")
        if result["torch_over_replay"] is not None:
            p(f"PyTorch batched / replay: {result['torch_over_replay']:.2f}x "
              "(median of per-round ratios; > 1: replay is faster), replay faster in "
              f"{100 * result['replay_faster_rounds']:.0f}% of the rounds\n")
        if result["dynamic_over_replay"] is not None:
            p(f"dynamic engine / replay:  {result['dynamic_over_replay']:.1f}x\n")
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--dynamic-every", type=int, default=10,
                        help="time one dynamic step every N rounds (0: never)")
    args = parser.parse_args(argv)
    compare(args.rounds, args.steps, args.dynamic_every)
    return 0


if __name__ == "__main__":
    sys.exit(main())
