"""The pure-Python engine: the readable reference for ``regrad._core``.

A ``Var`` holds a value and, when an operator made it, that operator (``op``,
from ``regrad.ops``) and its inputs (``src``). ``backward()`` walks the graph
once in reverse topological order, asks each operator for the gradients of its
inputs, and adds them up; only leaves keep a gradient (``.grad``). The compiled
engine implements exactly this, in the same order, so both give the same bits.
"""
import itertools
import numbers

from . import ops
from .ops import to_float

__all__ = ["Var"]

# Results requiring grad are numbered as they are made (``_born``): the order
# the program ran them in, which a replay needs to raise, of two failing
# nodes, the one the program meets first (see ``replay.py``).
_births = itertools.count(1)

_UNARY = {op.method: op for op in ops.OPS if op.method}


class Var:
    """A scalar in a computation graph.

    ``Var(val, req_grad=False)``: a leaf. Results of operators on Vars are
    Vars too; a result requires grad exactly when one of its inputs does,
    and a result that does not is a constant leaf (it keeps no inputs).
    """

    __slots__ = ("_val", "_grad", "_req_grad", "_op", "_src", "_born")

    def __init__(self, val, req_grad=False):
        self._val = to_float(val, "Var value")
        self._grad = None
        self._req_grad = bool(req_grad)
        self._op = None    # the operator that made this Var; None for a leaf
        self._src = None   # the tuple of input Vars; None for a leaf or once released

    # ------------------------------------------------------------ attributes
    @property
    def val(self):
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
        return self._req_grad

    @req_grad.setter
    def req_grad(self, value):
        if self._op is not None:
            raise RuntimeError("req_grad can only be changed on a leaf Var")
        self._req_grad = bool(value)

    @property
    def op(self):
        """The operator (from ``regrad.ops``) that made this Var; None for a leaf."""
        return self._op

    @property
    def src(self):
        """The tuple of input Vars; None for a leaf or a released result."""
        return self._src

    @property
    def name(self):
        """The operator's name (``Add``, ``Pow``, ...), or ``Var`` for a leaf."""
        return "Var" if self._op is None else self._op.name

    def __repr__(self):
        return repr(self._val)

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
        if modulo is not None or isinstance(power, Var) or not isinstance(power, numbers.Real):
            return NotImplemented   # the exponent must be a plain number
        return self._apply(ops.Pow(float(power)), self)

    def exp(self):
        return self._apply(_UNARY["exp"], self)

    def log(self):
        return self._apply(_UNARY["log"], self)

    def sqrt(self):
        return self._apply(_UNARY["sqrt"], self)

    def sin(self):
        return self._apply(_UNARY["sin"], self)

    def cos(self):
        return self._apply(_UNARY["cos"], self)

    def tanh(self):
        return self._apply(_UNARY["tanh"], self)

    def relu(self):
        return self._apply(_UNARY["relu"], self)

    def sigmoid(self):
        return self._apply(_UNARY["sigmoid"], self)

    def abs(self):
        return self._apply(_UNARY["abs"], self)

    __abs__ = abs

    # -------------------------------------------------------------- backward
    def backward(self, dy=None, retain_graph=False):
        """Add d(self)/d(leaf) * dy into the ``.grad`` of every leaf that
        requires grad. Without ``retain_graph`` the graph's interior is
        released afterwards, and a second backward through it raises
        RuntimeError."""
        if not self._req_grad:
            raise RuntimeError(ops.NO_GRAD_MESSAGE)
        dy = 1.0 if dy is None else to_float(dy, "dy")
        if self._op is None:            # a leaf: its gradient is dy itself
            self._grad = (0.0 if self._grad is None else self._grad) + dy
            return
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
    of it) was released by an earlier backward."""
    if root._src is None:
        raise ops.released_error(root.name)
    pending = {}
    seen = [root]
    for node in seen:                      # grows as it goes: breadth first
        for x in node._src:
            if x._op is not None and x._req_grad:
                if x._src is None:
                    raise ops.released_error(x.name)
                if x not in pending:
                    pending[x] = 0
                    seen.append(x)
                pending[x] += 1
    return pending


def _as_var(x):
    """A Var for an operand, or None when the type is not supported."""
    if isinstance(x, Var):
        return x
    if isinstance(x, numbers.Real):
        const = Var.__new__(Var)
        const._val = float(x)
        const._grad = None
        const._req_grad = False
        const._op = None
        const._src = None
        return const
    return None
