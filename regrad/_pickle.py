"""The pickle format, one for both engines. A leaf pickles as ``_leaf(val,
req_grad, grad, label)``; a result as ``_graph(leaves, ops, vals, inputs,
powers, labels)``: its leaves as objects (so that pickle keeps them shared),
then every result under it in creation order (root last) as flat columns, so
that pickle never recurses once per node: op names, values, the inputs'
indexes into leaves + results (-1 for a released result), the Pows'
exponents, and {position: label}. Each engine keeps the two names pickles
refer to and supplies how to read a result's inputs and make a result.
"""
from . import function, ops
from .ops import to_float


def leaf_form(x):
    """The arguments ``_leaf`` rebuilds the leaf ``x`` from."""
    return (x.val, x.req_grad, x.grad, x.label)


def rebuild_leaf(Var, val, req_grad, grad, label):
    """A leaf of the engine's ``Var`` from its pickled form."""
    v = Var(val, req_grad, label)
    if grad is not None:
        v.grad = grad
    return v


def flatten(root, inputs, born):
    """The arguments ``_graph`` rebuilds the result ``root`` from: ``inputs(x)``
    is a result's tuple of inputs (None once released), ``born(x)`` its
    creation number."""
    results, leaves, seen, stack = [], [], {root}, [root]
    while stack:
        node = stack.pop()
        results.append(node)
        for x in inputs(node) or ():
            if x not in seen:
                seen.add(x)
                (stack if x.op is not None else leaves).append(x)
    results.sort(key=born)
    index = {x: i for i, x in enumerate(leaves + results)}
    columns, powers = [], []
    for x in results:
        op, src = x.op, inputs(x)
        columns.extend([-1] * op.arity if src is None else [index[y] for y in src])
        if isinstance(op, ops.Pow):
            powers.append(op.power)
    return (tuple(leaves),   # an operator defined in Python: itself, pickled by reference
            tuple(x.name if x.op.code >= 0 else x.op for x in results),
            tuple(x.val for x in results),
            tuple(columns), tuple(powers),
            {i: x.label for i, x in enumerate(results) if x.label is not None})


def rebuild_graph(Var, make_result, leaves, op_names, vals, inputs, powers, labels):
    """The root of a pickled graph, its results made by ``make_result(op, val,
    inputs, label)`` (``inputs`` None for a released result); the columns are
    checked first, so no input can build a malformed node."""
    nodes = list(leaves)
    for x in nodes:
        if not isinstance(x, Var):
            raise TypeError(f"regrad: cannot rebuild a graph on a {type(x).__name__}")
    op_names, vals, inputs, powers, labels = (tuple(op_names), tuple(vals), tuple(inputs),
                                              iter(tuple(powers)), dict(labels))
    if not op_names or len(vals) != len(op_names):
        raise ValueError("regrad: malformed pickled graph (no results, or not one value each)")
    j = 0
    for i, name in enumerate(op_names):
        op = ops.OPS_BY_NAME.get(name) if type(name) is str else function.pickled(name)
        if op is None:
            raise ValueError(f"regrad: unknown operator {name!r} in a pickled graph")
        args = inputs[j:j + op.arity]
        j += op.arity
        if len(args) != op.arity or not all(type(n) is int and -1 <= n < len(nodes)
                                            for n in args) or (-1 in args and set(args) != {-1}):
            raise ValueError("regrad: malformed inputs in a pickled graph")
        val = to_float(vals[i], "Var value")
        if op is ops.Pow:
            power = next(powers, None)
            if power is None:
                raise ValueError("regrad: a Pow without its exponent in a pickled graph")
            op = ops.Pow(to_float(power, "power"))
        src = None if args[0] == -1 else tuple(nodes[n] for n in args)
        nodes.append(make_result(op, val, src, ops.check_label(labels.get(i))))
    if j != len(inputs) or next(powers, None) is not None:
        raise ValueError("regrad: malformed pickled graph (columns of different lengths)")
    return nodes[-1]
