"""Scaling: build + backward + free of graphs from 10^3 to 10^6 nodes.

Three shapes (``regrad.apps.bench.scaling_graph``):

- ``chain``: ``y = y * w + b`` repeated, a graph as deep as it is large;
- ``sum``: ``sum(xs)`` over leaves that require grad (the leaves are made
  once, outside the timing, like a model's parameters);
- ``mlp``: the moons loss graph of MLP(2, [16, 16, 1]) over as many points as
  it takes to reach the size.

Each benchmark times one whole graph: building it, ``backward()``, and
letting it go. Divided by the node count (``extra_info["nodes"]``; the
summary prints nanoseconds per node) the cost should stay flat as graphs
grow. The compiled engine runs every size; the pure engine up to 10^5
(a graph of 10^6 nodes takes it several seconds, and a benchmark runs at
least five).
"""
import pytest

from regrad.apps.bench import SCALING_SHAPES, scaling_graph

SIZES = (10**3, 10**4, 10**5, 10**6)
LARGEST = {"compiled": 10**6, "pure": 10**5}
ENGINES = {"compiled": "cython", "pure": "python"}

# graphs of 10^5 nodes and more take seconds each: slow as a smoke test
CASES = [pytest.param(name, shape, size, id=f"{name}-{shape}-1e{len(str(size)) - 1}",
                      marks=[pytest.mark.slow] if size >= 10**5 else [])
         for name in ENGINES for shape in SCALING_SHAPES for size in SIZES
         if size <= LARGEST[name]]


@pytest.mark.parametrize("name, shape, size", CASES)
def test_build_backward_free(benchmark, per_node, name, shape, size):
    graph = scaling_graph(shape, ENGINES[name], size)
    benchmark.group = f"scaling {shape}, {name} engine"
    benchmark.extra_info.update(engine=name, shape=shape)
    benchmark(graph.run)
    per_node(benchmark, graph.nodes)
    assert 0.9 * size <= graph.nodes <= 1.1 * size or shape == "mlp"
