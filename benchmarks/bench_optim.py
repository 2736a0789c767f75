"""regrad.optim's update on the 337 parameters of MLP(2, [16, 16, 1]).

Contenders, all on compiled Vars holding the same gradients:

- ``compiled``: ``SGD(params, lr).step()``, the C loop of ``regrad._optim``;
- ``pure``: the same optimizer running its reference loop (``regrad/optim.py``);
- ``hand``: ``for p in params: p.val -= lr * p.grad``, as a training loop writes it;
- ``adam compiled`` / ``adam pure``: ``Adam(params).step()`` both ways.

The gradients are tiny, so the parameters barely move however long it runs.
As a pytest-benchmark suite each is timed on its own; run as a script, the
contenders alternate in one process and the median per-round ratios are
printed::

    python benchmarks/bench_optim.py [--rounds 400] [--steps 20]
"""
import argparse
import random
import statistics
import sys
import time

import pytest

import regrad
from regrad import optim
from regrad.nn import MLP

LR = 1e-3


def _params(seed=1):
    random.seed(seed)
    params = MLP(2, [16, 16, 1], engine="cython").parameters()
    for p in params:
        p.grad = random.uniform(-1e-9, 1e-9)
    return params


def _optimizer(kind, params, compiled):
    saved = optim._compiled_optim
    if not compiled:
        optim._compiled_optim = lambda: None      # the reference loop
    try:
        opt = getattr(optim, kind)(params, lr=LR)
    finally:
        optim._compiled_optim = saved
    assert (type(opt._kernels[0]).__name__ == kind + "Kernel") == compiled
    return opt


def contenders():
    params = _params()

    def hand():
        for p in params:
            p.val -= LR * p.grad

    return {"compiled": _optimizer("SGD", params, True).step,
            "pure": _optimizer("SGD", params, False).step,
            "hand": hand,
            "adam compiled": _optimizer("Adam", params, True).step,
            "adam pure": _optimizer("Adam", params, False).step}


# ------------------------------------------------------ pytest-benchmark suite

@pytest.mark.parametrize("name", ["compiled", "pure", "hand", "adam compiled", "adam pure"])
def test_update(benchmark, name):
    benchmark.group = "optimizer update, 337 parameters"
    benchmark(contenders()[name])


# ---------------------------------------------------------- the comparison

def compare(rounds=400, steps=20, out=sys.stdout):
    """Alternate the contenders (order rotated each round); returns the
    medians (seconds per update) and the median ratios to ``compiled``."""
    runs = contenders()
    names = list(runs)
    times = {name: [] for name in names}
    ratios = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        this = {}
        for name in order:
            f = runs[name]
            t0 = time.perf_counter()
            for _ in range(steps):
                f()
            this[name] = (time.perf_counter() - t0) / steps
            times[name].append(this[name])
        for name in names:
            ratios[name].append(this[name] / this["compiled"])
    med = {name: statistics.median(v) for name, v in times.items()}
    ratio = {name: statistics.median(v) for name, v in ratios.items()}
    print(f"optimizer update of 337 parameters, {rounds} rounds x {steps} updates, "
          f"regrad {regrad.__version__}", file=out)
    for name in names:
        print(f"  {name:14s} {med[name] * 1e6:8.2f} us  {ratio[name]:6.2f}x compiled SGD",
              file=out)
    return med, ratio


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    compare(args.rounds, args.steps)
