"""Shared pieces of the benchmark suites: the per-node summary of the scaling runs.

The suites are pytest-benchmark tests. ``python -m pytest`` runs each of them
once as a smoke test (``--benchmark-disable`` is in the project's addopts);
to measure::

    python -m pytest benchmarks --benchmark-enable --benchmark-autosave
    pytest-benchmark compare            # the saved runs, side by side

After a measuring run the scaling suite adds a table of nanoseconds per node
to the terminal summary (pytest-benchmark's own table shows time per graph).
"""
import pytest

_PER_NODE = pytest.StashKey[list]()


@pytest.fixture
def per_node(request):
    """``per_node(benchmark, nodes)``: after a benchmark ran, record its
    median and minimum time per node (also saved in its ``extra_info``)."""
    rows = request.config.stash.setdefault(_PER_NODE, [])

    def record(benchmark, nodes):
        benchmark.extra_info["nodes"] = nodes
        stats = getattr(benchmark, "stats", None)
        if not stats:                     # --benchmark-disable: nothing was timed
            return
        median = stats.stats.median / nodes * 1e9
        best = stats.stats.min / nodes * 1e9
        benchmark.extra_info["ns_per_node_median"] = median
        benchmark.extra_info["ns_per_node_min"] = best
        rows.append((benchmark.group or "", nodes, median, best))

    return record


def pytest_terminal_summary(terminalreporter, config):
    rows = config.stash.get(_PER_NODE, None)
    if not rows:
        return
    tr = terminalreporter
    tr.section("build + backward + free: nanoseconds per node")
    width = max(len(g) for g, *_ in rows)
    tr.write_line(f"{'graph':<{width}}  {'nodes':>9}  {'median':>8}  {'min':>8}")
    for group, nodes, median, best in sorted(rows):
        tr.write_line(f"{group:<{width}}  {nodes:>9,}  {median:>8.1f}  {best:>8.1f}")
