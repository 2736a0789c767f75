"""SVG and HTML output: node boxes, the layout mapped to an orientation, and
a self-contained page (inline SVG, no script, nothing fetched)."""
from ._escape import xml_text
from ._graph import format_value
from ._layout import layout
from ._style import STYLE, LEGEND, EDGE, FONT_FAMILY, text_width

__all__ = ["render_svg", "render_page", "legend_html", "SvgDrawing", "Placed", "paint"]

NAME_SIZE = 14.0      # px, bold: the op's or the Var's name
TEXT_SIZE = 12.5      # px: arguments, value, gradient
LINE = 1.28           # line height, in font sizes
PAD_X = {"op": 10.0, "param": 14.0, "const": 14.0, "neuron": 12.0}
PAD_Y = 6.0
MIN_WIDTH = 56.0
WIDTH_SLACK = 1.08    # room for fonts a little wider than Helvetica
MARGIN = 14.0
ARROW_LEN = 8.0
ARROW_HALF = 4.2


def page_head(title, css):
    """A page's doctype and head: no script, nothing fetched (the policy says so)."""
    return ("<!DOCTYPE html>\n"
            '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'\">\n"
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{xml_text(title)}</title>\n<style>\n{css}\n</style>\n</head>\n")


def _num(x):
    s = f"{x:.1f}"
    return s[:-2] if s.endswith(".0") else s


class _Box:
    __slots__ = ("w", "h", "lines")

    def __init__(self, node):
        lines = []
        for k, text in enumerate(node.label_lines):
            size = NAME_SIZE if k == 0 else TEXT_SIZE
            lines.append((text, size, k == 0))
        tw = max(text_width(t, s, b) for t, s, b in lines) * WIDTH_SLACK
        self.w = max(MIN_WIDTH, tw + 2 * PAD_X[node.kind])
        self.h = sum(s * LINE for _, s, _ in lines) + 2 * PAD_Y
        self.lines = lines


class SvgDrawing:
    """The SVG text of a drawing and what was drawn: ``svg``, ``width``,
    ``height``, ``crossings`` (edge crossings in the layout)."""

    __slots__ = ("svg", "width", "height", "crossings")

    def __init__(self, svg, width, height, crossings):
        self.svg = svg
        self.width = width
        self.height = height
        self.crossings = crossings


def _mapper(orientation, extent_v):
    m = MARGIN
    if orientation == "TB":
        return lambda u, v: (m + u, m + v)
    if orientation == "BT":
        return lambda u, v: (m + u, m + extent_v - v)
    if orientation == "LR":
        return lambda u, v: (m + v, m + u)
    return lambda u, v: (m + extent_v - v, m + u)


def _edge_path(points, to_xy):
    """A path through ``points`` (abstract coordinates) whose pieces leave and
    enter along the rank axis: straight where they are aligned, else a cubic
    curve with its tangents on that axis."""
    x, y = to_xy(*points[0])
    d = [f"M{_num(x)},{_num(y)}"]
    for (ua, va), (ub, vb) in zip(points, points[1:]):
        xb, yb = to_xy(ub, vb)
        if abs(ua - ub) < 0.5:
            d.append(f"L{_num(xb)},{_num(yb)}")
        else:
            k = (vb - va) / 2.0
            x1, y1 = to_xy(ua, va + k)
            x2, y2 = to_xy(ub, vb - k)
            d.append(f"C{_num(x1)},{_num(y1)} {_num(x2)},{_num(y2)} {_num(xb)},{_num(yb)}")
    return " ".join(d)


class Placed:
    """A graph laid out for SVG: its ``boxes``, the ``layout``, ``to_xy`` (from
    layout coordinates to the picture's), ``width`` and ``height``. Placed once,
    a graph can be painted many times (the step drawings paint one per step)."""

    __slots__ = ("graph", "orientation", "boxes", "layout", "to_xy", "width", "height")

    def __init__(self, graph, orientation):
        vertical = orientation in ("TB", "BT")
        self.graph, self.orientation = graph, orientation
        self.boxes = [_Box(n) for n in graph.nodes]
        sizes = [(b.w, b.h) if vertical else (b.h, b.w) for b in self.boxes]
        edges = [(e.src, e.dst, e.port) for e in graph.edges]
        self.layout = layout(len(self.boxes), edges, sizes,
                             node_gap=24.0 if vertical else 14.0,
                             rank_gap=44.0 if vertical else 54.0,
                             port_max=26.0 if vertical else 12.0)
        ext_u, ext_v = self.layout.extent
        self.to_xy = _mapper(orientation, ext_v)
        if not vertical:
            ext_u, ext_v = ext_v, ext_u
        self.width, self.height = ext_u + 2 * MARGIN, ext_v + 2 * MARGIN


def render_svg(graph, orientation, node_style=None, edge_style=None):
    """An ``SvgDrawing`` of ``graph`` (from ``_graph.collect``); see ``paint``
    for the style hooks."""
    return paint(Placed(graph, orientation), node_style, edge_style)


def paint(placed, node_style=None, edge_style=None):
    """The ``SvgDrawing`` of a ``Placed`` graph. A node is styled by its kind
    (``STYLE``), an edge by ``EDGE``; ``node_style(node)`` and
    ``edge_style(edge)``, when given, return what to change for one of them (a
    dict, or None): a node's ``fill``, ``stroke``, ``stroke-width``, ``text``
    colour, ``dash`` (a bool), ``opacity``, ``title``, ``grad`` (the value its
    grad line shows, None for "-") and ``class`` (a role added to its
    classes); an edge's ``stroke``, ``stroke-width``, ``class`` and ``label``
    (a text written half way along it)."""
    graph, width, height = placed.graph, placed.width, placed.height
    n_nodes, n_edges = len(graph.nodes), len(graph.edges)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="regrad-graph" '
        f'width="{_num(width)}" height="{_num(height)}" '
        f'viewBox="0 0 {_num(width)} {_num(height)}" '
        f'data-orientation="{placed.orientation}" data-nodes="{n_nodes}" '
        f'data-edges="{n_edges}" font-family="{xml_text(FONT_FAMILY)}" role="img" '
        f'aria-label="computation graph, {n_nodes} nodes, {n_edges} edges">',
        f"<title>regrad computation graph: {n_nodes} nodes, {n_edges} edges</title>",
        '<g class="edges">',
    ]
    labels = []
    for e, pts in zip(graph.edges, placed.layout.paths):
        style = {**EDGE, **(edge_style and edge_style(e) or {})}
        out.append(_edge_svg(e, pts, placed.to_xy, style, labels))
    out.append("</g>")
    out.append('<g class="nodes">')
    for node, box, (u, v) in zip(graph.nodes, placed.boxes, placed.layout.centers):
        style = node_style and node_style(node) or {}
        out.append(_node_svg(node, box, placed.to_xy(u, v), style))
    out.append("</g>")
    if labels:
        out.append('<g class="flows">' + "".join(labels) + "</g>")
    out.append("</svg>")
    return SvgDrawing("\n".join(out), width, height, placed.layout.crossings)


def _edge_svg(e, pts, to_xy, style, labels):
    """An edge's group; its label, if its style gives one, goes to ``labels``."""
    colour = style["stroke"]
    (ut, vt) = pts[-1]
    # the line stops under the arrowhead
    body = [pt for pt in pts[:-1] if pt[1] < vt - ARROW_LEN] or pts[:1]
    body.append((ut, vt - ARROW_LEN + 1.0))
    d = _edge_path(body, to_xy)
    tip = to_xy(ut, vt)
    b1 = to_xy(ut - ARROW_HALF, vt - ARROW_LEN)
    b2 = to_xy(ut + ARROW_HALF, vt - ARROW_LEN)
    arrow = " ".join(f"{_num(x)},{_num(y)}" for x, y in (tip, b1, b2))
    role = f" {style['class']}" if "class" in style else ""
    out = [f'<g class="edge{role}" data-src="n{e.src}" data-dst="n{e.dst}" '
           f'data-count="{e.count}">'
           f'<path d="{d}" fill="none" stroke="{colour}" stroke-width="{style["stroke-width"]}"/>'
           f'<polygon points="{arrow}" fill="{colour}"/>']
    if e.count > 1:
        lx, ly = to_xy(ut + 6.0, vt - ARROW_LEN - 10.0)
        out.append(f'<text x="{_num(lx)}" y="{_num(ly)}" font-size="11" '
                   f'fill="{colour}">\u00d7{e.count}</text>')
    if "label" in style:              # half way along the middle piece (its curve is symmetric)
        (ua, va), (ub, vb) = body[(len(body) - 1) // 2:][:2]
        labels.append(_edge_label(e, to_xy((ua + ub) / 2, (va + vb) / 2), style["label"], colour))
    out.append("</g>")
    return "\n".join(out)


def _edge_label(e, xy, text, colour):
    x, y = xy
    w = text_width(text, 11.5, True) + 8
    return (f'<g class="flow" data-src="n{e.src}" data-dst="n{e.dst}">'
            f'<rect x="{_num(x - w / 2)}" y="{_num(y - 9)}" width="{_num(w)}" '
            f'height="17" rx="3" fill="#FFFFFF" stroke="{colour}" stroke-width="1"/>'
            f'<text x="{_num(x)}" y="{_num(y + 4)}" text-anchor="middle" '
            f'font-size="11.5" font-weight="bold" fill="{colour}">{xml_text(text)}</text></g>')


def _node_svg(node, box, center, style):
    st = {**STYLE[node.kind], **style}
    cx, cy = center
    x0, y0 = cx - box.w / 2.0, cy - box.h / 2.0
    rx = {"op": 5.0, "neuron": 10.0}.get(node.kind, min(box.h / 2.0, 14.0))
    stroke_w = st.get("stroke-width", 2.6 if node.is_root else 1.3)
    dash = ' stroke-dasharray="5 3"' if st.get("dash", node.released) or node.released else ""
    classes = f"node {node.kind}" + (" root" if node.is_root else "") + \
        (" released" if node.released else "") + (f" {st['class']}" if "class" in st else "")
    opacity = f' opacity="{st["opacity"]}"' if "opacity" in st else ""
    out = [f'<g class="{classes}" data-node="n{node.index}" data-kind="{node.kind}" '
           f'data-name="{xml_text(node.name)}"{opacity}>'
           f'<title>{xml_text(st.get("title", node.tooltip))}</title>'
           f'<rect x="{_num(x0)}" y="{_num(y0)}" width="{_num(box.w)}" '
           f'height="{_num(box.h)}" rx="{_num(rx)}" fill="{st["fill"]}" '
           f'stroke="{st["stroke"]}" stroke-width="{stroke_w}"{dash}/>']
    lines = list(box.lines)
    if "grad" in st:
        grad = st["grad"]
        text = "grad -" if grad is None else f"grad {format_value(grad)}"
        lines[-1] = (text,) + lines[-1][1:]
    y = y0 + PAD_Y
    for text, size, bold in lines:
        baseline = y + size * (LINE - 1.0) / 2.0 + size * 0.86
        weight = ' font-weight="bold"' if bold else ""
        out.append(f'<text x="{_num(cx)}" y="{_num(baseline)}" text-anchor="middle" '
                   f'font-size="{_num(size)}"{weight} fill="{st["text"]}">{xml_text(text)}</text>')
        y += size * LINE
    out.append("</g>")
    return "\n".join(out)


_PAGE_CSS = """\
body{margin:0;padding:14px 18px;background:#fff;color:#263238;text-align:center;
font-family:Helvetica,Arial,"Liberation Sans",sans-serif}
header{margin:0 0 12px;font-size:13px;line-height:20px}
h1{display:inline;font-size:15px;margin:0 10px 0 0;font-weight:bold}
.legend{display:flex;flex-wrap:wrap;justify-content:center;gap:2px 16px;margin-top:4px}
.key{display:inline-flex;align-items:center;gap:5px}
.sw{display:inline-block;width:15px;height:11px;border:1.3px solid;border-radius:3px}
.graph{overflow:auto}
.graph svg{display:block;margin:0 auto}
.note{font-size:12px;color:#546E7A;margin:8px 0 0}
body.big{box-sizing:border-box;height:100vh;display:flex;flex-direction:column}
body.big .graph{flex:1;min-height:0;border-top:1px solid #CFD8DC}
#fit{display:none}
label.fit{margin-left:12px;cursor:pointer;color:#1565C0;user-select:none}
label.fit::before{content:"\\2610  "}
#fit:checked~header label.fit::before{content:"\\2611  "}
#fit:checked~.graph{overflow:hidden}
#fit:checked~.graph svg{width:100%;height:100%}"""

#: A drawing larger than this (px) gets a page that fits it to the window
#: first, with a switch (no script: a checkbox and CSS) to its actual size.
BIG_PAGE = (1600.0, 1200.0)


def legend_html(graph, extra=()):
    """The colour key of ``graph``'s node kinds (None: leaves and results) as an
    HTML ``div``, styled inline so that it reads the same in a page and in a
    notebook cell.
    ``extra``: more (fill, stroke, text) keys, e.g. the step drawings' orange."""
    kinds = ["param", "const", "op"]
    if graph is not None and any(n.kind == "neuron" for n in graph.nodes):
        kinds.append("neuron")
    keys = [(kind, STYLE[kind]["fill"], STYLE[kind]["stroke"], LEGEND[kind]) for kind in kinds]
    keys += [("extra", fill, stroke, text) for fill, stroke, text in extra]
    spans = [f'<span class="key {kind}" style="display:inline-flex;align-items:center;gap:5px;'
             f'margin-right:16px"><span class="sw" style="display:inline-block;width:15px;'
             f'height:11px;border:1.3px solid {stroke};border-radius:3px;background:{fill}">'
             f'</span>{xml_text(text)}</span>' for kind, fill, stroke, text in keys]
    return (f'<div class="legend" style="font-family:{FONT_FAMILY};font-size:13px;'
            f'color:#263238;margin:4px 0">{"".join(spans)}</div>')


def render_page(graph, drawing, title):
    """A complete HTML page around ``drawing`` (an ``SvgDrawing`` of ``graph``).
    Its title says the graph's size; a large drawing opens fitted to the
    window, and "fit to window" switches to its actual size, where the text
    reads at 100% zoom (it is vector text, so it also reads when zoomed in)."""
    n_nodes, n_edges = len(graph.nodes), len(graph.edges)
    notes = []
    if graph.has_grads:
        notes.append("grad: the gradient a leaf holds (after backward).")
    if graph.released:
        notes.append("Dashed results lost their inputs to backward(); call "
                     "backward(retain_graph=True) to keep the graph for drawing.")
    note = f'<p class="note">{xml_text(" ".join(notes))}</p>' if notes else ""
    big = drawing.width > BIG_PAGE[0] or drawing.height > BIG_PAGE[1]
    body_class = ' class="big"' if big else ""
    fit = '<input type="checkbox" id="fit" checked>\n' if big else ""
    fit_label = ('<label class="fit" for="fit" title="fit the drawing to the window, or show '
                 'it at its actual size">fit to window</label>' if big else "")
    return (
        page_head(f"{title} ({n_nodes} nodes)", _PAGE_CSS) +
        f"<body{body_class}>\n{fit}"
        f'<header><h1>{xml_text(title)}</h1><span class="stats">{n_nodes} nodes, '
        f'{n_edges} edges</span>{fit_label}\n{legend_html(graph)}</header>\n'
        f'<div class="graph">\n{drawing.svg}\n</div>\n{note}\n</body>\n</html>\n')
