"""Timing and memory: contenders' steps interleaved round-robin, bytes and
RSS per node, build + backward + free as graphs grow."""
import gc
import math
import os
import statistics
import time
import tracemalloc

from .bench_workload import SCALING_SHAPES, SCALING_SIZES, count_nodes, scaling_graph


def _median(xs):
    return statistics.median(xs) if xs else math.nan


def _say(progress, text):
    if progress is not None:
        progress.write(text + "\n")
        progress.flush()


#: what ``--clock`` offers: the clock that times each step
CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


class Usage:
    """Wall time and CPU time spent in timed code: their ratio says how much
    of a core the measured code got (on a busy machine, less than 1)."""

    def __init__(self):
        self.wall = self.cpu = 0.0

    def add(self, wall, cpu):
        self.wall += wall
        self.cpu += cpu

    @property
    def share(self):
        return self.cpu / self.wall if self.wall > 0 else math.nan


def _timed(fn, arg, clock, usage):
    w0, c0 = time.perf_counter(), time.process_time()
    if arg is None:
        fn()
    else:
        fn(arg)
    w1, c1 = time.perf_counter(), time.process_time()
    usage.add(w1 - w0, c1 - c0)
    return (c1 - c0) if clock == "cpu" else (w1 - w0), w1


def measure_steps(contenders, rounds=5, min_time=0.2, clock="cpu", progress=None,
                  usage=None):
    """Time ``step()`` of each (set-up) contender, interleaved: ``rounds``
    rounds, each running every contender for at least ``min_time`` seconds
    of wall time (and at least one step), in an order rotated every round.
    Each step is timed by ``clock``: ``"cpu"`` (this process's CPU time, so
    waiting for a core on a busy machine is not counted) or ``"wall"``.
    Returns ``{key: [median step time of each round, in seconds]}`` and
    ``{key: steps run}``; every contender's step counter continues from
    ``c.next_step``. A contender whose ``step(k)`` runs ``steps_per_call``
    steps (steps k, k+1, ...) is timed per call, divided by that. ``usage`` (a ``Usage``) adds up wall and CPU time."""
    usage = Usage() if usage is None else usage
    per_round = {c.key: [] for c in contenders}
    steps = {c.key: 0 for c in contenders}
    n = len(contenders)
    for r in range(rounds):
        _say(progress, f"  round {r + 1}/{rounds}")
        order = [contenders[(i + r) % n] for i in range(n)]
        for c in order:
            gc.collect()
            times = []
            start = time.perf_counter()
            per_call = getattr(c, "steps_per_call", 1)
            while True:
                t, end = _timed(c.step, c.next_step, clock, usage)
                c.next_step += per_call
                times.append(t / per_call)
                if end - start >= min_time:
                    break
            per_round[c.key].append(_median(times))
            steps[c.key] += len(times) * per_call
    return per_round, steps


def _round16(size):
    return size if size > 512 else -(-size // 16) * 16


def measure_bytes(contender):
    """Bytes held per node of ``contender``'s loss graph: ``(requested,
    rounded, nodes)``, or None without a graph. After ``gc.collect()``, the
    graph is built once under tracemalloc (started for this, so it sees only
    what the build allocates and still holds); ``requested`` is what those
    allocations asked for, ``rounded`` the same with each small block rounded
    up to pymalloc's 16-byte size classes."""
    if not contender.has_graph:
        return None
    if tracemalloc.is_tracing():
        raise RuntimeError("measure_bytes needs tracemalloc to be off: it starts it itself")
    hold = contender.drain()
    gc.collect()
    tracemalloc.start()
    try:
        root = contender.build_graph()
        snapshot = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    requested = rounded = 0
    for trace in snapshot.traces:
        requested += trace.size
        rounded += _round16(trace.size)
    del snapshot
    nodes = count_nodes(root, contender.inputs)
    del root, hold
    return requested / nodes, rounded / nodes, nodes


def measure_rss(contender, graphs=5):
    """Bytes of resident memory per node of ``contender``'s loss graph, or
    None (no graph, or no /proc/self/statm): the growth of the process's RSS
    while ``graphs`` loss graphs are built and held, divided by their nodes.
    Memory the process already holds for reuse (the compiled engine's pool,
    given back first; pymalloc's free pools, not) is not counted."""
    if not contender.has_graph or not os.path.exists("/proc/self/statm"):
        return None
    import regrad
    page = os.sysconf("SC_PAGE_SIZE")

    def rss():
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * page

    gc.collect()
    regrad.release_memory()
    before = rss()
    roots = [contender.build_graph() for _ in range(graphs)]
    grown = rss() - before
    nodes = count_nodes(roots[0], contender.inputs)
    del roots
    return grown / (graphs * nodes)


def measure_scaling(shapes=SCALING_SHAPES, sizes=SCALING_SIZES, rounds=3, min_time=0.1,
                    engine="cython", clock="cpu", progress=None, usage=None):
    """Build + backward + free of ``scaling_graph(shape, engine, size)``,
    interleaved over sizes: per shape, ``rounds`` rounds each running every
    size for at least ``min_time`` seconds of wall time (at least once),
    timed by ``clock`` (see ``measure_steps``). Returns
    ``{shape: {size: (nodes, [seconds per run, median of each round])}}``."""
    usage = Usage() if usage is None else usage
    out = {}
    for shape in shapes:
        _say(progress, f"  scaling: {shape}")
        graphs = [scaling_graph(shape, engine, n) for n in sizes]
        times = {g.size: [] for g in graphs}
        for r in range(rounds):
            order = graphs[r % len(graphs):] + graphs[:r % len(graphs)]
            for g in order:
                gc.collect()
                runs = []
                start = time.perf_counter()
                while True:
                    t, end = _timed(g.run, None, clock, usage)
                    runs.append(t)
                    if end - start >= min_time:
                        break
                times[g.size].append(_median(runs))
        out[shape] = {g.size: (g.nodes, times[g.size]) for g in graphs}
        del graphs
    return out


def _paired_ratio(num, den):
    """Median over rounds of num[r] / den[r]."""
    return _median([a / b for a, b in zip(num, den) if b > 0])
