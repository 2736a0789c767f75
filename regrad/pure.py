"""The pure-Python engine: the readable reference for ``regrad._core``.

A ``Var`` holds a value and, when an operator made it, that operator (``op``,
from ``regrad.ops``) and its inputs (``src``). ``backward()`` walks the graph
once in reverse topological order, asks each operator for the gradients of its
inputs, and adds them up; only leaves keep a gradient (``.grad``). The compiled
engine implements exactly this, in the same order, so both give the same bits.
"""
import itertools
import threading

from . import ops
from .ops import to_float, is_real

__all__ = ["Var"]

# Results requiring grad are numbered as they are made (``_born``): the order
# the program ran them in, which a replay needs to raise, of two failing
# nodes, the one the program meets first (see ``replay.py``).
_births = itertools.count(1)

_UNARY = {op.method: op for op in ops.OPS if op.method}

# Held while a backward (or a recording) reads and releases a graph, so that two
# threads differentiating one graph see what the compiled engine shows them:
# one pass runs whole, the other meets a released graph. Reentrant, so that
# a finalizer running a backward inside one cannot deadlock.
_graph_lock = threading.RLock()


class Var:
    """A scalar in a computation graph.

    ``Var(val, req_grad=False, label=None)``: a leaf. Results of operators on
    Vars are Vars too; a result requires grad exactly when one of its inputs
    does, and a result that does not is a constant leaf (it keeps no inputs).
    ``label`` names the Var in drawings and in ``repr``.
    """

    __slots__ = ("_val", "_grad", "_req_grad", "_op", "_src", "_born", "_label")

    def __init__(self, val, req_grad=False, label=None):
        if getattr(self, "_op", None) is not None:
            raise TypeError("Var.__init__ cannot re-initialize an operator's result")
        val, label, req_grad = to_float(val, "Var value"), ops.check_label(label), bool(req_grad)
        self._label = label
        self._val = val
        self._grad = None
        self._req_grad = req_grad
        self._op = None    # the operator that made this Var; None for a leaf
        self._src = None   # the tuple of input Vars; None for a leaf or once released

    # ------------------------------------------------------------ attributes
    @property
    def val(self):
        """The value, a float; writable (optimizers assign to it)."""
        return self._val

    @val.setter
    def val(self, value):
        self._val = to_float(value, "val")

    @property
    def grad(self):
        """The accumulated gradient of a leaf; None before any backward reaches
        it, and always None for results (regrad keeps no intermediate grads)."""
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is None:
            self._grad = None
            return
        if self._op is not None:
            raise RuntimeError(f"{self._op.name} result: only leaves keep a gradient")
        self._grad = to_float(value, "grad")

    @property
    def req_grad(self):
        """Whether gradients flow to this Var; writable on a leaf."""
        return self._req_grad

    @req_grad.setter
    def req_grad(self, value):
        if self._op is not None:
            raise RuntimeError("req_grad can only be changed on a leaf Var")
        self._req_grad = bool(value)

    @property
    def op(self):
        """The operator (from ``regrad.ops``) that made this Var; None for a leaf.
        ``x.op.args`` holds its arguments, e.g. ``{"power": 2.0}``."""
        return self._op

    @property
    def src(self):
        """The tuple of input Vars; None for a leaf or a released result."""
        return self._src

    @property
    def name(self):
        """The operator's name (``Add``, ``Pow``, ...), or ``Var`` for a leaf."""
        return "Var" if self._op is None else self._op.name

    @property
    def label(self):
        """A name for this Var (a str, or None), shown by drawings and ``repr``; writable."""
        try:
            return self._label
        except AttributeError:    # results are made without one
            return None

    @label.setter
    def label(self, value):
        self._label = ops.check_label(value)

    # ------------------------------------------------- behaving like a number
    def __repr__(self):
        return ops.var_repr(self)

    def __str__(self):
        return repr(self._val)

    def __format__(self, spec):
        """Formats the value: ``f"{x:.3f}"``."""
        return format(self._val, spec)

    def __float__(self):
        return self._val

    def __round__(self, ndigits=None):
        """Rounds the value, as ``round(x.val, ndigits)``."""
        return round(self._val, ndigits)

    # == and hash stay those of object (identity): a Var is a graph node
    def __lt__(self, other):
        y = _compared(other)
        return NotImplemented if y is NotImplemented else bool(self._val < y)

    def __le__(self, other):
        y = _compared(other)
        return NotImplemented if y is NotImplemented else bool(self._val <= y)

    def __gt__(self, other):
        y = _compared(other)
        return NotImplemented if y is NotImplemented else bool(self._val > y)

    def __ge__(self, other):
        y = _compared(other)
        return NotImplemented if y is NotImplemented else bool(self._val >= y)

    # -------------------------------------------------------------- copying
    def __reduce__(self):
        """Pickling and copying: a leaf as itself; a result with its graph (the
        leaves as objects, so they stay shared, the results as flat columns,
        so that no depth of graph makes pickle recurse). The compiled engine
        writes the same form."""
        if self._op is None:
            return _leaf, (self._val, self._req_grad, self._grad, self.label)
        return _graph, _flatten(self)

    # ------------------------------------------------------------- operators
    def _apply(self, op, *inputs):
        val = op.forward(*(x._val for x in inputs))
        out = Var.__new__(Var)
        out._val = val
        out._grad = None
        for x in inputs:
            if x._req_grad:
                out._req_grad = True
                out._op = op
                out._src = inputs
                out._born = next(_births)
                return out
        out._req_grad = False   # a constant: keeps no inputs
        out._op = None
        out._src = None
        return out

    def __add__(self, other):
        other = _as_var(other)
        return NotImplemented if other is None else self._apply(ops.ADD, self, other)

    def __radd__(self, other):
        other = _as_var(other)
        return NotImplemented if other is None else self._apply(ops.ADD, other, self)

    def __sub__(self, other):
        other = _as_var(other)
        return NotImplemented if other is None else self._apply(ops.SUB, self, other)

    def __rsub__(self, other):
        other = _as_var(other)
        return NotImplemented if other is None else self._apply(ops.SUB, other, self)

    def __mul__(self, other):
        other = _as_var(other)
        return NotImplemented if other is None else self._apply(ops.MUL, self, other)

    def __rmul__(self, other):
        other = _as_var(other)
        return NotImplemented if other is None else self._apply(ops.MUL, other, self)

    def __truediv__(self, other):
        other = _as_var(other)
        return NotImplemented if other is None else self._apply(ops.DIV, self, other)

    def __rtruediv__(self, other):
        other = _as_var(other)
        return NotImplemented if other is None else self._apply(ops.DIV, other, self)

    def __neg__(self):
        return self._apply(ops.NEG, self)

    def __pow__(self, power, modulo=None):
        if modulo is not None or isinstance(power, Var) or not is_real(power):
            return NotImplemented   # the exponent must be a plain number
        return self._apply(ops.Pow(float(power)), self)

    def exp(self):
        """e ** self."""
        return self._apply(_UNARY["exp"], self)

    def log(self):
        """The natural logarithm; ValueError for a value <= 0."""
        return self._apply(_UNARY["log"], self)

    def sqrt(self):
        """The square root; ValueError for a negative value."""
        return self._apply(_UNARY["sqrt"], self)

    def sin(self):
        """The sine; ValueError for an infinite value."""
        return self._apply(_UNARY["sin"], self)

    def cos(self):
        """The cosine; ValueError for an infinite value."""
        return self._apply(_UNARY["cos"], self)

    def tanh(self):
        """The hyperbolic tangent."""
        return self._apply(_UNARY["tanh"], self)

    def relu(self):
        """max(self, 0); its slope at 0 is 0."""
        return self._apply(_UNARY["relu"], self)

    def sigmoid(self):
        """1 / (1 + e ** -self)."""
        return self._apply(_UNARY["sigmoid"], self)

    def abs(self):
        """The absolute value; its slope at 0 is 0."""
        return self._apply(_UNARY["abs"], self)

    __abs__ = abs

    # -------------------------------------------------------------- backward
    def backward(self, dy=None, retain_graph=False, create_graph=False):
        """Add d(self)/d(leaf) * dy into the ``.grad`` of every leaf that
        requires grad. Without ``retain_graph`` the graph's interior is
        released afterwards, and a second backward through it raises
        RuntimeError. ``.grad`` holds a number: for gradients as Vars
        (``create_graph=True``) use ``regrad.grad``."""
        if create_graph:
            raise ValueError(ops.BACKWARD_CREATE_GRAPH_MESSAGE)
        if not self._req_grad:
            raise RuntimeError(ops.NO_GRAD_MESSAGE)
        dy = 1.0 if dy is None else to_float(dy, "dy")
        if self._op is None:            # a leaf: its gradient is dy itself
            self._grad = (0.0 if self._grad is None else self._grad) + dy
            return
        with _graph_lock:    # see _graph_lock
            # PyTorch's dependency-counting schedule (the compiled engine runs the
            # same one, so both add up gradients in the same order):
            pending = _count_consumers(self)   # raises before any gradient is touched
            adjoint = {self: dy}               # gradients of results, dropped as used
            ready = [self]                     # results whose consumers have all passed
            while ready:
                node = ready.pop()
                g = adjoint.pop(node)
                inputs = node._src
                if not retain_graph:
                    node._src = None            # release this result's links to its inputs
                grads = node._op.backward(node._val, g, *(x._val for x in inputs))
                for x, gx in zip(inputs, grads):
                    if not x._req_grad:
                        continue
                    if x._op is None:           # a leaf requiring grad: accumulate
                        x._grad = (0.0 if x._grad is None else x._grad) + gx
                        continue
                    adjoint[x] = adjoint.get(x, 0.0) + gx
                    pending[x] -= 1
                    if pending[x] == 0:        # its last consumer has passed
                        ready.append(x)


def _count_consumers(root):
    """For every result requiring grad under ``root``: how many edges lead to
    it from results under ``root``. Raises RuntimeError if the graph (or a part
    of it) was released by an earlier backward, naming of the released results
    the one made first (so that the message does not depend on the order of
    the traversal, which differs between the engines)."""
    if root._src is None:
        raise ops.released_error(root.name)
    pending = {}
    seen = [root]
    released = None
    for node in seen:                      # grows as it goes: breadth first
        for x in node._src or ():          # a released result: no inputs to visit
            if x._op is not None and x._req_grad:
                if x not in pending:
                    pending[x] = 0
                    seen.append(x)
                    if x._src is None and (released is None or x._born < released._born):
                        released = x
                pending[x] += 1
    if released is not None:
        raise ops.released_error(released.name)
    return pending


def _release(node):
    """Drop a result's links to its inputs, as backward() does once the result
    has passed its gradient on (``regrad.grad`` without ``retain_graph``)."""
    if node._op is not None:
        node._src = None


def _compared(other):
    """What a comparison compares the value with: a real number (compared
    exactly, as Python compares numbers); NotImplemented for anything else."""
    if isinstance(other, Var):
        return other._val
    return other if is_real(other) else NotImplemented


def _as_var(x):
    """A Var for an operand, or None when the type is not supported."""
    if isinstance(x, Var):
        return x
    if is_real(x):
        const = Var.__new__(Var)
        const._val = float(x)
        const._grad = None
        const._req_grad = False
        const._op = None
        const._src = None
        return const
    return None


# ------------------------------------------------------------------ pickling
# The form both engines write (see ``regrad/_core.pyx``): a leaf is
# ``_leaf(val, req_grad, grad, label)``; a result is ``_graph(leaves, ops,
# vals, inputs, powers, labels)``: its leaves as objects, then every result
# under it in creation order (root last), as columns: op names, values, the
# inputs' indexes into leaves + results (-1 for a released result), the
# exponents of the Pows, and {position: label} for the labelled results.

def _leaf(val, req_grad, grad, label):
    """Rebuild a pickled leaf (see ``Var.__reduce__``)."""
    v = Var(val, req_grad, label)
    if grad is not None:
        v.grad = grad
    return v


def _born_of(x):
    """A result's creation number (regrad.draw orders results of either engine by it)."""
    return x._born


def _flatten(root):
    results, leaves, seen, stack = [], [], {root}, [root]
    while stack:
        node = stack.pop()
        results.append(node)
        for x in node._src or ():
            if x not in seen:
                seen.add(x)
                (stack if x._op is not None else leaves).append(x)
    results.sort(key=_born_of)
    index = {x: i for i, x in enumerate(leaves + results)}
    inputs = []
    for x in results:
        inputs.extend([-1] * x._op.arity if x._src is None else [index[y] for y in x._src])
    return (tuple(leaves), tuple(x._op.name for x in results), tuple(x._val for x in results),
            tuple(inputs), tuple(x._op.power for x in results if isinstance(x._op, ops.Pow)),
            {i: x.label for i, x in enumerate(results) if x.label is not None})


def _graph(leaves, op_names, vals, inputs, powers, labels):
    """Rebuild a pickled result and its graph (see ``Var.__reduce__``); the
    columns are checked, so no input can build a malformed node."""
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
        op = ops.OPS_BY_NAME.get(name) if type(name) is str else None
        if op is None:
            raise ValueError(f"regrad: unknown operator {name!r} in a pickled graph")
        args = inputs[j:j + op.arity]
        j += op.arity
        if len(args) != op.arity or not all(type(n) is int and -1 <= n < len(nodes)
                                            for n in args) or (-1 in args and set(args) != {-1}):
            raise ValueError("regrad: malformed inputs in a pickled graph")
        out = Var.__new__(Var)
        out._val = to_float(vals[i], "Var value")
        if op is ops.Pow:
            power = next(powers, None)
            if power is None:
                raise ValueError("regrad: a Pow without its exponent in a pickled graph")
            op = ops.Pow(to_float(power, "power"))
        out._op = op
        out._grad = None
        out._req_grad = True
        out._born = next(_births)
        out._label = ops.check_label(labels.get(i))
        out._src = None if args[0] == -1 else tuple(nodes[n] for n in args)
        nodes.append(out)
    if j != len(inputs) or next(powers, None) is not None:
        raise ValueError("regrad: malformed pickled graph (columns of different lengths)")
    return nodes[-1]
