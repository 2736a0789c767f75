"""Drawing time against graph size: ``python benchmarks/bench_draw.py``.

Times ``regrad.draw.draw(root, max_nodes=None)`` (collect, layout, SVG text)
on graphs of 10^2 to 10^4 nodes and prints one Markdown table row per graph:
nodes, seconds, microseconds per node. The shapes (``regrad.apps.bench``):

- ``chain``: ``y = y * w + b`` repeated with the same ``w`` and ``b``, so two
  leaves feed every step of a graph as deep as it is large;
- ``moons``: the hinge loss of MLP(2, [16, 16, 1]) (``regrad.apps.moons``,
  without the weight penalty) over 1 to 15 two-moons samples: 984 nodes for
  one, then about 650 a sample (the parameters feed every sample).

``--view compact`` times the compact view instead. ``--against FILE`` times
the layout step alone (CPU seconds), that of another version of
``regrad/draw/_layout.py`` saved as FILE then this one's, on each graph, with
their crossings and widths. An absolute time only describes the machine it ran
on; compare the per-node column across sizes.
"""
import argparse
import importlib.util
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from regrad.apps.bench import scaling_graph  # noqa: E402
from regrad.draw import draw, _layout  # noqa: E402
from regrad.draw._graph import collect  # noqa: E402
from regrad.draw._svg import _Box  # noqa: E402

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


def compare_layouts(graph, other):
    """The layout step of module ``other``, then of this version, on
    ``graph`` (from ``collect``): [(CPU seconds, crossings, width)] for each."""
    sizes = [(b.w, b.h) for b in map(_Box, graph.nodes)]
    edges = [(e.src, e.dst, e.port) for e in graph.edges]
    out = []
    for module in (other, _layout):
        c = time.process_time()
        lay = module.layout(len(sizes), edges, sizes)
        out.append((time.process_time() - c, lay.crossings, lay.extent[0]))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="*", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (the best counts)")
    parser.add_argument("--view", default="full")
    parser.add_argument("--against", metavar="FILE", help="another version's _layout.py")
    parser.add_argument("--max-nodes", type=int, default=None,
                        help="skip graphs with more nodes (e.g. with --against)")
    args = parser.parse_args(argv)
    if args.against:
        spec = importlib.util.spec_from_file_location("other_layout", args.against)
        other = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(other)
        print("| graph | nodes | other layout | this layout | crossings, other / this "
              "| width in px, other / this |")
        print("|---|---:|---:|---:|---:|---:|")
        for shape in args.shapes:
            for size in SIZES[shape]:
                g = collect(graph(shape, size), None)
                n = len(g.nodes)
                if args.max_nodes and n > args.max_nodes:
                    continue
                (t0, c0, w0), (t1, c1, w1) = compare_layouts(g, other)
                print(f"| {shape} | {n:,} | {t0:.2f} | {t1:.2f} | {c0:,} / {c1:,} | "
                      f"{w0:,.0f} / {w1:,.0f} |", flush=True)
        return
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
