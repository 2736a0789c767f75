"""The compiled engine's node allocator (``regrad/_pool.h``): nodes made one
after another sit one after another, a freed graph's memory goes to the next
one, what is kept is bounded, and ``regrad.release_memory()`` gives it back."""
import gc

import pytest

import regrad

core = pytest.importorskip("regrad._core")
Var = core.Var
pytestmark = pytest.mark.skipif(core._pool_stats()["passthrough"],
                                reason="PYTHONMALLOC=malloc: nodes come from malloc")
SLAB = core._pool_stats()["slab_bytes"]


def chain(n):
    w = Var(0.5, req_grad=True)
    y = Var(1.0, req_grad=True)
    for _ in range(n):
        y = y * w + w
    return y


def test_nodes_made_in_a_row_are_adjacent():
    regrad.release_memory()
    w = Var(1.0, req_grad=True)
    y = chain(3000)
    nodes = []
    for _ in range(200):
        y = y * w
        nodes.append(y)
    steps = [id(b) - id(a) for a, b in zip(nodes, nodes[1:])]
    cell = core._pool_stats()["cell"]
    # within a slab, one cell after the other; a new slab now and then
    assert sum(s == cell for s in steps) >= len(steps) - 2


def test_a_freed_graph_is_reused_by_the_next():
    y = chain(20_000)
    y.backward()
    del y
    held = core._pool_stats()["slabs"]
    for _ in range(5):
        y = chain(20_000)
        assert core._pool_stats()["slabs"] <= held + 1
        y.backward()
        del y
    assert core._pool_stats()["slabs"] <= held + 1


def slabs_of(y):
    seen, stack = set(), [y]
    while stack:
        node = stack.pop()
        seen.add(id(node) // SLAB)
        stack.extend(node.src or ())
    return seen


def test_the_next_graph_takes_the_same_slabs():
    y = chain(5000)
    first = slabs_of(y)
    del y
    y = chain(5000)
    assert slabs_of(y) == first


def test_memory_kept_is_bounded_and_given_back_on_request():
    old = regrad.set_pool_limit(4 * SLAB)
    try:
        y = chain(50_000)                    # 100,000 nodes: many slabs
        del y
        gc.collect()
        assert core._pool_stats()["empty"] <= 4
        assert regrad.release_memory() >= 0
        assert core._pool_stats()["empty"] == 0
        regrad.set_pool_limit(old)
        y = chain(50_000)
        del y
        assert core._pool_stats()["empty"] > 4
        given = regrad.release_memory()
        assert given >= 100_000 * 48 // 2 and given % SLAB == 0
        assert core._pool_stats()["empty"] == 0
    finally:
        regrad.set_pool_limit(old)


def test_a_graph_still_alive_is_not_given_back():
    y = chain(10_000)
    regrad.release_memory()
    y.backward()                     # every node still readable and correct
    assert y.val == pytest.approx(chain(10_000).val)


def test_set_pool_limit_refuses_a_negative_size():
    with pytest.raises(ValueError):
        regrad.set_pool_limit(-1)
