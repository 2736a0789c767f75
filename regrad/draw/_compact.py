"""The compact view: each neuron's weighted sum drawn as one node.

A model's graph repeats one pattern per neuron: ``b + w0*x0 + w1*x1 + ...``
(a chain of Add over Mul nodes, each Mul taking a parameter) and often a
Relu on top. The compact view folds each such chain, its parameters and its
Relu into one ``neuron`` node whose inputs are the ``x``s, so that a model of
a thousand scalar nodes reads as its layers. Everything else is drawn as in
the full view.

The pattern is found from the graph's structure alone:

- a *term* is a Mul of two distinct inputs, one a leaf that requires grad
  (the weight: the first such operand), used by nothing but its Add;
- a chain starts at an Add of a term and either a leaf that requires grad
  (the bias) or another term, and goes on through Adds of the chain so far
  (used by nothing else) and a new term;
- a Relu that is the chain's only user is folded in too.

Folded parameters vanish from the drawing unless something else uses them.
When parameters carry labels (a ``label`` attribute such as ``L1.N3.w0``),
the neuron is named by what their labels share (``L1.N3``).
"""
from ._graph import Graph, Node, _inputs, add_edges, check_size, format_value

__all__ = ["compact"]


def _op_name(var):
    op = getattr(var, "op", None)
    return None if op is None else str(getattr(op, "name", type(op).__name__))


def _is_param(var):
    return getattr(var, "op", None) is None and bool(getattr(var, "req_grad", False))


class NeuronNode(Node):
    """A neuron of the compact view: ``inputs`` how many distinct inputs it
    reads, ``params`` how many parameters it folds in, ``has_bias``,
    ``has_relu``, ``members`` how many Vars of the full graph it stands for."""

    __slots__ = ("inputs", "params", "has_bias", "has_relu", "members")

    def __init__(self, index, out, is_root, name, inputs, params, has_bias, has_relu, members):
        super().__init__(index, out, is_root)
        self.kind = "neuron"
        self.name = name
        self.symbol = ""
        self.args = {}
        self.released = False
        self.inputs, self.params, self.members = inputs, params, members
        self.has_bias, self.has_relu = has_bias, has_relu

    @property
    def formula(self):
        s = "w\u00b7x" + (" + b" if self.has_bias else "")
        return f"relu({s})" if self.has_relu else s

    @property
    def label_lines(self):
        lines = [self.name, f"{self.formula}, {self.inputs} in", format_value(self.val)]
        if self.grad is not None:
            lines.append(f"grad {format_value(self.grad)}")
        return lines

    @property
    def tooltip(self):
        return (f"{self.name}: {self.formula} over {self.inputs} inputs, {self.params} "
                f"parameters, {self.members} nodes of the full graph; value {self.val!r}")


def _group_name(params):
    """What the parameters' labels share before their last dot, if they all
    have one and it is the same; else "neuron"."""
    prefixes = set()
    for p in params:
        label = getattr(p, "label", None)
        if not isinstance(label, str) or "." not in label:
            return "neuron"
        prefixes.add(label.rsplit(".", 1)[0])
    return prefixes.pop() if len(prefixes) == 1 else "neuron"


def compact(order, max_nodes):
    """The compact ``Graph`` of the Vars ``order`` (from ``walk``)."""
    n = len(order)
    index = {id(v): i for i, v in enumerate(order)}
    ins = [[index[id(x)] for x in _inputs(v)] for v in order]
    users = [0] * n                       # distinct results using each node
    user = [None] * n                     # one of them
    for i in range(n):
        for j in set(ins[i]):
            users[j] += 1
            user[j] = i
    name = [_op_name(v) for v in order]
    param = [_is_param(v) for v in order]
    term = _terms(name, ins, users, param)
    chains = _chains(name, ins, users, param, term)
    folded, out_of = _fold(chains, name, ins, users, user, param, term)
    graph = _compact_graph(order, ins, term, folded, out_of)
    check_size(len(graph.nodes), max_nodes, "compact view")
    return graph


def _terms(name, ins, users, param):
    """term[i] = (weight, input) for a Mul that is a term."""
    term = {}
    for i in range(len(name)):
        if name[i] == "Mul" and len(ins[i]) == 2 and users[i] == 1:
            a, b = ins[i]
            if a != b and (param[a] or param[b]):
                term[i] = (a, b) if param[a] else (b, a)
    return term


def _chains(name, ins, users, param, term):
    """The chains, each a dict: its ``bias`` (or None), ``terms``, ``adds``
    and ``end`` (its last Add)."""
    group = {}      # the chain each Add belongs to
    chains = []
    for i in range(len(name)):
        if name[i] != "Add" or len(ins[i]) != 2:
            continue
        a, b = ins[i]
        t, acc = (b, a) if b in term else (a, b) if a in term else (None, None)
        if t is None or a == b:
            continue
        g = group.get(acc)
        if g is not None and g["end"] == acc and users[acc] == 1:
            g["terms"].append(t)
        elif param[acc]:
            g = {"bias": acc, "terms": [t], "adds": []}
            chains.append(g)
        elif acc in term:
            g = {"bias": None, "terms": [acc, t], "adds": []}
            chains.append(g)
        else:
            continue
        g["adds"].append(i)
        g["end"] = i
        group[i] = g
    return chains


def _fold(chains, name, ins, users, user, param, term):
    """What the chains fold (``folded[i]``: drawn as part of a neuron), and
    the node that stands for each chain (its output's index -> the chain,
    which gets ``relu`` and ``out``)."""
    n = len(name)
    folded = [False] * n
    param_uses = [0] * n        # uses of a parameter folded into neurons
    out_of = {}
    for g in chains:
        end = g["end"]
        for x in g["adds"]:
            folded[x] = True
        for t in g["terms"]:
            folded[t] = True
            param_uses[term[t][0]] += 1
        if g["bias"] is not None:
            param_uses[g["bias"]] += 1
        out = end
        g["relu"] = False
        k = user[end]
        if users[end] == 1 and name[k] == "Relu" and ins[k] == [end]:
            out, g["relu"] = k, True
            folded[k] = True
        g["out"] = out
        out_of[out] = g
    for j in range(n):
        if param[j] and param_uses[j] and param_uses[j] == users[j]:
            folded[j] = True
    return folded, out_of


def _compact_graph(order, ins, term, folded, out_of):
    """The kept nodes, and one node per chain at its output."""
    n = len(order)
    new_index = {}
    nodes, edges = [], []
    for i in range(n):
        g = out_of.get(i)
        if g is None and folded[i]:
            continue
        k = len(nodes)
        new_index[i] = k
        if g is None:
            nodes.append(Node(k, order[i], i == n - 1))
            sources = ins[i]
        else:
            sources = [term[t][1] for t in g["terms"]]
            nodes.append(_neuron(k, order, i == n - 1, g, term, len(set(sources))))
        add_edges(edges, [new_index[j] for j in sources], k)
    return Graph(nodes, edges)


def _neuron(k, order, is_root, g, term, distinct):
    params = [term[t][0] for t in g["terms"]] + ([g["bias"]] if g["bias"] is not None else [])
    return NeuronNode(
        k, order[g["out"]], is_root, _group_name([order[p] for p in params]), distinct,
        len(params), g["bias"] is not None, g["relu"],
        len(g["adds"]) + 2 * len(g["terms"]) + int(g["bias"] is not None) + int(g["relu"]))
