"""The graph under a Var, as plain data for the drawings.

``collect(root)`` walks from ``root`` through ``.src`` without recursion,
dedupes Vars by identity, and returns a ``Graph``: its nodes in topological
order (every input before the results that use it, the root last) and its
edges from inputs to results. Everything the renderers need (kind, label
lines, value, gradient) is read here, once, from the public ``Var`` API
(``val``, ``grad``, ``req_grad``, ``name``, ``op``, ``src``, and ``label``
where present), so any object with those attributes can be drawn.
"""
import math
import numbers

__all__ = ["Node", "Edge", "Graph", "collect", "walk", "check_size", "KINDS",
           "DEFAULT_MAX_NODES", "format_value", "format_arg"]

#: The node kinds, in legend order: a leaf that requires grad (a parameter or
#: an input being differentiated), a leaf that does not (a variable or a
#: constant), a result made by an operator, and (in the compact view only) a
#: neuron's weighted sum drawn as one node.
KINDS = ("param", "const", "op", "neuron")

#: Graphs with more nodes than this are refused unless ``max_nodes`` is raised:
#: one sample through the moons model, MLP(2, [16, 16, 1]), has about 1,000.
DEFAULT_MAX_NODES = 2000


def format_value(v):
    """A value as the drawings show it: 4 decimals, or 4 significant digits in
    scientific notation when it is too large for that to stay short."""
    try:
        v = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    text = f"{v:.4e}" if abs(v) >= 1e7 else f"{v:.4f}"
    if text.startswith("-") and float(text) == 0.0:
        text = text[1:]           # -0.0, or a tiny negative number: no "-0.0000"
    return text


def format_arg(v):
    """An operator argument as in the op's ``repr``: ``power=2``, ``power=0.5``."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        return str(v)
    f = float(v)
    if f.is_integer() and abs(f) < 1e16:
        return str(int(f))
    return repr(f)


class Node:
    """One Var of the graph.

    ``index`` its position in ``Graph.nodes``; ``kind`` one of ``KINDS``;
    ``name`` the Var's ``.name`` (``"Var"`` for a leaf, else the operator's
    name); ``symbol`` the operator's symbol (``""`` for a leaf); ``args`` the
    operator's arguments (``{"power": 2.0}``); ``val``; ``grad`` (a float, or
    None when the Var has none to show); ``label`` (the Var's label, or
    None), shown before the value; ``req_grad``; ``released`` is True
    for a result whose inputs were freed by ``backward()`` (its ``.src`` is
    gone, so its inputs cannot be drawn); ``is_root``.
    """

    __slots__ = ("index", "kind", "name", "symbol", "args", "val", "grad", "label",
                 "req_grad", "released", "is_root")

    def __init__(self, index, var, is_root):
        self.index = index
        op = getattr(var, "op", None)
        self.req_grad = bool(getattr(var, "req_grad", False))
        if op is not None:
            self.kind = "op"
        elif self.req_grad:
            self.kind = "param"
        else:
            self.kind = "const"
        name = getattr(var, "name", None)
        if name is None:
            name = "Var" if op is None else getattr(op, "name", type(op).__name__)
        self.name = str(name)
        self.symbol = "" if op is None else str(getattr(op, "symbol", ""))
        args = getattr(op, "args", None) if op is not None else None
        self.args = dict(args) if args else {}
        self.val = var.val
        grad = getattr(var, "grad", None)
        self.grad = None if grad is None else grad
        label = getattr(var, "label", None)
        self.label = None if label is None else str(label)
        self.released = op is not None and getattr(var, "src", None) is None
        self.is_root = is_root

    @property
    def label_lines(self):
        """The text of the node, one line each: name, arguments (if any),
        value (after the label, if any: ``w1 = 0.5000``), gradient (if any)."""
        lines = [self.name]
        if self.args:
            lines.append(", ".join(f"{k}={format_arg(v)}" for k, v in self.args.items()))
        value = format_value(self.val)
        lines.append(value if self.label is None else f"{self.label} = {value}")
        if self.grad is not None:
            lines.append(f"grad {format_value(self.grad)}")
        return lines

    @property
    def tooltip(self):
        """A longer description, for hover titles."""
        kind = {"param": "leaf, requires grad", "const": "leaf, no grad",
                "op": "result"}[self.kind]
        head = self.name
        if self.args:
            head += "(" + ", ".join(f"{k}={format_arg(v)}" for k, v in self.args.items()) + ")"
        if self.label is not None:
            head = f"{self.label}: {head}"
        text = f"{head} [{kind}] value {self.val!r}"
        if self.grad is not None:
            text += f", grad {self.grad!r}"
        if self.released:
            text += " (inputs released by backward)"
        return text

    def __repr__(self):
        return f"Node({self.index}, {self.kind}, {' | '.join(self.label_lines)})"


class Edge:
    """An input feeding a result: ``src`` and ``dst`` are node indexes,
    ``port`` the input's place among the result's distinct inputs (in
    ``.src`` order), ``count`` how many times it appears in ``.src`` (2 for
    ``a * a``)."""

    __slots__ = ("src", "dst", "port", "count")

    def __init__(self, src, dst, port):
        self.src = src
        self.dst = dst
        self.port = port
        self.count = 1

    def __repr__(self):
        return f"Edge({self.src} -> {self.dst}, port={self.port}, count={self.count})"


class Graph:
    """``nodes`` in topological order (root last), ``edges`` from inputs to
    results, ``inputs[i]`` the number of distinct inputs of node ``i``."""

    __slots__ = ("nodes", "edges", "inputs")

    def __init__(self, nodes, edges):
        self.nodes = nodes
        self.edges = edges
        self.inputs = [0] * len(nodes)
        for e in edges:
            self.inputs[e.dst] += 1

    @property
    def root(self):
        return self.nodes[-1]

    @property
    def released(self):
        """True when some result lost its inputs to an earlier backward()."""
        return any(n.released for n in self.nodes)

    @property
    def has_grads(self):
        return any(n.grad is not None for n in self.nodes)


def _inputs(var):
    src = getattr(var, "src", None)
    if not src:
        return ()
    return tuple(x for x in src if x is not None)


def check_var(root):
    """TypeError unless ``root`` is a Var (of either engine)."""
    if not hasattr(root, "val") or not hasattr(root, "src"):
        raise TypeError(f"expected a Var, not {type(root).__name__}")


def _check_root(root):
    check_var(root)
    if getattr(root, "op", None) is not None and getattr(root, "src", None) is None:
        raise RuntimeError(
            f"cannot draw this {root.name} result: backward() released its graph, so only "
            "the result itself is left. Draw before backward(), or call "
            "backward(retain_graph=True) to keep the graph.")


def _check_max_nodes(max_nodes):
    if max_nodes is not None and (isinstance(max_nodes, bool) or not isinstance(max_nodes, int)
                                  or max_nodes < 1):
        raise ValueError(f"max_nodes must be a positive integer or None, not {max_nodes!r}")


def check_size(n, max_nodes, what="graph"):
    """Raise ValueError naming the size when ``n`` nodes is more than ``max_nodes``."""
    if max_nodes is not None and n > max_nodes:
        raise ValueError(
            f"the {what} has {n} nodes, more than max_nodes={max_nodes}: too large to draw "
            f"readably. Pass max_nodes={n} (or max_nodes=None) to draw it anyway, or draw "
            "a smaller part of the graph.")


def walk(root):
    """Every Var reachable from ``root``, inputs before results, root last."""
    _check_root(root)
    # Iterative depth-first post-order: a node is emitted after all its
    # inputs, inputs visited in .src order. Every Var visited stays referenced
    # by `order` or the stack (and by root), so id() is a stable identity.
    seen = {id(root)}
    order = []
    stack = [[root, _inputs(root), 0]]
    while stack:
        frame = stack[-1]
        var, ins, i = frame
        if i < len(ins):
            frame[2] = i + 1
            x = ins[i]
            if id(x) not in seen:
                seen.add(id(x))
                stack.append([x, _inputs(x), 0])
        else:
            stack.pop()
            order.append(var)
    return order


def collect(root, max_nodes=DEFAULT_MAX_NODES):
    """The ``Graph`` of every Var reachable from ``root`` through ``.src``.

    Raises ValueError naming the graph's size when it has more than
    ``max_nodes`` nodes (``None`` for no limit).
    """
    _check_root(root)
    _check_max_nodes(max_nodes)
    order = walk(root)
    n = len(order)
    check_size(n, max_nodes)
    index = {id(v): i for i, v in enumerate(order)}
    nodes = [Node(i, v, i == n - 1) for i, v in enumerate(order)]
    edges = []
    for j, var in enumerate(order):
        add_edges(edges, [index[id(x)] for x in _inputs(var)], j)
    return Graph(nodes, edges)


def add_edges(edges, sources, k):
    """The edges into node ``k`` from node indices ``sources``: one per distinct
    source, in order of first use (its port), counting a repeated input."""
    by_src = {}
    for s in sources:
        e = by_src.get(s)
        if e is None:
            e = by_src[s] = Edge(s, k, len(by_src))
            edges.append(e)
        else:
            e.count += 1
