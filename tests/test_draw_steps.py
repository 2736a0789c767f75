"""Backward, step by step (regrad.draw.backward_schedule / draw_backward /
backward_steps): the schedule is the one the pure engine's backward() really
runs, proved by recording every operator call that backward() makes; its
gradients are both engines' bits and PyTorch's values; the drawings show one
state per step."""
import math
import random
import struct
import xml.etree.ElementTree as ET

import pytest

import regrad
from seed import seed_example
from regrad.draw import backward_schedule, draw_backward, backward_steps

pure = regrad.get_engine("python")
SVG = "{http://www.w3.org/2000/svg}"


def readme_example(Var):
    a, b, g = seed_example(Var)
    return [a, b], g


def random_graph(Var, seed, n_ops=60):
    """A random DAG with heavy reuse (results feed several later results),
    constants mixed in, every operator kept inside its domain."""
    rng = random.Random(seed)
    leaves = [Var(rng.uniform(0.5, 2.0), req_grad=True) for _ in range(3)]
    pool = list(leaves) + [Var(1.5)]
    for _ in range(n_ops):
        x, y = rng.choice(pool), rng.choice(pool[-6:])
        k = rng.randrange(9)
        if k == 0:
            z = x + y
        elif k == 1:
            z = x - y * 0.5
        elif k == 2:
            z = x * y
        elif k == 3:
            z = x / (y.abs() + 1.0)
        elif k == 4:
            z = (x.abs() + 0.1).sqrt()
        elif k == 5:
            z = x.tanh() * 2.0
        elif k == 6:
            z = (x - 1.0).relu() + y.sigmoid()
        elif k == 7:
            z = (x * 0.1).sin() - (y * 0.1).cos()
        else:
            z = (x * x + 1.0).log()
        pool.append(z)
    root = pool[-1]
    for z in pool[-8:-1]:
        root = root + z * 0.5
    return leaves, root


def graphs(Var):
    yield readme_example(Var)
    a = Var(3.0, req_grad=True)
    yield [a], a * a            # one input twice: two passes on one edge
    for seed in range(6):
        yield random_graph(Var, seed)


def results_under(root):
    seen, out, stack = {id(root)}, [], [root]
    while stack:
        v = stack.pop()
        if v.op is not None:
            out.append(v)
            for x in v.src:
                if id(x) not in seen:
                    seen.add(id(x))
                    stack.append(x)
    return out


def bits(x):
    return struct.pack("<d", x)


class Recorder:
    """Stands in for a result's operator and logs every backward() call."""

    def __init__(self, node, log):
        self.node, self.inner, self.log = node, node._op, log
        self.name = self.inner.name

    def backward(self, out, g, *inputs):
        grads = self.inner.backward(out, g, *inputs)
        self.log.append((self.node, g, grads))
        return grads


@pytest.mark.parametrize("case", range(8))
def test_schedule_is_what_pure_backward_runs(case):
    leaves, root = list(graphs(pure.Var))[case]
    steps = backward_schedule(root)
    log = []
    results = results_under(root)
    for v in results:
        v._op = Recorder(v, log)
    root.backward()
    # the same nodes, in the same order, with the same gradients arriving and leaving
    assert [id(n) for n, _, _ in log] == [id(s.node) for s in steps]
    for (_, g, grads), s in zip(log, steps):
        assert bits(g) == bits(s.grad)
        assert [bits(x) for x in grads] == [bits(p.grad) for p in s.passes]
    # each leaf's running total, step after step, ends at the engine's .grad
    for leaf in leaves:
        totals = [p.total for s in steps for p in s.passes if p.var is leaf]
        assert (bits(totals[-1]) if totals else None) == \
            (None if leaf.grad is None else bits(leaf.grad))
    assert len(steps) == len(log) == len(results)     # each result runs once


@pytest.mark.parametrize("case", range(8))
def test_schedule_gives_both_engines_bits(engine, case):
    leaves, root = list(graphs(engine.Var))[case]
    steps = backward_schedule(root)
    final = {id(x): None for x in leaves}
    for s in steps:
        for p in s.passes:
            if p.kind == "leaf":
                final[id(p.var)] = p.total
    root.backward()
    assert final == {id(x): x.grad for x in leaves}
    assert [bits(final[id(x)]) for x in leaves if x.grad is not None] == \
        [bits(x.grad) for x in leaves if x.grad is not None]


def test_readme_numbers_and_pytorch():
    torch = pytest.importorskip("torch")
    (a, b), g = readme_example(pure.Var)
    steps = backward_schedule(g)
    assert f"{g.val:.4f}" == "24.7041"
    total = {}
    for s in steps:
        for p in s.passes:
            if p.kind == "leaf":
                total[id(p.var)] = p.total
    assert (f"{total[id(a)]:.4f}", f"{total[id(b)]:.4f}") == ("222.1341", "978.7784")
    (ta, tb), tg = readme_example(
        lambda v, req_grad=False: torch.tensor(float(v), dtype=torch.float64,
                                               requires_grad=req_grad))
    tg.backward()
    assert math.isclose(total[id(a)], ta.grad.item(), rel_tol=1e-12)
    assert math.isclose(total[id(b)], tb.grad.item(), rel_tol=1e-12)
    # every result requiring grad is processed once, after all its consumers
    assert len(steps) == 25 and len({id(s.node) for s in steps}) == 25
    where = {id(s.node): s.number for s in steps}
    for s in steps:
        for p in s.passes:
            if p.kind == "result":
                assert where[id(p.var)] > s.number


def test_schedule_changes_nothing(engine):
    (a, b), g = readme_example(engine.Var)
    a.grad = 1.0
    steps = backward_schedule(g, dy=2.0)
    assert a.grad == 1.0 and b.grad is None and g.src is not None
    assert steps[0].grad == 2.0
    first_a = next(p for s in steps for p in s.passes if p.var is a)
    assert first_a.total == 1.0 + first_a.grad          # added to the existing .grad
    g.backward(dy=2.0)
    last_a = [p for s in steps for p in s.passes if p.var is a][-1]
    assert bits(last_a.total) == bits(a.grad)


def test_schedule_errors_are_backwards(engine):
    Var = engine.Var
    with pytest.raises(RuntimeError):
        backward_schedule(Var(1.0) * 2)                 # no grad anywhere
    a = Var(1.0, req_grad=True)
    y = (a * 2).exp()
    with pytest.raises(TypeError):
        backward_schedule(y, dy="1")
    y.backward()
    with pytest.raises(RuntimeError, match="released"):
        backward_schedule(y)
    assert backward_schedule(a) == []                  # a leaf: nothing to run


def _message(fn):
    try:
        fn()
    except Exception as e:
        return type(e), str(e)
    return None


def test_a_released_graph_is_named_as_backward_names_it(engine):
    """Several released results: backward() names the one made first, and so
    does the schedule (its walk meets them in another order)."""
    x = engine.Var(2.0, req_grad=True)
    a = x * 3.0                                         # Mul, made first
    b = a + 1.0                                         # Add
    b.backward()
    for root in (b * a, a * b, (b + a).exp()):
        want = _message(root.backward)
        assert want is not None and "Mul" in want[1]
        assert _message(lambda: backward_schedule(root)) == want
        assert _message(lambda: draw_backward(root)) == want


@pytest.mark.parametrize("root", [3, 2.5, None, "x", [1.0]])
def test_tools_refuse_a_root_that_is_not_a_var_as_draw_does(root, tmp_path):
    from regrad.draw import draw
    want = _message(lambda: draw(root))
    assert want[0] is TypeError
    assert _message(lambda: backward_schedule(root)) == want
    assert _message(lambda: draw_backward(root)) == want
    assert _message(lambda: backward_steps(root, tmp_path / "x")) == want
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ drawings

def parse(svg):
    return ET.fromstring(svg)


def node_groups(root_el):
    return {g.get("data-node"): g for g in root_el.iter(SVG + "g")
            if g.get("data-node") is not None}


def test_drawings_one_state_per_step(engine):
    (a, b), g = readme_example(engine.Var)
    d = draw_backward(g, labels={"a": a, "b": b})
    assert len(d.svgs) == len(d.captions) == len(d.steps) + 1 == 26
    rects0 = None
    for k, svg in enumerate(d.svgs):
        groups = node_groups(parse(svg))
        assert len(groups) == 33
        current = [n for n, grp in groups.items() if "current" in grp.get("class").split()]
        done = [n for n, grp in groups.items() if "done" in grp.get("class").split()]
        assert len(current) == (1 if k else 0) and len(done) == max(0, k - 1)
        # the nodes stay where they are from one step to the next
        rects = {n: (grp.find(SVG + "rect").get("x"), grp.find(SVG + "rect").get("y"))
                 for n, grp in groups.items()}
        rects0 = rects0 or rects
        assert rects == rects0
        if k:
            s = d.steps[k - 1]
            texts = [t.text for t in groups[current[0]].iter(SVG + "text")]
            assert texts[0] == f"#{k} {s.node.name}"
            assert texts[-1] == f"grad {s.grad:.4f}"
            flows = [grp for grp in parse(svg).iter(SVG + "g") if grp.get("class") == "flow"]
            distinct = {id(p.var) for p in s.passes if p.kind != "skipped"}
            assert len(flows) == len(distinct)
    last = node_groups(parse(d.svgs[-1]))
    leaf_lines = sorted([t.text for t in grp.iter(SVG + "text")][-1]
                        for grp in last.values() if grp.get("data-kind") == "param")
    assert leaf_lines == ["grad 222.1341", "grad 978.7784"]
    assert d.captions[0].startswith("backward() seeds the root #1 Add with gradient 1.0000")
    assert "a: -27.7668 (.grad 222.1341); b: -27.7668 (.grad 978.7784)" in d.captions[-1]
    assert d.table().count("\n") == 26


def test_two_passes_on_one_edge_are_both_shown():
    a = pure.Var(3.0, req_grad=True)
    d = draw_backward(a * a, labels={"a": a})
    flow = [grp for grp in parse(d.svgs[1]).iter(SVG + "g") if grp.get("class") == "flow"]
    assert [t.text for t in flow[0].iter(SVG + "text")] == ["3.0000 + 3.0000"]
    assert "a: 3.0000 (.grad 3.0000); a: 3.0000 (.grad 6.0000)" in d.captions[1]


def test_backward_steps_writes_page_and_svgs(tmp_path, engine):
    x = engine.Var(0.5, req_grad=True)
    y = (x * x).sin() + x
    paths = backward_steps(y, tmp_path / "sub" / "steps", "LR", labels={"x": x}, svg=True)
    assert [p.rsplit("/", 1)[-1] for p in paths] == \
        ["steps.html", "steps-00.svg", "steps-01.svg", "steps-02.svg", "steps-03.svg"]
    page = open(paths[0], encoding="utf-8").read()
    assert page.count('<section class="step"') == 4 and "<script" not in page
    assert "Content-Security-Policy" in page
    for p in paths[1:]:
        root_el = parse(open(p, encoding="utf-8").read())
        assert root_el.get("data-orientation") == "LR"
        assert root_el.find(SVG + "g").get("class") == "caption"
    assert y.src is not None                        # drawing released nothing


def test_seed_and_leaf_root(engine):
    a = engine.Var(2.0, req_grad=True)
    d = draw_backward(a * a, dy=3)
    assert d.captions[0].startswith("backward() seeds the root #1 Mul with gradient 3.0000")
    assert d.steps[0].passes[1].total == 12.0        # 3 * 2 + 3 * 2, as backward(dy=3)
    leaf = draw_backward(a, dy=3)
    assert leaf.steps == [] and len(leaf.svgs) == 1
    assert "adds 3.0000 to its .grad" in leaf.captions[0]
    with pytest.raises(ValueError, match="max_nodes"):
        draw_backward(a * a + a, max_nodes=2)


@pytest.mark.parametrize("edge", [{"stroke": "#000000", "stroke-width": 1.0},
                                  {"stroke": "#607D8B", "stroke-width": 2}])
@pytest.mark.parametrize("kinds", ["as drawn", "changed"])
def test_highlighting_survives_a_change_of_style(monkeypatch, edge, kinds):
    """The steps style nodes and edges by role, not by rewriting the drawing's
    text: another edge or node style in ``_style`` leaves the highlighting whole."""
    from regrad.draw import _svg, _steps
    monkeypatch.setattr(_svg, "EDGE", edge)
    if kinds == "changed":
        monkeypatch.setattr(_svg, "STYLE", {k: {"fill": "#111111", "stroke": "#222222",
                                                "text": "#333333"} for k in _svg.STYLE})
    x = pure.Var(0.5, req_grad=True)
    d = draw_backward((x * x).sin() + x, labels={"x": x})
    svg = parse(d.svgs[2])                           # step 2: Sin passes to x * x
    flowing = [g for g in svg.iter(SVG + "g") if "flowing" in g.get("class", "").split()]
    assert len(flowing) == 1 and flowing[0].get("data-dst") == "n2"
    path = flowing[0].find(SVG + "path")
    assert (path.get("stroke"), path.get("stroke-width")) == (_steps.FLOW, "2.4")
    assert flowing[0].find(SVG + "polygon").get("fill") == _steps.FLOW
    others = [g.find(SVG + "path") for g in svg.iter(SVG + "g")
              if g.get("class") == "edge"]
    assert others and all(p.get("stroke") == edge["stroke"] for p in others)
    current = [g for g in svg.iter(SVG + "g") if "current" in g.get("class", "").split()]
    rect = current[0].find(SVG + "rect")
    assert (rect.get("fill"), rect.get("stroke"), rect.get("stroke-width")) == \
        (_steps.CURRENT["fill"], _steps.FLOW, "3")
    assert {t.get("fill") for t in current[0].iter(SVG + "text")} == {_steps.CURRENT["text"]}
    receives = [g for g in svg.iter(SVG + "g") if "receives" in g.get("class", "").split()]
    assert [g.find(SVG + "rect").get("stroke") for g in receives] == [_steps.FLOW]
    done = [g for g in svg.iter(SVG + "g") if "done" in g.get("class", "").split()]
    assert [(g.get("opacity"), g.find(SVG + "rect").get("stroke-dasharray")) for g in done] \
        == [("0.45", "5 3")]
