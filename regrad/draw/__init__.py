"""Drawings of a Var's computation graph that need nothing but Python.

``draw_to_html(root, "name")`` writes ``name.html``: one self-contained page
with the graph as inline SVG, laid out here in Python (a layered DAG layout),
with no script and nothing to fetch, so it opens offline and years later.
``draw(root)`` returns a ``Drawing`` that Jupyter shows inline;
``build_svg``, ``build_dot`` and ``build_mermaid_script`` return the graph as
SVG, Graphviz DOT and Mermaid text.

Every Var reachable from the root through ``.src`` is a node, drawn once
however often it is used: dark blue for leaves that require grad, light blue
for leaves that don't (variables and constants), grey for results of
operators, with the operator's name and arguments (``power=2``), the value to
4 decimals and, for leaves holding one, the gradient. Edges run from inputs
to results; the root has a thick border. ``orientation`` says where inputs
are: ``"TB"`` (top, results below), ``"BT"``, ``"LR"`` or ``"RL"``.

``backward()`` releases the graph's interior, so draw before it, or after
``backward(retain_graph=True)`` to see the leaves' gradients too; drawing a
result whose graph was released raises RuntimeError. A Var's ``label`` is
shown before its value (``L0.N3.w1 = 0.5000``).

``view="compact"`` draws each neuron's weighted sum ``b + w0*x0 + ...`` (a
chain of Add over Mul nodes with parameters, and a Relu on top) as one orange
node fed by the neuron's inputs, so a model's layers read at a glance; the
rest of the graph is drawn as in the full view (see ``_compact``).

Graphs of more than ``max_nodes`` nodes (2000 unless given; the nodes drawn,
in the compact view) are refused with a ValueError naming their size: pass a
larger ``max_nodes``, or ``None``. The layout's cost grows about linearly
with the graph (10^4 nodes take a few seconds).
"""
import os

from ._graph import collect, walk, DEFAULT_MAX_NODES, _check_max_nodes
from ._compact import compact
from ._style import normalize_orientation, ORIENTATIONS
from ._svg import render_svg, render_page, legend_html
from ._export import mermaid_text, dot_text

__all__ = ["Drawing", "draw", "draw_to_html", "build_svg", "build_dot",
           "build_mermaid_script", "ORIENTATIONS", "VIEWS", "DEFAULT_MAX_NODES"]

#: ``view="full"`` draws every Var; ``view="compact"`` draws each neuron's
#: weighted sum (weights, bias and relu folded in) as one node.
VIEWS = ("full", "compact")


def _graph(root, max_nodes, view):
    if view not in VIEWS:
        raise ValueError(f"view must be 'full' or 'compact', not {view!r}")
    if view == "full":
        return collect(root, max_nodes)
    _check_max_nodes(max_nodes)
    return compact(walk(root), max_nodes)


class Drawing:
    """A drawn graph. ``svg`` is the SVG text; ``html()`` a full page;
    ``save(path)`` writes either, by the path's extension (``.svg``, or
    ``.html``/``.htm``; any other raises ValueError). In Jupyter, a Drawing shows itself
    with its colour key (``_repr_html_``; ``_repr_svg_`` for front ends without HTML).

    ``orientation``, ``node_count``, ``edge_count``, ``width`` and ``height``
    (pixels), ``crossings`` (edge crossings in the layout) describe it.
    """

    __slots__ = ("_graph", "_svg", "orientation")

    def __init__(self, graph, svg_drawing, orientation):
        self._graph = graph
        self._svg = svg_drawing
        self.orientation = orientation

    @property
    def svg(self):
        return self._svg.svg

    @property
    def width(self):
        return self._svg.width

    @property
    def height(self):
        return self._svg.height

    @property
    def crossings(self):
        return self._svg.crossings

    @property
    def node_count(self):
        return len(self._graph.nodes)

    @property
    def edge_count(self):
        return len(self._graph.edges)

    def html(self, title="regrad computation graph"):
        """A complete, self-contained HTML page showing the drawing."""
        return render_page(self._graph, self._svg, title)

    def save(self, path, title=None):
        """Write the drawing to ``path``: SVG if it ends in ``.svg``, an HTML
        page if it ends in ``.html`` or ``.htm``; any other name raises
        ValueError. Returns the path."""
        path = os.fspath(path)
        stem, ext = os.path.splitext(os.path.basename(path))
        ext = ext.lower()
        if ext == ".svg":
            text = self.svg + "\n"
        elif ext in (".html", ".htm"):
            text = self.html(title if title is not None else stem)
        else:
            raise ValueError(f"cannot save a drawing as {path!r}: the name must end in .svg "
                             "(the SVG image) or .html (a page); for a PNG, take a "
                             "screenshot of the page or convert the SVG")
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def _repr_svg_(self):
        return self.svg

    def _repr_html_(self):
        return f'{legend_html(self._graph)}<div style="overflow:auto">{self.svg}</div>'

    def __repr__(self):
        return (f"<Drawing {self.orientation}: {self.node_count} nodes, {self.edge_count} edges, "
                f"{self.width:.0f}x{self.height:.0f} px>")


def draw(root, orientation="TB", *, max_nodes=DEFAULT_MAX_NODES, view="full"):
    """Lay out the graph under ``root`` and return a ``Drawing``. ``view`` is
    ``"full"`` (every Var) or ``"compact"`` (a neuron per weighted sum)."""
    orientation = normalize_orientation(orientation)
    graph = _graph(root, max_nodes, view)
    return Drawing(graph, render_svg(graph, orientation), orientation)


def build_svg(root, orientation="TB", *, max_nodes=DEFAULT_MAX_NODES, view="full"):
    """The graph under ``root`` as an SVG document (a string)."""
    return draw(root, orientation, max_nodes=max_nodes, view=view).svg


def draw_to_html(root, name, orientation="TB", *, max_nodes=DEFAULT_MAX_NODES, view="full"):
    """Write the graph under ``root`` to ``name + ".html"`` (``name`` may hold
    directories, created if missing; ``.html`` is not doubled) and return
    that path. The page is self-contained: inline SVG, no script, no fetch."""
    path = os.fspath(name)
    if not path.lower().endswith(".html"):
        path += ".html"
    return draw(root, orientation, max_nodes=max_nodes, view=view).save(path)


def build_mermaid_script(root, orientation="TB", *, max_nodes=DEFAULT_MAX_NODES, view="full"):
    """The graph under ``root`` as a Mermaid flowchart (``graph TB`` ...), for
    Markdown renderers that draw Mermaid. ``orientation`` may also be ``"TD"``."""
    mermaid_orientation = "TD" if orientation == "TD" else normalize_orientation(orientation)
    return mermaid_text(_graph(root, max_nodes, view), mermaid_orientation)


def build_dot(root, orientation="TB", *, max_nodes=DEFAULT_MAX_NODES, view="full"):
    """The graph under ``root`` as Graphviz DOT text (``dot -Tsvg`` draws it)."""
    return dot_text(_graph(root, max_nodes, view), normalize_orientation(orientation))


from ._steps import backward_schedule, draw_backward, backward_steps  # noqa: E402
__all__ += ["backward_schedule", "draw_backward", "backward_steps"]
