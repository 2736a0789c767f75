"""Long training runs keep memory flat, on both engines, dynamic and replayed.

The moons-like step is the project's own (``regrad.apps.moons``): MLP(2, [16, 16, 1])
from ``tools.nn``, hinge loss plus L2, SGD. The compiled engine runs the full
step (100 points, about 65,800 nodes a graph); the pure engine runs 4-point
mini-batches (about 3,300 nodes) drawn at random each step, so that its runs
fit in CI. A dynamic step builds a fresh graph and releases it; a replay step
(``regrad.compile``) reruns one recorded tape.

Each run happens in a fresh subprocess (this file run as a script), with the
garbage collector disabled, so that memory which comes back does so by
reference counting alone:

- RSS after a warm-up and after the run (no tracemalloc, which costs memory);
- tracemalloc: the memory traced after each window of steps, every window
  ending where the first began (a leak of one node a step shows);
- ``gc.collect()`` at the end finds nothing to collect: no reference cycles.

These runs are marked ``slow``: CI runs them in its second step (``-m slow``),
300 steps of each for RSS and 100 for tracemalloc (which slows Python down),
after a warm-up of 60. The long variants, 10,000 steps of each (about an
hour), run only with ``REGRAD_LONG=1``.
"""
import array
import gc
import json
import os
import random
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LONG = os.environ.get("REGRAD_LONG", "") not in ("", "0")

BATCH = {"cython": 100, "python": 4}
WARMUP = 60
# what a flat run may still grow by (allocator noise); a graph is megabytes
RSS_BUDGET = {"bounded": 4 << 20, "long": 8 << 20}
# per window of tracemalloc (20 steps in CI): one node leaked a step is over
# 960 bytes a window (48 bytes a compiled node), a flat run 0 to 200 bytes
TRACED_BUDGET = 768


needs_long = pytest.mark.skipif(not LONG, reason="long variant (about an hour): REGRAD_LONG=1")


# ------------------------------------------------------------ the child side

def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def make_step(engine_name, mode):
    """A function doing one training step (and the model it trains)."""
    import regrad
    from regrad.apps.moons import make_moons, build_model, step, ReplayStep
    engine = regrad.get_engine(engine_name)
    X, y = make_moons(100, noise=0.1, seed=1)
    model = build_model([16, 16], seed=0, engine=engine)
    params = model.parameters()
    batch = BATCH[engine_name]
    rng = random.Random(0)
    replay = ReplayStep(model, 1e-4, params) if mode == "replay" else None
    losses = []

    def one_step(k):
        if batch < len(X):
            idx = rng.sample(range(len(X)), batch)
            Xb, yb = [X[i] for i in idx], [y[i] for i in idx]
        else:
            Xb, yb = X, y
        lr = 0.5 * (1.0 - 0.9 * (k % 1000) / 1000)
        if replay is not None:
            value, _ = replay(Xb, yb, lr)
        else:
            value, _ = step(model, Xb, yb, lr, 1e-4, params)
        if k < 2:
            losses.append(value)
        return value

    return one_step, params, losses


def child(kind, engine_name, mode, steps):
    """Run ``steps`` training steps and report what memory did, as JSON."""
    import tracemalloc
    gc.collect()
    gc.disable()
    windows = 5
    per_window = steps // windows
    marks = array.array("q", [0] * (windows + 1))   # storing in it allocates nothing
    if kind == "tracemalloc":
        tracemalloc.start()
    one_step, params, losses = make_step(engine_name, mode)
    k = 0
    for _ in range(WARMUP):
        one_step(k)
        k += 1
    measure = (lambda: tracemalloc.get_traced_memory()[0]) if kind == "tracemalloc" \
        else rss_bytes
    marks[0] = measure()
    start = time.perf_counter()
    last = None
    for w in range(windows):
        for _ in range(per_window):
            last = one_step(k)
            k += 1
        marks[w + 1] = measure()
    seconds = time.perf_counter() - start
    peak = None
    if kind == "tracemalloc":
        tracemalloc.reset_peak()
        one_step(k)
        peak = tracemalloc.get_traced_memory()[1] - tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
    collected = gc.collect()
    print(json.dumps({"marks": list(marks), "steps": per_window * windows, "seconds": seconds,
                      "collected": collected, "garbage": len(gc.garbage), "peak": peak,
                      "last_loss": last,
                      "finite": all(abs(p.val) < 1e6 for p in params)}))


def run_child(kind, engine_name, mode, steps):
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), kind, engine_name, mode, str(steps)],
        capture_output=True, text=True, cwd=ROOT, timeout=6 * 3600,
        env=dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")))
    assert proc.returncode == 0, f"exit status {proc.returncode}\n{proc.stderr[-4000:]}"
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"{kind} {engine_name} {mode}: {result}")
    return result


# ------------------------------------------------------------- the tests

CASES = [(e, m) for e in ("cython", "python") for m in ("dynamic", "replay")]
IDS = [f"{e}-{m}" for e, m in CASES]


needs_proc = pytest.mark.skipif(not os.path.exists("/proc/self/statm"),
                                reason="RSS is read from /proc (Linux)")


def check_rss(result, budget):
    marks = result["marks"]
    assert result["finite"], "training diverged"
    assert result["collected"] == 0 and result["garbage"] == 0, "reference cycles"
    growth = marks[-1] - marks[0]
    assert growth <= budget, (
        f"RSS grew by {growth / 2**20:.1f} MiB over {result['steps']} steps "
        f"({[m >> 10 for m in marks]} KiB)")


def check_traced(result):
    marks = result["marks"]
    assert result["finite"], "training diverged"
    assert result["collected"] == 0 and result["garbage"] == 0, "reference cycles"
    growth = [b - a for a, b in zip(marks, marks[1:])]
    assert all(g <= TRACED_BUDGET for g in growth), (
        f"traced memory grew per window of {result['steps'] // 5} steps: {growth} bytes")


@pytest.mark.slow
@needs_proc
@pytest.mark.parametrize("engine_name, mode", CASES, ids=IDS)
def test_rss_flat_over_300_steps(engine_name, mode):
    check_rss(run_child("rss", engine_name, mode, 300), RSS_BUDGET["bounded"])


@pytest.mark.slow
@pytest.mark.parametrize("engine_name, mode", CASES, ids=IDS)
def test_traced_memory_flat_over_100_steps(engine_name, mode):
    result = run_child("tracemalloc", engine_name, mode, 100)
    check_traced(result)
    if mode == "dynamic":
        # one step's graph is allocated and given back within the step
        assert result["peak"] > 100_000


@pytest.mark.slow
@needs_long
@needs_proc
@pytest.mark.parametrize("engine_name, mode", CASES, ids=IDS)
def test_rss_flat_over_10k_steps(engine_name, mode):
    check_rss(run_child("rss", engine_name, mode, 10_000), RSS_BUDGET["long"])


@pytest.mark.slow
@needs_long
@pytest.mark.parametrize("engine_name, mode", CASES, ids=IDS)
def test_traced_memory_flat_over_10k_steps(engine_name, mode):
    check_traced(run_child("tracemalloc", engine_name, mode, 10_000))


# ----------------------------------------- graphs freed by reference counting

def _graph(Var, n=2000):
    """A graph with shared subexpressions, fan-out and every operator."""
    x = Var(0.3, req_grad=True)
    w = Var(-1.2, req_grad=True)
    h = (x * w).tanh()
    total = Var(0.0)
    for i in range(n):
        t = (h * (i % 7) + x).sigmoid() - (w * 0.5).exp() / (x ** 2 + 1).sqrt()
        total = total + t.relu() + (-t).abs() + (h + 2).log() * t.sin() * t.cos()
    return x, w, total


#: graph sizes (loop iterations of _graph, 25 nodes each) well beyond any
#: freelist, so that what stays allocated after a drop is the freelists alone
DROP_SIZES = {"cython": (6_000, 12_000), "python": (300, 600)}


@pytest.mark.slow
@pytest.mark.parametrize("how", ["dropped", "retain_graph", "backward", "compiled tape",
                                 "retained tape"])
def test_a_dropped_graph_is_freed_at_once(engine, how):
    """With the garbage collector off, dropping the last reference to a graph
    (before or after backward, or to a tape) gives its memory back at once.
    Once a first graph has filled the freelists (of nodes, tuples, floats),
    which are bounded, every graph dropped leaves traced memory where it was,
    a graph twice as large included."""
    import tracemalloc
    import regrad
    small, large = DROP_SIZES["cython" if engine.__name__.endswith("_core") else "python"]
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    tracemalloc.start()

    def build_and_drop(n):
        x, w, root = _graph(engine.Var, n)
        built = tracemalloc.get_traced_memory()[0]
        tape = None
        if how == "retain_graph":
            root.backward(retain_graph=True)
        elif how == "backward":
            root.backward()
        elif how == "compiled tape":
            tape = regrad.compile(root)
            tape.forward()
            tape.backward()
        elif how == "retained tape":
            tape = regrad.compile(root, retain_graph=True)
            tape.forward()
            tape.backward()
        del x, w, root, tape
        return built, tracemalloc.get_traced_memory()[0]

    try:
        build_and_drop(small)       # fills the freelists with traced objects
        base = tracemalloc.get_traced_memory()[0]
        for n in (small, large, small):
            built, kept = build_and_drop(n)
            assert built - base > 500_000                       # a big graph ...
            assert kept - base <= 4096, (                       # ... all given back
                f"{kept - base} of {built - base} bytes still allocated after the drop")
        assert gc.collect() == 0
    finally:
        tracemalloc.stop()
        if was_enabled:
            gc.enable()


def test_compiled_nodes_need_no_cyclic_gc():
    """The compiled node type is not tracked by the cyclic GC (no cycles can
    form, nodes only point to older nodes); the pure one may be, and must
    still never need it (checked above)."""
    import regrad
    Var = regrad.get_engine("cython").Var
    x = Var(1.0, req_grad=True)
    assert not gc.is_tracked(x) and not gc.is_tracked(x * x)


@pytest.mark.parametrize("count, size", [(2**61 + 1, 8), (2**62, 4), (2**63 - 1, 2)])
def test_an_array_too_large_to_address_is_refused(count, size):
    """The compiled modules' arrays (regrad/_alloc.pxd) multiply a count by an
    item size: a product past the address space raises MemoryError, where an
    unchecked one would wrap around to a small allocation (2**61 + 1 items of
    8 bytes: 8 bytes) and the writes that follow would overrun it."""
    _replay = pytest.importorskip("regrad._replay")
    assert _replay._allocates(1000, 8) and _replay._allocates(0, 8)
    with pytest.raises(MemoryError, match="more memory than this machine can address"):
        _replay._allocates(count, size)


if __name__ == "__main__":
    child(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
