"""Drawing time against graph size: ``python benchmarks/bench_draw.py``.

Times ``regrad.draw.draw(root, max_nodes=None)`` (collect, layout, SVG text)
on graphs of 10^2 to 10^4 nodes and prints one Markdown table row per graph:
nodes, seconds, microseconds per node. The shapes (``regrad.apps.bench``):

- ``chain``: ``y = y * w + b`` repeated with the same ``w`` and ``b``, so two
  leaves feed every step of a graph as deep as it is large;
- ``moons``: the hinge loss of MLP(2, [16, 16, 1]) (``regrad.apps.moons``,
  without the weight penalty) over 1 to 15 two-moons samples: 984 nodes for
  one, then about 650 a sample (the parameters feed every sample).

``--view compact`` times the compact view instead. An absolute time only
describes the machine it ran on; compare the per-node column across sizes.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from regrad.apps.bench import scaling_graph  # noqa: E402
from regrad.draw import draw  # noqa: E402

SIZES = {"chain": (100, 300, 1000, 3000, 10000), "moons": (1, 3, 5, 15)}


def graph(shape, size):
    """The root of a graph of ``shape``; ``size`` is nodes for ``chain``,
    samples for ``moons``."""
    if shape == "chain":
        return scaling_graph("chain", "cython", size).root()
    from regrad.apps.moons import build_model, loss, make_moons
    model = build_model((16, 16), seed=1337)
    X, y = make_moons(size, 0.1, 1337)
    return loss(model, X, y, alpha=0)[0]


def time_draw(root, repeat, **kwargs):
    """The best of ``repeat`` runs: (wall-clock seconds, CPU seconds, drawing).
    On a shared machine the CPU time is the steadier of the two."""
    wall = cpu = None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        d = draw(root, max_nodes=None, **kwargs)
        t, c = time.perf_counter() - t, time.process_time() - c
        wall = t if wall is None else min(wall, t)
        cpu = c if cpu is None else min(cpu, c)
    return wall, cpu, d


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="*", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (the best counts)")
    parser.add_argument("--view", default="full")
    args = parser.parse_args(argv)
    print("| graph | nodes | edges | seconds | CPU seconds | CPU µs per node |")
    print("|---|---:|---:|---:|---:|---:|")
    for shape in args.shapes:
        for size in SIZES[shape]:
            root = graph(shape, size)
            kwargs = {} if args.view == "full" else {"view": args.view}
            wall, cpu, d = time_draw(root, args.repeat, **kwargs)
            name = shape if shape == "chain" else f"moons, {size} sample{'s' * (size > 1)}"
            print(f"| {name} | {d.node_count:,} | {d.edge_count:,} | {wall:.2f} | {cpu:.2f} | "
                  f"{cpu / d.node_count * 1e6:.0f} |", flush=True)


if __name__ == "__main__":
    main()
