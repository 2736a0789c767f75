"""Graph drawings (tools.draw): structure, colours, labels, orientation,
escaping, size limits, the text exports, and the seed README's examples.

The SVG is parsed as XML and checked against what the graph must be, worked
out here from the expression (node and edge counts, values, gradients by
hand), and against geometry (no overlapping nodes, no edge through a node,
edges pointing from inputs to results)."""
import colorsys
import math
import os
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

import regrad
import tools
from tools import (Drawing, build_dot, build_mermaid_script, build_svg, draw,
                   draw_to_html)

SVG = "{http://www.w3.org/2000/svg}"


# ----------------------------------------------------------------- helpers

def parse(svg):
    """Nodes and edges of a drawn SVG: {id: node dict}, [edge dict]."""
    root = ET.fromstring(svg)
    assert root.tag == SVG + "svg"
    nodes, edges = {}, []
    for g in root.iter(SVG + "g"):
        cls = g.get("class", "").split()
        if "node" in cls:
            rect = g.find(SVG + "rect")
            x, y = float(rect.get("x")), float(rect.get("y"))
            w, h = float(rect.get("width")), float(rect.get("height"))
            nodes[g.get("data-node")] = {
                "kind": g.get("data-kind"), "classes": cls, "name": g.get("data-name"),
                "lines": [t.text for t in g.findall(SVG + "text")],
                "fill": rect.get("fill"), "dash": rect.get("stroke-dasharray"),
                "stroke_width": float(rect.get("stroke-width")),
                "box": (x, y, x + w, y + h), "center": (x + w / 2, y + h / 2),
                "title": g.find(SVG + "title").text,
            }
        elif "edge" in cls:
            label = g.find(SVG + "text")
            edges.append({"src": g.get("data-src"), "dst": g.get("data-dst"),
                          "count": int(g.get("data-count")),
                          "d": g.find(SVG + "path").get("d"),
                          "tip": _points(g.find(SVG + "polygon").get("points"))[0],
                          "label": None if label is None else label.text})
    return root, nodes, edges


def _points(text):
    return [tuple(float(v) for v in p.split(",")) for p in text.split()]


def by_name(nodes, name):
    return [n for n in nodes.values() if n["name"] == name]


def edge_names(nodes, edges):
    """The edges as sorted (input label, result label) pairs, labels being
    'name value' so that equal names can be told apart."""
    def lab(n):
        return f"{n['name']} {n['lines'][-1] if n['kind'] == 'op' else n['lines'][1]}"
    return sorted((lab(nodes[e["src"]]), lab(nodes[e["dst"]])) for e in edges)


def path_samples(d, steps=24):
    """Points along an SVG path made of M, L and C commands."""
    tokens = re.findall(r"[MLC]|-?\d+(?:\.\d+)?", d)
    pts, i, cur = [], 0, None
    while i < len(tokens):
        cmd = tokens[i]
        if cmd in ("M", "L"):
            p = (float(tokens[i + 1]), float(tokens[i + 2]))
            if cmd == "L":
                for k in range(1, steps + 1):
                    t = k / steps
                    pts.append((cur[0] + (p[0] - cur[0]) * t, cur[1] + (p[1] - cur[1]) * t))
            else:
                pts.append(p)
            cur = p
            i += 3
        elif cmd == "C":
            c = [(float(tokens[i + 1 + 2 * k]), float(tokens[i + 2 + 2 * k])) for k in range(3)]
            p0 = cur
            for k in range(1, steps + 1):
                t = k / steps
                a, b, cc, dd = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t * t, t ** 3
                pts.append((a * p0[0] + b * c[0][0] + cc * c[1][0] + dd * c[2][0],
                            a * p0[1] + b * c[0][1] + cc * c[1][1] + dd * c[2][1]))
            cur = c[2]
            i += 7
        else:
            raise AssertionError(f"unexpected path token {cmd!r} in {d!r}")
    return pts


def check_geometry(svg, orientation):
    """No two nodes overlap; every node lies inside the picture; every edge
    runs from its input to its result in the drawing's direction, ends at the
    result's boundary, and passes through no other node."""
    root, nodes, edges = parse(svg)
    width, height = float(root.get("width")), float(root.get("height"))
    boxes = list(nodes.items())
    for i, (ka, a) in enumerate(boxes):
        x0, y0, x1, y1 = a["box"]
        assert 0 <= x0 and x1 <= width and 0 <= y0 and y1 <= height, (ka, a["box"])
        for kb, b in boxes[i + 1:]:
            u0, v0, u1, v1 = b["box"]
            overlap = min(x1, u1) - max(x0, u0) > 0 and min(y1, v1) - max(y0, v0) > 0
            assert not overlap, f"nodes {ka} and {kb} overlap"
    for e in edges:
        (sx, sy), (tx, ty) = nodes[e["src"]]["center"], nodes[e["dst"]]["center"]
        axis = {"TB": ty - sy, "BT": sy - ty, "LR": tx - sx, "RL": sx - tx}[orientation]
        assert axis > 0, f"edge {e['src']}->{e['dst']} does not point {orientation}"
        # the arrow's tip sits on the result's input side
        x0, y0, x1, y1 = nodes[e["dst"]]["box"]
        px, py = e["tip"]
        side = {"TB": (py, y0), "BT": (py, y1), "LR": (px, x0), "RL": (px, x1)}[orientation]
        assert abs(side[0] - side[1]) < 1.0, (e, nodes[e["dst"]]["box"])
        assert x0 - 1 <= px <= x1 + 1 and y0 - 1 <= py <= y1 + 1
        samples = path_samples(e["d"])
        for k, n in nodes.items():
            if k in (e["src"], e["dst"]):
                continue
            bx0, by0, bx1, by1 = n["box"]
            for px, py in samples:
                inside = bx0 + 2 < px < bx1 - 2 and by0 + 2 < py < by1 - 2
                assert not inside, f"edge {e['src']}->{e['dst']} runs through node {k}"
    return nodes, edges


def geometric_crossings(svg):
    """Crossings between edges whose ends are four different nodes, counted
    on the drawn curves (sampled as polylines)."""
    _, nodes, edges = parse(svg)
    polys = [path_samples(e["d"]) for e in edges]
    boxes = [(min(x for x, _ in p), min(y for _, y in p), max(x for x, _ in p),
              max(y for _, y in p)) for p in polys]

    def cross(p, q, r, s):
        def orient(a, b, c):
            return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
        d1, d2 = orient(r, s, p), orient(r, s, q)
        d3, d4 = orient(p, q, r), orient(p, q, s)
        return d1 * d2 < 0 and d3 * d4 < 0

    count = 0
    for i in range(len(edges)):
        for j in range(i + 1, len(edges)):
            ends = {edges[i]["src"], edges[i]["dst"], edges[j]["src"], edges[j]["dst"]}
            (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = boxes[i], boxes[j]
            if len(ends) < 4 or ax1 < bx0 or bx1 < ax0 or ay1 < by0 or by1 < ay0:
                continue                  # (curves in disjoint boxes cannot cross)
            a, b = polys[i], polys[j]
            if any(cross(a[k], a[k + 1], b[m], b[m + 1])
                   for k in range(len(a) - 1) for m in range(len(b) - 1)):
                count += 1
    return count


def rgb(hex_colour):
    h = hex_colour.lstrip("#")
    return tuple(int(h[k:k + 2], 16) / 255 for k in (0, 2, 4))


def hand_mlp(Var, x_in):
    """The graph of MLP(2, [3, 1]) (relu hidden layer, linear output) built
    by hand, neuron by neuron: bias + w0*x0 + w1*x1, as tools.nn does."""
    weights = iter([0.3, -0.7, 0.5, 0.9, -0.2, 0.4, 0.8, -0.6, 0.1])
    hidden = []
    for _ in range(3):
        act = Var(0.0, req_grad=True)
        for xi in x_in:
            act = act + Var(next(weights), req_grad=True) * xi
        hidden.append(act.relu())
    out = Var(0.0, req_grad=True)
    for h in hidden:
        out = out + Var(next(weights), req_grad=True) * h
    return out


# ----------------------------------------------------------- the examples

def test_pow_example_nodes_edges_labels(Var):
    a = Var(-4.0, req_grad=True)
    y = a + a ** 2
    root, nodes, edges = parse(build_svg(y))
    assert len(nodes) == 3 and len(edges) == 3
    assert root.get("data-nodes") == "3" and root.get("data-edges") == "3"
    assert sorted(n["kind"] for n in nodes.values()) == ["op", "op", "param"]
    (leaf,), (pw,), (add,) = by_name(nodes, "Var"), by_name(nodes, "Pow"), by_name(nodes, "Add")
    assert leaf["lines"] == ["Var", "-4.0000"]
    assert pw["lines"] == ["Pow", "power=2", "16.0000"]      # (-4)**2
    assert add["lines"] == ["Add", "12.0000"]                 # -4 + 16
    assert "root" in add["classes"] and "root" not in pw["classes"]
    assert add["stroke_width"] > pw["stroke_width"]
    assert edge_names(nodes, edges) == sorted([
        ("Var -4.0000", "Pow 16.0000"), ("Var -4.0000", "Add 12.0000"),
        ("Pow 16.0000", "Add 12.0000")])
    # the first input of Add (a) enters left of the second (a ** 2)
    into_add = {nodes[e["src"]]["name"]: e["tip"][0] for e in edges if e["dst"] == [
        k for k, n in nodes.items() if n is add][0]}
    assert into_add["Var"] < into_add["Pow"]


def test_sigmoid_example(Var):
    y = 1 / (1 + (-Var(0.5, req_grad=True)).exp())
    _, nodes, edges = parse(build_svg(y))
    assert len(nodes) == 7 and len(edges) == 6
    kinds = sorted(n["kind"] for n in nodes.values())
    assert kinds == ["const", "const", "op", "op", "op", "op", "param"]
    names = sorted(n["name"] for n in nodes.values())
    assert names == ["Add", "Div", "Exp", "Neg", "Var", "Var", "Var"]
    expected = {"Neg": -0.5, "Exp": math.exp(-0.5), "Add": 1 + math.exp(-0.5),
                "Div": 1 / (1 + math.exp(-0.5))}
    for name, value in expected.items():
        (n,) = by_name(nodes, name)
        assert n["lines"] == [name, f"{value:.4f}"]
    consts = [n for n in nodes.values() if n["kind"] == "const"]
    assert [n["lines"] for n in consts] == [["Var", "1.0000"]] * 2
    assert edge_names(nodes, edges) == sorted([
        ("Var 0.5000", "Neg -0.5000"), ("Neg -0.5000", "Exp 0.6065"),
        ("Var 1.0000", "Add 1.6065"), ("Exp 0.6065", "Add 1.6065"),
        ("Var 1.0000", "Div 0.6225"), ("Add 1.6065", "Div 0.6225")])


def test_mlp_example_counts(Var):
    x = Var(0.5)
    y = hand_mlp(Var, [x, x ** 2])
    _, nodes, edges = parse(build_svg(y, "BT"))
    # 3 hidden neurons: 2 Mul, 2 Add, 1 Relu each; output: 3 Mul, 3 Add
    ops = 3 * 5 + 3 * 2
    params = 3 * (2 + 1) + (3 + 1)
    consts = 2                        # x and x ** 2 (a constant: x needs no grad)
    assert len(nodes) == ops + params + consts == 36
    # Mul and Add have 2 inputs, Relu 1
    assert len(edges) == 3 * (2 * 2 + 2 * 2 + 1) + (3 * 2 + 3 * 2) == 39
    count = {k: sum(n["kind"] == k for n in nodes.values()) for k in ("param", "const", "op")}
    assert count == {"param": params, "const": consts, "op": ops}
    consts = sorted(n["lines"] for n in nodes.values() if n["kind"] == "const")
    assert consts == [["Var", "0.2500"], ["Var", "0.5000"]]


def test_mlp_example_with_tools_nn(engine):
    nn = pytest.importorskip("tools.nn")
    model = nn.MLP(2, [3, 1], engine=engine)
    x = engine.Var(0.5)
    y = model([x, x ** 2])
    d = draw(y, "BT")
    assert (d.node_count, d.edge_count) == (36, 39)
    nodes, _ = check_geometry(d.svg, "BT")
    assert sum(n["kind"] == "param" for n in nodes.values()) == len(model.parameters()) == 13


@pytest.mark.parametrize("orientation", ["TB", "BT", "LR", "RL"])
def test_examples_geometry_every_orientation(Var, orientation):
    a = Var(-4.0, req_grad=True)
    x = Var(0.5)
    for y in (a + a ** 2, 1 / (1 + (-Var(0.5, req_grad=True)).exp()), hand_mlp(Var, [x, x ** 2])):
        d = draw(y, orientation)
        assert d.orientation == orientation
        assert parse(d.svg)[0].get("data-orientation") == orientation
        check_geometry(d.svg, orientation)


@pytest.mark.parametrize("orientation", ["TB", "BT", "LR", "RL"])
def test_seed_graph_with_gradients_geometry(Var, orientation, seed_example):
    a, b, g = seed_example(Var)
    g.backward(retain_graph=True)
    # nodes of 2, 3 and 4 lines share ranks: edges must still avoid them all
    nodes, edges = check_geometry(build_svg(g, orientation), orientation)
    assert len(nodes) == 33 and len(edges) == 45
    grads = sorted(n["lines"][-1] for n in nodes.values() if n["kind"] == "param")
    assert grads == ["grad 222.1341", "grad 978.7784"]      # the seed README's numbers


def test_crossings_few(Var):
    a = Var(-4.0, req_grad=True)
    assert draw(a + a ** 2).crossings == 0
    assert geometric_crossings(build_svg(a + a ** 2)) == 0
    sig = 1 / (1 + (-Var(0.5, req_grad=True)).exp())
    assert draw(sig).crossings == 0
    assert geometric_crossings(build_svg(sig)) == 0
    x = Var(0.5)
    mlp = hand_mlp(Var, [x, x ** 2])
    # x and x ** 2 each feed one Mul in each of the 3 hidden neurons, whose
    # weights sit beside those Muls: some crossings are unavoidable there.
    # (The original's Mermaid drawing of this graph has 4 crossings, but 5 of
    # its edges run through other nodes; check_geometry allows none.)
    assert geometric_crossings(build_svg(mlp, "BT")) <= 10


def test_edges_from_inputs_to_results_and_dedupe(Var):
    a = Var(3.0, req_grad=True)
    b = Var(2.0, req_grad=True)
    y = (a * a) - (a * b)          # a is one node however often it is used
    _, nodes, edges = parse(build_svg(y))
    assert len(nodes) == 5 and len(edges) == 5
    assert len(by_name(nodes, "Var")) == 2
    (sq,) = [e for e in edges if e["count"] == 2]
    assert nodes[sq["src"]]["lines"][1] == "3.0000"
    assert nodes[sq["dst"]]["lines"] == ["Mul", "9.0000"]
    assert sq["label"] == "\u00d72"
    assert all(e["label"] is None for e in edges if e is not sq)


def test_value_and_argument_formats(Var):
    a = Var(4.0, req_grad=True)
    big = Var(-2.5e9, req_grad=True)
    y = a ** 0.5 + a ** -1 + big
    _, nodes, _ = parse(build_svg(y))
    pows = sorted(n["lines"] for n in by_name(nodes, "Pow"))
    assert pows == [["Pow", "power=-1", "0.2500"], ["Pow", "power=0.5", "2.0000"]]
    assert ["Var", "-2.5000e+09"] in [n["lines"] for n in nodes.values()]


def test_single_node_graphs(Var):
    _, nodes, edges = parse(build_svg(Var(1.5, req_grad=True)))
    assert [n["lines"] for n in nodes.values()] == [["Var", "1.5000"]] and not edges
    const = Var(2.0) * 3          # no input requires grad: a constant leaf
    _, nodes, edges = parse(build_svg(const, "LR"))
    assert [(n["kind"], n["lines"]) for n in nodes.values()] == [("const", ["Var", "6.0000"])]


# ------------------------------------------------------------ colours

def test_colour_per_kind(Var):
    w = Var(0.5, req_grad=True)
    c = Var(2.0)
    y = w * c + 1
    _, nodes, _ = parse(build_svg(y))
    fills = {}
    for n in nodes.values():
        fills.setdefault(n["kind"], set()).add(n["fill"])
    assert all(len(v) == 1 for v in fills.values())       # one colour per kind
    hls = {k: colorsys.rgb_to_hls(*rgb(v.pop())) for k, v in fills.items()}
    rgbs = {k: colorsys.hls_to_rgb(*v) for k, v in hls.items()}
    # requires grad: dark blue; no grad: light blue; operators: grey
    for kind in ("param", "const"):
        h, l_, s = hls[kind]
        assert 0.52 < h < 0.7 and s > 0.4, (kind, hls[kind])   # blue
    assert hls["param"][1] < 0.5 < hls["const"][1] > 0.85
    r, g, b = rgbs["op"]
    assert max(r, g, b) - min(r, g, b) < 0.06 and hls["op"][1] > 0.8   # light grey


# ------------------------------------------------------------ gradients

def test_gradients_shown_after_retain_graph(Var):
    a = Var(-4.0, req_grad=True)
    c = Var(3.0)
    y = a + a ** 2 * c
    before = parse(build_svg(y))[1]
    assert not any(line.startswith("grad") for n in before.values() for line in n["lines"])
    y.backward(retain_graph=True)
    _, nodes, edges = parse(build_svg(y))
    assert len(nodes) == 5 and len(edges) == 5       # the graph is still whole
    (leaf,) = [n for n in nodes.values() if n["kind"] == "param"]
    assert leaf["lines"] == ["Var", "-4.0000", f"grad {1 + 2 * 3.0 * -4.0:.4f}"]   # -23
    (const,) = [n for n in nodes.values() if n["kind"] == "const"]
    assert const["lines"] == ["Var", "3.0000"]       # no grad to show
    assert all(len(n["lines"]) <= 3 for n in nodes.values() if n["kind"] == "op")
    page = draw(y).html()
    assert "gradient" in page


def test_a_released_part_is_drawn_and_explained(Var):
    a = Var(2.0, req_grad=True)
    h = (a * 3).exp()
    h.backward()                      # releases h's graph; y uses h afterwards
    y = h + a
    d = draw(y)
    _, nodes, edges = parse(d.svg)
    assert len(nodes) == 3 and len(edges) == 2
    (released,) = [n for n in nodes.values() if n["name"] == "Exp"]
    assert "released" in released["classes"] and released["dash"]
    assert "retain_graph=True" in d.html()
    assert "released" in released["title"]


def test_drawing_a_released_graph_says_so(Var):
    a = Var(2.0, req_grad=True)
    y = (a * 3).exp()
    y.backward()                      # releases the graph: only y would be left to draw
    for f in (draw, build_svg, build_dot, build_mermaid_script):
        with pytest.raises(RuntimeError, match=r"Exp result: backward\(\) released"):
            f(y)
    assert draw(a).node_count == 1    # a leaf is a graph of one node


# ----------------------------------------------------------- orientation

def test_orientation_names(Var):
    a = Var(1.0, req_grad=True)
    y = a.exp().sin()                 # a chain of three nodes
    assert parse(build_svg(y, "TD"))[0].get("data-orientation") == "TB"
    assert draw(y, "lr").orientation == "LR"
    for bad in ("XY", "", None, 3):
        with pytest.raises(ValueError, match="orientation"):
            draw(y, bad)
    tb, lr = draw(y, "TB"), draw(y, "LR")
    assert tb.height > tb.width and lr.width > lr.height


# ------------------------------------------------------------- escaping

class FakeOp:
    def __init__(self, name, args):
        self.name, self.symbol, self.args = name, "<&>", args


class FakeVar:
    """Any object with the Var attributes can be drawn: here with hostile names."""

    def __init__(self, val, name="Var", op=None, src=None, req_grad=False, grad=None):
        self.val, self.name, self.op, self.src = val, name, op, src
        self.req_grad, self.grad = req_grad, grad


EVIL = ['<script>alert("x")</script>', "</svg><img src=x onerror=alert(1)>",
        '"onmouseover="alert(1)', "a & b ' \" ]]> -->"]


def evil_graph():
    leaf = FakeVar(1.0, name=EVIL[0], req_grad=True, grad=0.5)
    const = FakeVar(2.0, name=EVIL[1])
    op = FakeOp(EVIL[2], {EVIL[3]: "</text>", "power": 2})
    return FakeVar(3.0, name=EVIL[2], op=op, src=(leaf, const), req_grad=True)


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attrs = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(k for k, _ in attrs)


def test_labels_escaped_in_svg_and_html():
    svg = build_svg(evil_graph())
    root, nodes, _ = parse(svg)           # still well-formed XML
    allowed = {"svg", "title", "g", "path", "polygon", "rect", "text"}
    assert {el.tag.replace(SVG, "") for el in root.iter()} <= allowed
    texts = [line for n in nodes.values() for line in n["lines"]]
    assert EVIL[0] in texts and EVIL[1] in texts and EVIL[2] in texts   # shown as text
    assert f"{EVIL[3]}=</text>, power=2" in texts
    assert "<script" not in svg and "<img" not in svg
    page = draw(evil_graph()).html(title="</title><script>alert(1)</script>")
    parser = _Tags()
    parser.feed(page)
    assert set(parser.tags) <= allowed | {"html", "head", "meta", "style", "body", "header",
                                          "h1", "span", "div", "p"}
    assert not any(a.startswith("on") for a in parser.attrs)
    assert "<script" not in page


def test_labels_escaped_in_mermaid_and_dot():
    text = build_mermaid_script(evil_graph())
    assert "<script" not in text and "<img" not in text
    node_lines = [ln for ln in text.splitlines() if re.match(r"n\d+\(", ln)]
    assert len(node_lines) == 3
    for ln in node_lines:
        assert re.fullmatch(r'n\d+\("[^"]*"\):::(param|const|op)', ln), ln
    dot = build_dot(evil_graph())
    for ln in dot.splitlines():
        if re.match(r"\s+n\d+ \[", ln):
            assert re.fullmatch(r'\s+n\d+ \[label="(?:[^"\\]|\\.)*", fillcolor="#[0-9A-F]{6}", '
                                r'color="#[0-9A-F]{6}", fontcolor="#[0-9A-F]{6}"[^"]*\];', ln), ln
    assert '\\"onmouseover=\\"alert(1)' in dot


# ---------------------------------------------------------- size limits

def _chain(Var, n):
    x = Var(1.0, req_grad=True)
    for _ in range(n):
        x = x * 1.0001        # a Mul and a constant each step
    return x


def test_too_large_refused_with_size_and_parameter(Var):
    y = _chain(Var, 1100)                      # 2201 nodes
    with pytest.raises(ValueError, match=r"2201 nodes.*max_nodes=2000"):
        draw(y)
    for fn in (build_svg, build_dot, build_mermaid_script):
        with pytest.raises(ValueError, match="max_nodes"):
            fn(y)
    with pytest.raises(ValueError, match=r"601 nodes.*max_nodes=600"):
        draw(_chain(Var, 300), max_nodes=600)
    y = _chain(Var, 300)
    assert draw(y, max_nodes=601).node_count == 601
    assert draw(y, "LR", max_nodes=None).edge_count == 600
    with pytest.raises(ValueError, match="max_nodes"):
        draw(y, max_nodes=0)


def test_deep_graph_no_recursion(Var):
    y = _chain(Var, 10000)                      # far deeper than the recursion limit
    dot = build_dot(y, max_nodes=None)
    assert dot.count(" -> ") == 20000
    d = draw(_chain(Var, 1500), max_nodes=None)
    assert (d.node_count, d.edge_count) == (3001, 3000)
    assert d.crossings == 0
    # a chain stays a column (the constants beside it), not a staircase
    assert d.width < 400


@pytest.mark.slow
@pytest.mark.parametrize("orientation", ["TB", "RL"])
def test_leaves_feeding_every_step_share_one_line(Var, orientation):
    # y = y * w + b with the same w and b at every step: their edges to the 8
    # steps share a trunk beside the chain, which stays a column
    x, w, b = Var(0.5, req_grad=True), Var(0.999), Var(0.001)
    y = x
    for _ in range(8):
        y = y * w + b
    d = draw(y, orientation)
    nodes, edges = check_geometry(d.svg, orientation)
    assert (len(nodes), len(edges)) == (19, 32)
    assert (d.width if orientation == "TB" else d.height) < 300
    # each step's w and b enter on the right (their port): one must cross
    # the other's line, once a step at most
    assert d.crossings <= 8
    if orientation == "TB":
        assert geometric_crossings(d.svg) <= 8


def test_not_a_var():
    with pytest.raises(TypeError, match="Var"):
        draw(3.0)


# -------------------------------------------------------- text exports

def test_mermaid_script(Var):
    a = Var(-4.0, req_grad=True)
    y = a + a ** 2
    text = build_mermaid_script(y)
    lines = text.splitlines()
    assert lines[0] == "graph TB"
    assert build_mermaid_script(y, "TD").startswith("graph TD\n")     # the original's default
    assert build_mermaid_script(y, "LR").startswith("graph LR\n")
    nodes = [ln for ln in lines if re.match(r"n\d+\(", ln)]
    edges = [ln for ln in lines if "-->" in ln]
    assert len(nodes) == 3 and len(edges) == 3
    assert any("<b>Pow</b>" in ln and "power=2" in ln and "16.0000" in ln for ln in nodes)
    assert sum(ln.startswith("classDef ") for ln in lines) == 3


def test_dot_export(Var):
    a = Var(-4.0, req_grad=True)
    y = a + a ** 2
    y.backward(retain_graph=True)
    dot = build_dot(y, "BT")
    assert dot.startswith("digraph regrad {") and dot.rstrip().endswith("}")
    assert "rankdir=BT;" in dot
    assert len(re.findall(r"^\s+n\d+ \[label=", dot, re.M)) == 3
    assert len(re.findall(r"^\s+n\d+ -> n\d+", dot, re.M)) == 3
    assert 'label="Pow\\npower=2\\n16.0000"' in dot
    assert 'label="Var\\n-4.0000\\ngrad -7.0000"' in dot          # d/da (a + a**2) = 1 + 2a
    dot_bin = __import__("shutil").which("dot")
    if dot_bin:                                                   # Graphviz accepts it
        import subprocess
        out = subprocess.run([dot_bin, "-Tsvg"], input=dot, capture_output=True, text=True,
                             timeout=30)
        assert out.returncode == 0, out.stderr


# ------------------------------------------------ Drawing, files, Jupyter

def test_drawing_object_and_reprs(Var):
    a = Var(2.0, req_grad=True)
    d = draw(a.sqrt() + a)
    assert isinstance(d, Drawing)
    assert d.node_count == 3 and d.edge_count == 3
    assert d._repr_svg_() == d.svg and d.svg.startswith("<svg")
    assert d.svg in d._repr_html_()
    assert "3 nodes" in repr(d)
    assert tools.draw is not None and tools.Drawing is Drawing


def test_draw_to_html_file_names(Var, tmp_path, monkeypatch):
    a = Var(2.0, req_grad=True)
    y = a * a
    monkeypatch.chdir(tmp_path)
    assert draw_to_html(y, "plain") == "plain.html"
    assert (tmp_path / "plain.html").is_file()
    path = draw_to_html(y, os.path.join("sub", "dir", "graph"), "LR")
    assert path == os.path.join("sub", "dir", "graph.html")
    assert (tmp_path / "sub" / "dir" / "graph.html").is_file()
    assert draw_to_html(y, tmp_path / "named.html") == str(tmp_path / "named.html")
    assert not (tmp_path / "named.html.html").exists()
    svg_path = draw(y).save(tmp_path / "g.svg")
    assert parse(open(svg_path, encoding="utf-8").read())[1]


def test_page_is_self_contained(Var, tmp_path):
    a = Var(-4.0, req_grad=True)
    page_path = draw_to_html(a + a ** 2, tmp_path / "computed_graph_pow")
    page = open(page_path, encoding="utf-8").read()
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>computed_graph_pow (3 nodes)</title>" in page
    assert "<script" not in page.lower()
    assert not re.search(r"(?<![\w-])(src|href)\s*=", page)   # nothing to load
    assert "url(" not in page and "@import" not in page
    assert "Content-Security-Policy" in page                   # and nothing may load
    assert page.count('class="node ') == 3


# ------------------------------------------------ the seed README, unchanged

SEED_EXAMPLE = '''
from regrad import Var
from tools import draw_to_html

a = Var(-4.0, req_grad=True)
b = Var(2.0, req_grad=True)
c_5 = Var(5)  # const
c = a + b
d = a * b + b ** 3
c += c + 1
c += 1 + c + (-a)
d += d * 2 + (b + a).relu()
d += c_5 * d + (b - a).relu()
e = c - d
f = e ** 2
g = f / 2.0
g += 10.0 / f
print(f'{g.val:.4f}')   # prints 24.7041, the outcome of this forward pass
g.backward()
print(f'{a.grad:.4f}')  # prints 222.1341, i.e. the numerical value of dg/da
print(f'{b.grad:.4f}')  # prints 978.7784, i.e. the numerical value of dg/db

y = a + a ** 2
draw_to_html(y, "computed_graph_pow")
'''

SEED_SIGMOID = '''
from regrad import Var
from tools import draw_to_html

def sigmoid(x: Var) -> Var:
    return 1 / (1 + (-x).exp())

y = sigmoid(Var(0.5, req_grad=True))
draw_to_html(y, "computed_graph_sigmoid")
'''

SEED_MLP = '''
from regrad import Var
from tools.nn import MLP
from tools import draw_to_html

model = MLP(2, [3, 1])  # 3-neurons, 1-layer
print("number of parameters", len(model.parameters()))
x = Var(0.5)
y = model([x, x ** 2])
draw_to_html(y, "computed_graph_mlp", "BT")
'''


def _count_nodes(path):
    return open(path, encoding="utf-8").read().count('class="node ')


def test_seed_readme_examples_run_unchanged(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(SEED_EXAMPLE, "seed_example", "exec"), {})
    assert capsys.readouterr().out.split() == ["24.7041", "222.1341", "978.7784"]
    assert _count_nodes(tmp_path / "computed_graph_pow.html") == 3
    exec(compile(SEED_SIGMOID, "seed_sigmoid", "exec"), {})
    assert _count_nodes(tmp_path / "computed_graph_sigmoid.html") == 7
    pytest.importorskip("tools.nn")
    exec(compile(SEED_MLP, "seed_mlp", "exec"), {})
    assert "number of parameters 13" in capsys.readouterr().out
    page = open(tmp_path / "computed_graph_mlp.html", encoding="utf-8").read()
    assert page.count('class="node ') == 36 and 'data-orientation="BT"' in page


# ------------------------------------------------ labels, -0, file types

def test_labels_are_drawn_next_to_the_value(Var):
    w = Var(0.5, req_grad=True, label="w1")
    x = Var(-2.0, label="x")
    b = Var(0.25, req_grad=True)
    h = w * x
    h.label = "h"
    y = h + b
    _, nodes, _ = parse(build_svg(y))
    lines = sorted(n["lines"] for n in nodes.values())
    assert ["Var", "w1 = 0.5000"] in lines and ["Var", "x = -2.0000"] in lines
    assert ["Var", "0.2500"] in lines                       # no label: as before
    assert ["Mul", "h = -1.0000"] in lines
    assert any(n["title"].startswith("w1: Var") for n in nodes.values())
    assert "w1 = 0.5000" in build_dot(y) and "w1 = 0.5000" in build_mermaid_script(y)


def test_a_drawn_mlp_names_its_parameters(Var):
    import random
    from regrad.nn import MLP
    random.seed(0)
    model = MLP(2, [2, 1], engine=regrad.get_engine(
        "cython" if Var.__module__ == "regrad._core" else "python"))
    _, nodes, _ = parse(build_svg(model([Var(0.5), Var(1.0)])))
    shown = {n["lines"][1].split(" = ")[0] for n in nodes.values() if n["kind"] == "param"}
    assert shown == {p.label for p in model.parameters()}
    assert "L0.N1.w0" in shown and "L1.N0.b" in shown


def test_minus_zero_is_drawn_as_zero(Var):
    from regrad.draw._graph import format_value
    assert format_value(-0.0) == "0.0000" and format_value(-1e-9) == "0.0000"
    assert format_value(-0.00005) == "-0.0001" and format_value(-1e-300) == "0.0000"
    assert format_value(-2.5e7) == "-2.5000e+07" and format_value(0.0) == "0.0000"
    a = Var(0.0, req_grad=True)
    y = -a * 3.0
    _, nodes, _ = parse(build_svg(y))
    assert all("-0.0000" not in line for n in nodes.values() for line in n["lines"])


def test_save_refuses_extensions_it_cannot_write(Var, tmp_path):
    d = draw(Var(1.0, req_grad=True) * 2.0)
    for name in ("g.png", "g.pdf", "g", "g.svg.txt", "g.jpeg"):
        with pytest.raises(ValueError, match="must end in .svg"):
            d.save(tmp_path / name)
        assert not (tmp_path / name).exists()
    for name, start in (("g.svg", "<svg"), ("g.SVG", "<svg"), ("g.html", "<!DOCTYPE html>"),
                        ("g.htm", "<!DOCTYPE html>")):
        path = d.save(tmp_path / name)
        assert open(path, encoding="utf-8").read().startswith(start)


def test_step_drawings_name_labelled_vars(Var):
    from regrad.draw import draw_backward
    w = Var(0.5, req_grad=True, label="w1")
    y = (w * w).exp()
    steps = draw_backward(y)
    assert "w1: 0.6420 (.grad 0.6420)" in steps.table()
    svg = steps.svgs[0]
    assert ">w1<" in svg and "w1 = " not in svg           # named once, not twice
    assert "v: " in draw_backward(y, labels={"v": w}).table()   # a given name wins


# ------------------------------------------------------- the compact view

HAND_WEIGHTS = [0.3, -0.7, 0.5, 0.9, -0.2, 0.4, 0.8, -0.6, 0.1]   # hand_mlp's, in order


def test_compact_view_of_an_mlp(Var):
    x = Var(0.5)
    y = hand_mlp(Var, [x, x ** 2])
    d = draw(y, "BT", view="compact")
    nodes, edges = check_geometry(d.svg, "BT")
    # x and x ** 2, 3 hidden neurons (weights, bias and relu folded), 1 output neuron
    assert (d.node_count, d.edge_count) == (6, 3 * 2 + 3) == (len(nodes), len(edges))
    kinds = sorted(n["kind"] for n in nodes.values())
    assert kinds == ["const", "const", "neuron", "neuron", "neuron", "neuron"]
    # the values, worked out here in floats: relu(0 + w0*x + w1*x^2), then w . h
    w = HAND_WEIGHTS
    hidden = [max(0.0, 0.0 + w[2 * j] * 0.5 + w[2 * j + 1] * 0.25) for j in range(3)]
    out = 0.0 + w[6] * hidden[0] + w[7] * hidden[1] + w[8] * hidden[2]
    neurons = [n for n in nodes.values() if n["kind"] == "neuron"]
    relus = sorted(n["lines"] for n in neurons if n["lines"][1].startswith("relu"))
    assert relus == sorted([["neuron", "relu(w\u00b7x + b), 2 in", f"{h:.4f}"] for h in hidden])
    (top,) = [n for n in neurons if not n["lines"][1].startswith("relu")]
    assert top["lines"] == ["neuron", "w\u00b7x + b, 3 in", f"{out:.4f}"]
    assert "root" in top["classes"] and "4 parameters" in top["title"]
    # every hidden neuron reads both inputs; the output reads the 3 hidden ones
    names = {k: (n["kind"], n["lines"][-1]) for k, n in nodes.items()}
    pairs = sorted((names[e["src"]][0], names[e["dst"]][1]) for e in edges)
    assert [p for p in pairs if p[0] == "const"] == sorted(
        ("const", f"{h:.4f}") for h in hidden for _ in range(2))
    assert [p for p in pairs if p[0] == "neuron"] == [("neuron", f"{out:.4f}")] * 3


@pytest.mark.parametrize("orientation", ["TB", "LR"])
def test_compact_view_of_the_moons_model(engine, orientation):
    nn = pytest.importorskip("tools.nn")
    import random
    random.seed(1337)
    model = nn.MLP(2, [16, 16, 1], engine=engine)
    x0, x1, t = engine.Var(0.5), engine.Var(-0.3), engine.Var(1.0)
    y = (1 - t * model([x0, x1])).relu()
    full = draw(y)                                   # fits the default max_nodes
    assert full.node_count == 984
    d = draw(y, orientation, view="compact")
    nodes, edges = check_geometry(d.svg, orientation)
    neurons = [n for n in nodes.values() if n["kind"] == "neuron"]
    assert len(neurons) == 16 + 16 + 1
    ins = sorted(int(n["lines"][1].split(", ")[1].split()[0]) for n in neurons)
    assert ins == [2] * 16 + [16] * 17
    # no parameter is left: all are folded into the neurons
    assert not any(n["kind"] == "param" for n in nodes.values())
    # x0, x1, t and the constant 1; Mul (t * score), Sub, Relu
    assert sorted(n["name"] for n in nodes.values() if n["kind"] != "neuron") == \
        ["Mul", "Relu", "Sub", "Var", "Var", "Var", "Var"]
    assert len(edges) == 2 * 16 + 16 * 16 + 16 + 2 + 2 + 1
    # the root's value is the full graph's
    assert d.node_count == 40 and "root" in by_name(nodes, "Relu")[0]["classes"]
    assert by_name(nodes, "Relu")[0]["lines"][-1] == f"{y.val:.4f}"


class LabelledVar(FakeVar):
    def __init__(self, val, label=None, **kwargs):
        super().__init__(val, **kwargs)
        self.label = label


def labelled_neuron(prefix, inputs, labels=True):
    """relu(b + w0*x0 + w1*x1 + ...) from Fake Vars, parameters labelled
    ``prefix.w<k>`` and ``prefix.b`` (when ``labels``)."""
    def lab(s):
        return f"{prefix}.{s}" if labels else None
    acc = LabelledVar(0.1, lab("b"), req_grad=True)
    for k, x in enumerate(inputs):
        w = LabelledVar(0.5, lab(f"w{k}"), req_grad=True)
        m = FakeVar(0.5 * x.val, name="Mul", op=FakeOp("Mul", {}), src=(w, x))
        acc = FakeVar(acc.val + m.val, name="Add", op=FakeOp("Add", {}), src=(acc, m))
    return FakeVar(max(acc.val, 0.0), name="Relu", op=FakeOp("Relu", {}), src=(acc,))


def test_compact_view_names_neurons_by_their_labels():
    xs = [FakeVar(1.0), FakeVar(2.0)]
    h = [labelled_neuron(f"L0.N{j}", xs) for j in range(2)]
    h.append(labelled_neuron("L0.N2", xs, labels=False))
    mixed = labelled_neuron("L1.N0", h)
    mixed.src[0].src[1].src[0].label = "other.w2"       # one weight from elsewhere
    _, nodes, _ = parse(build_svg(mixed, view="compact"))
    names = sorted(n["name"] for n in nodes.values() if n["kind"] == "neuron")
    assert names == ["L0.N0", "L0.N1", "neuron", "neuron"]


def test_compact_view_keeps_what_is_not_a_neuron(Var, seed_example):
    # a parameter used by a neuron and elsewhere stays, with its other use only
    w = Var(0.5, req_grad=True)
    b = Var(0.25, req_grad=True)
    x = Var(2.0)
    y = (b + w * x).relu() + w * w
    _, nodes, edges = parse(build_svg(y, view="compact"))
    assert sorted(n["name"] for n in nodes.values()) == ["Add", "Mul", "Var", "Var", "neuron"]
    names = {k: n["name"] for k, n in nodes.items()}
    assert sorted((names[e["src"]], names[e["dst"]]) for e in edges) == [
        ("Mul", "Add"), ("Var", "Mul"), ("Var", "neuron"), ("neuron", "Add")]
    # graphs without weighted sums are drawn as in the full view
    a, b, g = seed_example(Var)
    assert build_svg(g, view="compact") == build_svg(g)
    c = Var(3.0)
    assert build_svg(c * 2.0 + 1.0, view="compact") == build_svg(c * 2.0 + 1.0)


def test_compact_view_options_and_exports(Var, tmp_path):
    x = Var(0.5)
    y = hand_mlp(Var, [x, x ** 2])
    with pytest.raises(ValueError, match="view"):
        draw(y, view="neurons")
    with pytest.raises(ValueError, match=r"compact view has 6 nodes.*max_nodes=5"):
        draw(y, view="compact", max_nodes=5)
    assert draw(y, view="compact", max_nodes=6).node_count == 6
    mermaid = build_mermaid_script(y, view="compact")
    assert mermaid.count(":::neuron") == 4 and "classDef neuron" in mermaid
    assert "classDef neuron" not in build_mermaid_script(y)
    dot = build_dot(y, view="compact")
    assert len(re.findall(r"^\s+n\d+ -> n\d+", dot, re.M)) == 9
    page = open(draw_to_html(y, tmp_path / "mlp", view="compact"), encoding="utf-8").read()
    assert "<title>mlp (6 nodes)</title>" in page and "neuron: weighted sum" in page
    assert "neuron: weighted sum" not in draw(y).html()
