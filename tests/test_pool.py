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


def test_a_lower_limit_gives_back_at_once():
    old = regrad.set_pool_limit(64 << 20)
    try:
        y = chain(50_000)
        del y
        assert core._pool_stats()["empty"] > 2
        regrad.set_pool_limit(2 * SLAB)
        assert core._pool_stats()["empty"] <= 2
    finally:
        regrad.set_pool_limit(old)


def test_set_pool_limit_refuses_a_negative_size():
    with pytest.raises(ValueError):
        regrad.set_pool_limit(-1)


# Numbers in expressions are kept in the result, not made into nodes of their
# own; ``.src`` and recording make them Vars again, so nothing else changes.

NUMBER_CASES = [
    ("x * c", lambda x, c: x * c), ("c * x", lambda x, c: c * x),
    ("x + c", lambda x, c: x + c), ("c + x", lambda x, c: c + x),
    ("x - c", lambda x, c: x - c), ("c - x", lambda x, c: c - x),
    ("x / c", lambda x, c: x / c), ("c / x", lambda x, c: c / x),
    ("x ** c", lambda x, c: x ** c),
]


def test_a_number_operand_takes_no_node():
    x = Var(1.5, req_grad=True)
    results = [x * 0.5 for _ in range(500)]
    steps = [id(b) - id(a) for a, b in zip(results, results[1:])]
    assert sum(s == core._pool_stats()["cell"] for s in steps) >= len(steps) - 2


@pytest.mark.parametrize("name, f", NUMBER_CASES, ids=[c[0] for c in NUMBER_CASES])
@pytest.mark.parametrize("c", [0.0, -0.0, 2.5, 3, True])
def test_number_operands_match_the_pure_engine(name, f, c):
    """Values, gradients and .src as the pure engine has them, bit for bit; 0.0,
    whose bits are those of a NULL pointer, included."""
    from regrad import pure
    if name in ("x / c",) and c in (0.0, -0.0):
        pytest.skip("division by zero")
    got = []
    for V in (Var, pure.Var):
        x = V(1.75, req_grad=True)
        y = (f(x, c) * x).tanh()
        src = [(s.val, s.name, s.req_grad) for s in y.src[0].src]
        y.backward()
        got.append((y.val, x.grad, src))
    assert got[0] == got[1]
    assert [repr(v) for v in got[0][:2]] == [repr(v) for v in got[1][:2]]


def test_src_gives_a_number_operand_as_one_constant_var():
    for V in (Var, __import__("regrad.pure", fromlist=["Var"]).Var):
        x = V(2.0, req_grad=True)
        y = x * 3.0
        c = y.src[1]
        assert y.src[1] is c and c.val == 3.0 and c.op is None and not c.req_grad
        c.val = 5.0                      # reaches backward, as on the pure engine
        y.backward()
        assert x.grad == 5.0


def test_a_tape_of_number_operands_replays_and_keeps_the_numbers():
    x = Var(0.5, req_grad=True)
    y = (1.0 - x * 0.0) * (x ** 2) + 0.0 / (x + 1.0)
    tape = regrad.compile(y)
    x.val = 3.0
    assert tape.forward() == (1.0 - 3.0 * 0.0) * 9.0 + 0.0 / 4.0
    tape.backward()
    assert x.grad == 6.0


def test_freeing_and_releasing_with_numbers_kept():
    x = Var(0.5, req_grad=True)
    y = x
    for i in range(100_000):           # deep: freed without recursion
        y = (0.0 - y) * 1.0 if i % 2 else y * 0.0 + y
    y.backward()
    assert y.src is None and x.grad == 1.0
    y = (x ** 0.0) * 0.0
    del y
