"""Backward, step by step: the engine's schedule, and one drawing per step.

``backward_schedule(root)`` follows the schedule ``backward()`` runs
(``regrad.pure.Schedule``, which walks either engine's graph) without
changing anything: it calls the same operator ``backward`` from
``regrad.ops`` and adds the gradients up in the same order, so its steps are
what ``backward()`` does, bit for bit, on either engine.

``backward_steps(root, "name")`` draws them: one self-contained page
``name.html`` (inline SVG, no script, nothing fetched) with the graph once per
step, and with ``svg=True`` one SVG file per step. Each result is numbered by
the step that processes it (``#3 Mul``); at each step that node is orange, the
gradient arriving at it is its ``grad`` line, the edges to its inputs are
orange and carry what it passes to each, and the results already processed
are faded and dashed (``backward()`` has released them).
"""
import os
import re

from .. import ops
from ..autodiff import _engine_of
from ..pure import Schedule
from ._escape import markdown_cell, xml_text
from ._graph import check_var, collect, format_value, walk, DEFAULT_MAX_NODES
from ._style import normalize_orientation, text_width
from ._svg import _num, legend_html, page_head, Placed, paint

__all__ = ["Pass", "Step", "backward_schedule", "BackwardSteps", "draw_backward",
           "backward_steps"]

# The roles a step gives nodes and edges, and their styles (see ``_svg.paint``).
FLOW = "#E65100"          # edges carrying this step's gradients, and their labels
CURRENT = {"class": "current", "fill": "#FFE0B2", "stroke": FLOW, "text": "#3E2723",
           "stroke-width": 3}
DONE = {"class": "done", "opacity": "0.45", "dash": True}
RECEIVES = {"class": "receives", "stroke": FLOW, "stroke-width": 2.2}
FLOWING = {"class": "flowing", "stroke": FLOW, "stroke-width": 2.4}


class Pass:
    """What a step passes to one input: ``var`` the input, ``grad`` the
    gradient sent to it (``d root/d node * d node/d input``), ``kind``
    ``"leaf"`` (added into its ``.grad``), ``"result"`` (added into its
    gradient slot) or ``"skipped"`` (it does not require grad: the engine
    drops it), ``total`` the input's gradient after the addition (None when
    skipped), ``pending`` how many consumers of a result have still to pass
    (0: it is ready)."""

    __slots__ = ("var", "grad", "kind", "total", "pending")

    def __init__(self, var, grad, kind, total=None, pending=None):
        self.var = var
        self.grad = grad
        self.kind = kind
        self.total = total
        self.pending = pending

    def __repr__(self):
        return f"Pass({self.kind}, grad={self.grad!r}, total={self.total!r})"


class Step:
    """Step ``number`` (from 1) of a backward pass: the result ``node``
    processed, the gradient ``grad`` that arrived at it (all its consumers
    have passed theirs), the ``passes`` to its inputs in ``.src`` order, and
    ``ready``, the stack of results ready to run after the step (the last one
    runs next)."""

    __slots__ = ("number", "node", "grad", "passes", "ready")

    def __init__(self, number, node, grad, passes, ready):
        self.number = number
        self.node = node
        self.grad = grad
        self.passes = passes
        self.ready = ready

    def __repr__(self):
        return f"Step({self.number}, {self.node.name}, grad={self.grad!r})"


def backward_schedule(root, dy=None):
    """The steps ``root.backward(dy)`` takes, as a list of ``Step``; nothing is
    changed (no ``.grad``, no release). Raises what ``backward()`` raises: a
    RuntimeError for a root that does not require grad or a released graph,
    a TypeError for a ``dy`` that is not a number. A leaf root has no step."""
    check_var(root)
    if not root.req_grad:
        raise RuntimeError(ops.NO_GRAD_MESSAGE)
    dy = 1.0 if dy is None else ops.to_float(dy, "dy")
    if root.op is None:
        return []
    engine = _engine_of(root)           # its creation numbers: the engine's own
    order = Schedule(root, engine and engine._born_of)   # backward()'s own schedule
    leaf_grad = {}                      # a leaf's .grad as the pass goes
    adjoint = {root: dy}                # the gradient of a result, dropped as used
    steps = []
    for node, inputs in order:
        g = adjoint.pop(node)
        grads = node.op.backward(node.val, g, *(x.val for x in inputs))
        passes = []
        for i, (x, gx) in enumerate(zip(inputs, grads)):
            if not x.req_grad:
                passes.append(Pass(x, gx, "skipped"))
            elif x.op is None:
                before = leaf_grad.get(x, x.grad)
                leaf_grad[x] = (0.0 if before is None else before) + gx
                passes.append(Pass(x, gx, "leaf", leaf_grad[x]))
            else:                       # its consumers yet to pass, this edge done
                adjoint[x] = adjoint.get(x, 0.0) + gx
                waiting = order.pending[x] + sum(1 for y in inputs[i + 1:] if y is x)
                passes.append(Pass(x, gx, "result", adjoint[x], waiting))
        steps.append(Step(len(steps) + 1, node, g, tuple(passes), tuple(order.ready)))
    return steps


# ------------------------------------------------------------------ drawing

_SVG_OPEN = re.compile(r"<svg [^>]*>")


def _label(var, labels, order):
    """The text naming a node in captions: its label (given, or the Var's own),
    ``#k Name``, or ``Var``."""
    name = labels.get(id(var), getattr(var, "label", None))
    if name is not None:
        return name
    k = order.get(id(var))
    return f"#{k} {var.name}" if k is not None else var.name


class BackwardSteps:
    """The drawings of a backward pass. ``steps`` the schedule (``Step``
    list); ``captions[k]`` and ``svgs[k]`` describe and draw the state before
    the pass (k = 0) and during step k (1..n); ``html()`` one page with all of
    them; ``save(path)`` writes that page; ``captioned(k)`` a standalone SVG of state k with
    its caption; ``save_svgs(stem)`` writes them to ``stem-00.svg``, ``stem-01.svg``, ...; ``table()`` the schedule as a
    Markdown table."""

    def __init__(self, root, steps, captions, svgs, labels, order, dy=1.0):
        self.root = root
        self.dy = dy
        self.steps = steps
        self.captions = captions
        self.svgs = svgs
        self._labels = labels
        self._order = order

    def name_of(self, var):
        """How the drawings and captions name ``var``."""
        return _label(var, self._labels, self._order)

    def __len__(self):
        return len(self.steps)

    def captioned(self, k):
        """``svgs[k]`` with ``captions[k]`` written above the graph: a standalone SVG."""
        return _with_caption(self.svgs[k], self.captions[k])

    def table(self):
        """The schedule as Markdown: one row per step."""
        rows = ["| step | node | value | gradient arriving | passes to its inputs |",
                "|--:|---|--:|--:|---|"]
        for s in self.steps:
            rows.append(f"| {s.number} | {markdown_cell(self.name_of(s.node))} | "
                        f"{format_value(s.node.val)} | {format_value(s.grad)} | "
                        f"{markdown_cell(_passes_text(self, s))} |")
        return "\n".join(rows)

    def _sections(self, heading):
        sections = []
        for k, (caption, svg) in enumerate(zip(self.captions, self.svgs)):
            head = "Before the pass" if k == 0 else f"Step {k} of {len(self.steps)}"
            sections.append(f'<section class="step" id="step-{k}"><{heading}>{head}</{heading}>\n'
                            f'<p class="caption">{xml_text(caption)}</p>\n'
                            f'<div class="graph" style="overflow:auto">\n{svg}\n</div></section>')
        return "\n".join(sections)

    def html(self, title="regrad backward, step by step"):
        return (
            page_head(title, _PAGE_CSS) + "<body>\n"
            f"<header><h1>{xml_text(title)}</h1>\n<p>{xml_text(_INTRO)}</p>\n{_legend()}</header>\n"
            + self._sections("h2") + "\n</body>\n</html>\n")

    def _repr_html_(self):
        """In Jupyter: the explanation, the colour key and every step, in a cell."""
        return (f'<div class="regrad-steps"><p style="max-width:60em">{xml_text(_INTRO)}</p>\n'
                f"{_legend()}\n{self._sections('h4')}</div>")

    def __repr__(self):
        return f"<BackwardSteps: {len(self.steps)} steps from {self.name_of(self.root)}>"

    def save(self, path, title=None):
        """Write the page to ``path`` (``.html`` added if missing); returns the path."""
        path = os.fspath(path)
        if not path.lower().endswith(".html"):
            path += ".html"
        stem = os.path.basename(path)[:-5]
        _write(path, self.html(title if title is not None else stem))
        return path

    def save_svgs(self, stem):
        """Write one SVG per state, ``stem-00.svg`` (before) to ``stem-NN.svg``,
        each with its caption on top; returns the paths."""
        stem = os.fspath(stem)
        width = max(2, len(str(len(self.steps))))
        paths = []
        for k in range(len(self.svgs)):
            path = f"{stem}-{k:0{width}d}.svg"
            _write(path, self.captioned(k) + "\n")
            paths.append(path)
        return paths


def _legend():
    return legend_html(None, extra=[(CURRENT["fill"], CURRENT["stroke"],
                                     "the result being processed at this step")])


_INTRO = ("Each picture is the graph during one step of backward(), in the order the engine "
          "runs them. Results are numbered by the step that processes them. Orange: the "
          "result being processed, whose grad line is the gradient that arrived at it; the "
          "orange edges carry what it passes to each input (its gradient times the "
          "operator's local derivative). Faded, dashed results are done: backward() has "
          "released them. A leaf's grad line is its .grad so far.")

_PAGE_CSS = """\
body{margin:0;padding:14px 18px;background:#fff;color:#263238;
font-family:Helvetica,Arial,"Liberation Sans",sans-serif}
header{max-width:60em;font-size:13px;line-height:19px}
h1{font-size:16px;margin:0 0 6px}
h2{font-size:14px;margin:18px 0 4px}
.caption{font-size:13px;line-height:19px;margin:0 0 6px;max-width:60em}
.graph{overflow:auto}
.graph svg{display:block}"""


def _write(path, text):
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def _passes_text(drawing, step):
    parts = []
    for p in step.passes:
        who = drawing.name_of(p.var)
        if p.kind == "skipped":
            parts.append(f"{who}: nothing (no grad)")
        elif p.kind == "leaf":
            parts.append(f"{who}: {format_value(p.grad)} (.grad {format_value(p.total)})")
        else:
            state = "ready" if p.pending == 0 else f"waits for {p.pending} more"
            parts.append(f"{who}: {format_value(p.grad)} ({state})")
    return "; ".join(parts)


def _caption(drawing, k):
    if k == 0:
        root = drawing.root
        if root.op is None:
            return (f"The root {drawing.name_of(root)} is a leaf: backward() adds "
                    f"{format_value(drawing.dy)} to its .grad, and that is all.")
        return (f"backward() seeds the root {drawing.name_of(root)} with gradient "
                f"{format_value(drawing.dy)} and pushes it on the ready stack.")
    s = drawing.steps[k - 1]
    ready = ", ".join(drawing.name_of(v) for v in reversed(s.ready)) or "empty: done"
    return (f"{drawing.name_of(s.node)} (value {format_value(s.node.val)}) receives gradient "
            f"{format_value(s.grad)} and passes {_passes_text(drawing, s)}. "
            f"Ready stack, next first: {ready}.")


def _with_caption(svg, caption):
    """``svg`` with ``caption`` written above it, wrapped to the drawing's width."""
    m = _SVG_OPEN.search(svg)
    width = float(re.search(r'width="([\d.]+)"', m.group(0)).group(1))
    height = float(re.search(r'height="([\d.]+)"', m.group(0)).group(1))
    size, line = 12.0, 16.0
    wrap = max(width - 20.0, 360.0)
    lines, cur = [], ""
    for word in caption.split(" "):
        trial = f"{cur} {word}".strip()
        if cur and text_width(trial, size) > wrap:
            lines.append(cur)
            cur = word
        else:
            cur = trial
    lines.append(cur)
    top = 10.0 + line * len(lines)
    new_w = max(width, wrap + 20.0)
    new_h = height + top
    head = (m.group(0).replace(f'width="{_num(width)}"', f'width="{_num(new_w)}"', 1)
            .replace(f'height="{_num(height)}"', f'height="{_num(new_h)}"', 1)
            .replace(f'viewBox="0 0 {_num(width)} {_num(height)}"',
                     f'viewBox="0 0 {_num(new_w)} {_num(new_h)}"', 1))
    text = [f'<rect width="{_num(new_w)}" height="{_num(new_h)}" fill="#FFFFFF"/>',
            f'<g class="caption" font-size="{_num(size)}" fill="#263238">']
    for i, t in enumerate(lines):
        text.append(f'<text x="10" y="{_num(6.0 + line * (i + 1) - 4.0)}">{xml_text(t)}</text>')
    text.append("</g>")
    body = svg[m.end():].rsplit("</svg>", 1)[0]
    return (head + "\n" + "\n".join(text) + f'\n<g transform="translate(0,{_num(top)})">'
            + body + "</g>\n</svg>")


def draw_backward(root, orientation="TB", *, dy=None, labels=None,
                  max_nodes=DEFAULT_MAX_NODES):
    """Draw the backward pass from ``root``: a ``BackwardSteps``. Draw before
    ``backward()`` (or after ``backward(retain_graph=True)``). ``labels``
    maps names to Vars (``{"a": a, "b": b}``) to name leaves in the drawings."""
    orientation = normalize_orientation(orientation)
    labels = {id(v): str(k) for k, v in (labels or {}).items()}
    steps = backward_schedule(root, dy)
    dy = 1.0 if dy is None else ops.to_float(dy, "dy")
    graph = collect(root, max_nodes)
    found = walk(root)                  # the Vars of graph.nodes, in their order
    assert len(found) == len(graph.nodes)
    index = {id(var): i for i, var in enumerate(found)}   # id(Var) -> node index
    order = {id(s.node): s.number for s in steps}

    grads = _grads_by_state(root, dy, steps, found, index)

    # Lay out once, with every box wide enough for its widest text, so the
    # nodes stay put from one step to the next.
    for i, node in enumerate(graph.nodes):
        var_label = labels.get(id(found[i]), node.label)
        k = order.get(id(found[i]))
        if var_label is not None:       # a result keeps its operator's name beside it
            node.name = var_label if found[i].op is None else f"{var_label}: {node.name}"
            node.label = None           # the name says it already
        elif k is not None:
            node.name = f"#{k} {node.name}"
        values = [state[i] for state in grads if state[i] is not None]
        if values:
            node.grad = max(values, key=lambda v: text_width(format_value(v), 12.5))
        elif node.req_grad:
            node.grad = 0.0             # room for "grad -" later
    placed = Placed(graph, orientation)

    svgs = []
    for k in range(len(steps) + 1):
        current = index[id(steps[k - 1].node)] if k else None
        done = {index[id(s.node)] for s in steps[:k - 1]} if k else set()
        flows = {}
        if k:
            for p in steps[k - 1].passes:
                if p.kind != "skipped":
                    flows.setdefault(index[id(p.var)], []).append(p.grad)
        svgs.append(paint(placed, *_step_styles(grads[k], current, done, flows)).svg)
    drawing = BackwardSteps(root, steps, [], svgs, labels, order, dy)
    drawing.captions = [_caption(drawing, k) for k in range(len(steps) + 1)]
    return drawing


def _grads_by_state(root, dy, steps, found, index):
    """The gradient each node shows before the pass and after each step: None
    (none yet) or a float."""
    state = [var.grad if var.op is None and var.req_grad else None for var in found]
    if root.op is not None:
        state[index[id(root)]] = dy
    grads = [state]
    for s in steps:
        state = list(state)
        for p in s.passes:
            if p.kind != "skipped":
                state[index[id(p.var)]] = p.total
        grads.append(state)
    return grads


def _step_styles(grads, current, done, flows):
    """The style hooks of one step: each node's grad line, the current node,
    the finished ones, those receiving gradients and the edges carrying them,
    labelled with the gradients they carry."""
    def node_style(node):
        i, g = node.index, grads[node.index]
        style = {"title": node.tooltip.split(" value ")[0] +
                 ("" if g is None else f", gradient {g!r}")}
        if node.grad is not None:
            style["grad"] = g
        if i == current:
            style.update(CURRENT)
        elif i in done:
            style.update(DONE)
        elif i in flows:
            style.update(RECEIVES)
        return style

    def edge_style(edge):
        if edge.dst == current and edge.src in flows:
            return dict(FLOWING, label=" + ".join(format_value(v) for v in flows[edge.src]))
        return None
    return node_style, edge_style


def backward_steps(root, name, orientation="TB", *, dy=None, labels=None, svg=False,
                   max_nodes=DEFAULT_MAX_NODES):
    """Write ``name.html``: the backward pass from ``root``, one drawing per
    step in the order ``backward()`` runs them (see ``draw_backward``). With
    ``svg=True`` also ``name-00.svg``, ``name-01.svg``, ... Returns the paths
    written, the page first. Draw before ``backward()``, or after
    ``backward(retain_graph=True)``; nothing is changed."""
    drawing = draw_backward(root, orientation, dy=dy, labels=labels, max_nodes=max_nodes)
    path = os.fspath(name)
    if path.lower().endswith(".html"):
        path = path[:-5]
    paths = [drawing.save(path + ".html")]
    if svg:
        paths += drawing.save_svgs(path)
    return paths
