"""The pure-Python engine: the readable reference for ``regrad._core``.

A ``Var`` holds a value and, when an operator made it, that operator (``op``,
from ``regrad.ops``) and its inputs (``src``). ``backward()`` walks the graph
once in reverse topological order, asks each operator for the gradients of its
inputs, and adds them up; only leaves keep a gradient (``.grad``). The compiled
engine implements exactly this, in the same order, so both give the same bits.
"""
import itertools
import threading
from operator import attrgetter

from . import _pickle, ops
from .ops import to_float, is_real

__all__ = ["Var", "Schedule"]

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
            return _leaf, _pickle.leaf_form(self)
        return _graph, _pickle.flatten(self, attrgetter("_src"), _born_of)

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
        with _graph_lock, _BackwardPass():    # see _graph_lock, _BackwardPass
            order = Schedule(self)             # raises before any gradient is touched
            adjoint = {self: dy}               # gradients of results, dropped as used
            for node, inputs in order:
                g = adjoint.pop(node)
                if not retain_graph:
                    node._src = None            # release this result's links to its inputs
                grads = node._op.backward(node._val, g, *(x._val for x in inputs))
                for x, gx in zip(inputs, grads):
                    if not x._req_grad:
                        continue
                    if x._op is None:           # a leaf requiring grad: accumulate
                        x._grad = (0.0 if x._grad is None else x._grad) + gx
                    else:
                        adjoint[x] = adjoint.get(x, 0.0) + gx


def _apply_function(op, inputs):
    """A result of ``op``, an operator defined in Python (``regrad.Function``),
    on ``inputs``, Vars of this engine."""
    return inputs[0]._apply(op, *inputs)


# The schedules of the backward passes running: more than one only when an
# operator defined in Python (regrad.Function) starts a backward from its own,
# which must not run over the results the first has yet to handle (the
# compiled engine keeps a pass's state in those results, and refuses the same way).
_passes = []


class _BackwardPass:
    """Around a backward: the Schedule made inside is a running pass."""

    def __enter__(self):
        _passes.append(None)            # the Schedule puts itself here

    def __exit__(self, *exc):
        _passes.pop()


def _in_pass(x):
    return any(s is not None and (s.pending.get(x, 0) > 0 or x in s.ready) for s in _passes)


def _refuse_in_pass(root):
    """RuntimeError if a result under ``root`` is yet to be handled by a running pass."""
    seen, stack = {root}, [root]
    while stack:
        node = stack.pop()
        if node.op is not None and _in_pass(node):
            raise RuntimeError(ops.IN_ANOTHER_PASS_MESSAGE)
        for x in node.src or ():
            if x not in seen:
                seen.add(x)
                stack.append(x)


# ------------------------------------------------------------ the schedule

class Schedule:
    """PyTorch's dependency-counting schedule, which both engines run (the
    compiled one in C, ``_core._backward``): iterating gives each result under
    ``root`` (a result, or a sequence of results: ``regrad.grad``'s outputs),
    once all its consumers have, as ``(node, inputs)`` (inputs read first: the
    caller may release them). ``pending``: consumers yet to pass, per result;
    ``ready``: the results next (last first). Reads the public ``Var`` API, so
    it walks either engine's graph (``born``: the engine's ``_born_of``); a
    released graph raises RuntimeError before anything runs."""

    def __init__(self, root, born=None):
        roots = list(dict.fromkeys(root)) if isinstance(root, (list, tuple)) else [root]
        backward = _passes and _passes[-1] is None      # backward()'s, which runs as a pass
        if backward and any(_passes):   # a backward from an operator's backward
            _refuse_in_pass(root)
        self.pending = count_consumers(roots, born or _born_of)
        self.ready = [r for r in roots if r not in self.pending]   # no consumer among them
        if backward:
            _passes[-1] = self

    def __iter__(self):
        pending, ready = self.pending, self.ready
        while ready:
            node = ready.pop()
            inputs = node.src
            for x in inputs:
                if x in pending:
                    pending[x] -= 1
                    if pending[x] == 0:        # its last consumer has passed
                        ready.append(x)
            yield node, inputs


def count_consumers(roots, born):
    """For every result under ``roots`` (results require grad: a constant is
    a leaf): how many edges lead to it from results under ``roots``. Raises
    RuntimeError if the graph (or a part of it) was released by an earlier
    backward, naming of the released results the one made first (``born``: so
    that the message does not depend on the order of the traversal, which
    differs between the engines)."""
    for root in roots:
        if root.src is None:
            raise ops.released_error(root.name)
    pending = dict.fromkeys(roots, 0)      # a root another root consumes is counted too
    seen = list(roots)
    released = None
    for node in seen:                      # grows as it goes: breadth first
        for x in node.src or ():           # a released result: no inputs to visit
            if x in pending:
                pending[x] += 1
            elif x.op is not None:         # not a leaf, nor a constant: a result
                pending[x] = 1
                seen.append(x)
                if x.src is None and (released is None or born(x) < born(released)):
                    released = x
    if released is not None:
        raise ops.released_error(released.name)
    for root in roots:
        if not pending[root]:
            del pending[root]
    return pending


_born_of = attrgetter("_born")


def _release(node):
    """Drop a result's links to its inputs, as backward() does once the result
    has passed its gradient on (``regrad.grad`` without ``retain_graph``)."""
    if node._op is not None:
        if _passes and _in_pass(node):
            raise RuntimeError(ops.IN_ANOTHER_PASS_MESSAGE)
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
# The format is ``regrad._pickle``'s; these are the names pickles refer to.

def _leaf(val, req_grad, grad, label):
    """Rebuild a pickled leaf (see ``Var.__reduce__``)."""
    return _pickle.rebuild_leaf(Var, val, req_grad, grad, label)


def _graph(leaves, op_names, vals, inputs, powers, labels):
    """Rebuild a pickled result and its graph (see ``Var.__reduce__``)."""
    return _pickle.rebuild_graph(Var, _result, leaves, op_names, vals, inputs, powers, labels)


def _result(op, val, src, label):
    out = Var.__new__(Var)
    out._val = val
    out._op = op
    out._grad = None
    out._req_grad = True
    out._born = next(_births)
    out._label = label
    out._src = src
    return out
