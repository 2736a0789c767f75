# cython: language_level=3, boundscheck=False, wraparound=False
# cython: infer_types=False
# cython: embedsignature=True, embedsignature.format=clinic
"""The compiled engine: the same ``Var`` API as ``regrad.pure``, in C.

A node is a C struct behind a Python object header, 48 bytes in all:

    offset  0  refcount, type        the object header
           16  _val                  the value
           24  _a                    first input, or a number operand (CONST_A);
                                     a leaf: its gradient
           32  _b                    second input, or a number operand (CONST_B;
                                     Pow: its exponent); a leaf: NULL
           40  _op, _flags, _born_hi, _mark
                                     a result requiring grad: its creation number
                                     (48 bits), or during a pass its entry there

A result's gradient and pending count live in the pass's entries only while a
backward runs (``_graph.pxd``): they are needed nowhere else. A number in an
expression (``x * 0.5``) stays in the result, not in a node of its own, until
``.src`` or a tape asks for it as a Var (``give_numbers_nodes``). Nodes live in
slabs (``_pool.h``), one after another in the order they are made; a freed
graph's cells go to the next one. Parents are raw ``PyObject*`` whose
references this module manages itself, so that:

- the backward pass reads only C fields (no Python call per node);
- freeing a long chain is iterative (``free_parents``), never recursive;
- the type needs no cyclic GC (a node only points to older nodes, so no
  reference cycle can form), saving the 16-byte GC header per node.

This module holds the API and the making of nodes (with labels and the
pickling hooks); beside it: backward in ``_backward.pxd``, its schedule and
the other graph walks in ``_graph.pxd``, the nodes' memory in ``_pool.pxd``.
Every formula mirrors ``regrad/ops.py`` (forward and derivative side by side
there); the tests check both engines against each other bit for bit and
against PyTorch. Errors are built by ``regrad.ops`` so messages match.
"""
from cpython.object cimport PyTypeObject
from cpython.long cimport PyLong_AsDouble
from cpython.ref cimport PyObject, Py_INCREF
from libc.string cimport memcpy
from regrad._kernels cimport binary_value, unary_value
from regrad._graph cimport release_inputs, Py_XDECREF
from regrad._backward cimport backward
from regrad._pool cimport (new_var, var_alloc, var_free, free_parents, pool_limit, TypeSlots,
                           rg_init, rg_free, rg_release, rg_cell, rg_slabs, RG_SLAB_BYTES,
                           rg_passthrough, rg_partial, rg_empty)

from . import _pickle, ops as _ops

cdef extern from "Python.h":
    # for the deallocator, which must neither raise nor lose a pending exception
    PyObject* PyLong_FromVoidPtr(void*)
    int PyDict_DelItem(PyObject*, PyObject*)
    void PyErr_Fetch(PyObject**, PyObject**, PyObject**)
    void PyErr_Restore(PyObject*, PyObject*, PyObject*)
    void PyErr_Clear()

__all__ = ["Var", "release_memory", "set_pool_limit"]


def _check_op_table():
    """Take the arities from the operator table, and refuse to run if an op code
    compiled here differs from the table's (a missed edit when adding one)."""
    for op in _ops.OPS:
        if getattr(OpCode, op.name.upper(), None) != op.code:
            raise ImportError(f"regrad._core: op {op.name} has code {op.code} in regrad.ops "
                              "but not in regrad/_opcodes.h: rebuild, or fix the op code enum")
        ARITY[<int>op.code] = op.arity
    if len(_ops.OPS) != N_OPS - 1:
        raise ImportError("regrad._core: regrad.ops and the OpCode enum list different operators")


_check_op_table()

cdef object _is_real = _ops.is_real
cdef object _OP_BY_CODE = _ops.OPS_BY_CODE
cdef object _Pow = _ops.Pow

# Labels live outside the nodes (most nodes have none, and every byte of a
# node counts): node address -> label, for the nodes flagged LABELED; the
# deallocator drops the entry, so an address reused by a new node is clean.
cdef dict _labels = {}
_label_table = _labels      # the same dict, visible to the tests


cdef class Var:
    """Var(val, req_grad=False, label=None)
--

A scalar in a computation graph: a leaf made from a real number ``val``
(a parameter with ``req_grad=True``, else a constant), or the result of an
operator on Vars. ``label`` names it in drawings and in ``repr``.
(``regrad.pure.Var`` is the reference implementation of the same API.)"""
    # fields: see _core.pxd

    def __init__(self, val, req_grad=False, label=None):
        """A leaf: ``val`` a real number, ``req_grad`` whether it is a
        parameter, ``label`` a str naming it (or None)."""
        if self._op != LEAF:
            raise TypeError("Var.__init__ cannot re-initialize an operator's result")
        cdef double value = _to_double(val, "Var value")
        label = _ops.check_label(label)
        cdef bint requires = req_grad
        self._val = value
        set_leaf_grad(<PyObject*>self, 0.0)
        self._flags = (REQ_GRAD if requires else 0) | (self._flags & LABELED)
        _set_label(self, label)

    # ------------------------------------------------------------ attributes
    @property
    def val(self):
        """The value, a float; writable (optimizers assign to it)."""
        return self._val

    @val.deleter
    def val(self):
        raise AttributeError("can't delete attribute 'val'")

    @val.setter
    def val(self, value):
        self._val = _to_double(value, "val")

    @property
    def grad(self):
        """The accumulated gradient of a leaf; None before any backward reaches
        it, and always None for results (regrad keeps no intermediate grads)."""
        if self._op == LEAF and self._flags & HAS_GRAD:
            return leaf_grad(<PyObject*>self)
        return None

    @grad.deleter
    def grad(self):
        raise AttributeError("can't delete attribute 'grad'")

    @grad.setter
    def grad(self, value):
        if value is None:
            if self._op == LEAF:
                set_leaf_grad(<PyObject*>self, 0.0)
                self._flags &= ~HAS_GRAD
            return
        if self._op != LEAF:
            raise RuntimeError(f"{self.name} result: only leaves keep a gradient")
        set_leaf_grad(<PyObject*>self, _to_double(value, "grad"))
        self._flags |= HAS_GRAD

    @property
    def req_grad(self):
        """Whether gradients flow to this Var; writable on a leaf."""
        return bool(self._flags & REQ_GRAD)

    @req_grad.deleter
    def req_grad(self):
        raise AttributeError("can't delete attribute 'req_grad'")

    @req_grad.setter
    def req_grad(self, value):
        if self._op != LEAF:
            raise RuntimeError("req_grad can only be changed on a leaf Var")
        if value:
            self._flags |= REQ_GRAD
        else:
            self._flags &= ~REQ_GRAD

    @property
    def op(self):
        """The operator (from ``regrad.ops``) that made this Var; None for a leaf.
        ``x.op.args`` holds its arguments, e.g. ``{"power": 2.0}``."""
        if self._op == LEAF:
            return None
        if self._op == POW:
            return _Pow(value_b(<PyObject*>self))
        if self._op == CUSTOM:
            return <object>self._b
        return _OP_BY_CODE[self._op]

    @property
    def name(self):
        """The operator's name (``Add``, ``Pow``, ...), or ``Var`` for a leaf."""
        if self._op == CUSTOM:
            return (<object>self._b).name
        return "Var" if self._op == LEAF else _OP_BY_CODE[self._op].name

    @property
    def src(self):
        """The tuple of input Vars; None for a leaf or a released result."""
        if self._op == LEAF or self._flags & RELEASED:
            return None
        if self._op == CUSTOM:
            return <tuple>self._a
        if self._flags & (CONST_A | CONST_B):
            give_numbers_nodes(<PyObject*>self)
        if ARITY[self._op] == 1:
            return (<object>self._a,)
        return (<object>self._a, <object>self._b)

    @property
    def label(self):
        """A name for this Var (a str, or None), shown by drawings and ``repr``; writable."""
        if self._flags & LABELED:
            return _labels.get(<size_t><void*>self)
        return None

    @label.deleter
    def label(self):
        raise AttributeError("can't delete attribute 'label'")

    @label.setter
    def label(self, value):
        _set_label(self, _ops.check_label(value))

    # ------------------------------------------------- behaving like a number
    def __repr__(self):
        """``Var(1.5, req_grad=True)``, ``Var(0.25, op=Mul)``: what it is."""
        return _ops.var_repr(self)

    def __str__(self):
        """The value, as ``str(x.val)``."""
        return repr(self._val)

    def __format__(self, spec):
        """Formats the value: ``f"{x:.3f}"``."""
        return format(self._val, spec)

    def __float__(self):
        """The value: ``float(x)``, ``math.isfinite(x)``."""
        return self._val

    def __round__(self, ndigits=None):
        """Rounds the value, as ``round(x.val, ndigits)``."""
        return round(self._val, ndigits)

    def __hash__(self):
        """By identity, as ``==`` is: a Var is a graph node (usable in sets and dicts)."""
        return <Py_hash_t>(<size_t><void*>self >> 4)

    def __lt__(self, other):
        """self.val < other (a Var or a real number), a bool."""
        y = _compared(other)
        return NotImplemented if y is NotImplemented else bool(self._val < y)

    def __le__(self, other):
        """self.val <= other (a Var or a real number), a bool."""
        y = _compared(other)
        return NotImplemented if y is NotImplemented else bool(self._val <= y)

    def __gt__(self, other):
        """self.val > other (a Var or a real number), a bool."""
        y = _compared(other)
        return NotImplemented if y is NotImplemented else bool(self._val > y)

    def __ge__(self, other):
        """self.val >= other (a Var or a real number), a bool."""
        y = _compared(other)
        return NotImplemented if y is NotImplemented else bool(self._val >= y)

    # -------------------------------------------------------------- copying
    def __reduce__(self):
        """Pickling and copying: a leaf as itself; a result with its graph (the
        leaves as objects, so they stay shared, the results as flat columns,
        so that no depth of graph makes pickle recurse)."""
        if self._op == LEAF:
            return _leaf, _pickle.leaf_form(self)
        return _graph, _pickle.flatten(self, _pickled_inputs, _born_of)

    # ------------------------------------------------------------- operators
    def __add__(self, other):
        """self + other: a Var, or a real number on either side."""
        if type(other) is Var:
            return _binary(ADD, self, <Var>other)
        return _with_number(ADD, self, other, CONST_B)

    def __radd__(self, other):
        """other + self, for a real number other."""
        if type(other) is Var:
            return _binary(ADD, <Var>other, self)
        return _with_number(ADD, self, other, CONST_A)

    def __sub__(self, other):
        """self - other: a Var, or a real number on either side."""
        if type(other) is Var:
            return _binary(SUB, self, <Var>other)
        return _with_number(SUB, self, other, CONST_B)

    def __rsub__(self, other):
        """other - self, for a real number other."""
        if type(other) is Var:
            return _binary(SUB, <Var>other, self)
        return _with_number(SUB, self, other, CONST_A)

    def __mul__(self, other):
        """self * other: a Var, or a real number on either side."""
        if type(other) is Var:
            return _binary(MUL, self, <Var>other)
        return _with_number(MUL, self, other, CONST_B)

    def __rmul__(self, other):
        """other * self, for a real number other."""
        if type(other) is Var:
            return _binary(MUL, <Var>other, self)
        return _with_number(MUL, self, other, CONST_A)

    def __truediv__(self, other):
        """self / other: a Var, or a real number; ZeroDivisionError for 0."""
        if type(other) is Var:
            return _binary(DIV, self, <Var>other)
        return _with_number(DIV, self, other, CONST_B)

    def __rtruediv__(self, other):
        """other / self, for a real number other."""
        if type(other) is Var:
            return _binary(DIV, <Var>other, self)
        return _with_number(DIV, self, other, CONST_A)

    def __neg__(self):
        """-self."""
        return _unary(NEG, self)

    def __pow__(self, power, modulo):
        """self ** power, for a real number power (a Var exponent is not supported)."""
        if modulo is not None or type(power) is Var or not _is_real(power):
            return NotImplemented   # the exponent must be a plain number
        return _pow(self, float(power))

    def exp(self):
        """e ** self."""
        return _unary(EXP, self)

    def log(self):
        """The natural logarithm; ValueError for a value <= 0."""
        return _unary(LOG, self)

    def sqrt(self):
        """The square root; ValueError for a negative value."""
        return _unary(SQRT, self)

    def sin(self):
        """The sine; ValueError for an infinite value."""
        return _unary(SIN, self)

    def cos(self):
        """The cosine; ValueError for an infinite value."""
        return _unary(COS, self)

    def tanh(self):
        """The hyperbolic tangent."""
        return _unary(TANH, self)

    def relu(self):
        """max(self, 0); its slope at 0 is 0."""
        return _unary(RELU, self)

    def sigmoid(self):
        """1 / (1 + e ** -self)."""
        return _unary(SIGMOID, self)

    def abs(self):
        """The absolute value; its slope at 0 is 0."""
        return _unary(ABS, self)

    def __abs__(self):
        """abs(self): the same as ``self.abs()``."""
        return _unary(ABS, self)

    # -------------------------------------------------------------- backward
    def backward(self, dy=None, retain_graph=False, create_graph=False):
        """Add d(self)/d(leaf) * dy into the ``.grad`` of every leaf that
        requires grad. Without ``retain_graph`` the graph's interior is
        released afterwards, and a second backward through it raises
        RuntimeError. ``.grad`` holds a number: for gradients as Vars
        (``create_graph=True``) use ``regrad.grad``."""
        if create_graph:
            raise ValueError(_ops.BACKWARD_CREATE_GRAPH_MESSAGE)
        if not self._flags & REQ_GRAD:
            raise RuntimeError(_ops.NO_GRAD_MESSAGE)
        cdef double seed = 1.0 if dy is None else _to_double(dy, "dy")
        if self._op == LEAF:
            set_leaf_grad(<PyObject*>self, leaf_grad(<PyObject*>self) + seed)
            self._flags |= HAS_GRAD
            return
        backward(self, seed, not retain_graph)


def _release(Var node):
    """Drop a result's links to its inputs, as backward() does once the result
    has passed its gradient on (``regrad.grad`` without ``retain_graph``); a
    Pow keeps its exponent."""
    if node._op == LEAF or node._flags & RELEASED:
        return
    if node._flags & IN_PASS:
        raise RuntimeError(_ops.IN_ANOTHER_PASS_MESSAGE)
    release_inputs(<PyObject*>node)


# --------------------------------------------------------------- node making

cdef inline double _to_double(object x, str what) except? -1.0:
    if type(x) is float:
        return <double>x
    if type(x) is int:      # as float(x) does it, OverflowError included
        return PyLong_AsDouble(x)
    return _ops.to_float(x, what)


cdef object _with_number(int op, Var v, object x, int which):
    """``v op x`` (``which`` is CONST_B) or ``x op v`` (CONST_A) for a number
    ``x``, which the node keeps in place of an input; NotImplemented for an
    unsupported type. (The operators test for a Var operand inline.)"""
    cdef double c
    if type(x) is float:
        c = <double>x
    elif type(x) is int:    # as float(x) does it, OverflowError included
        c = PyLong_AsDouble(x)
    elif _is_real(x):
        c = _ops.to_float(x, "operand")
    else:
        return NotImplemented
    if which == CONST_A:
        return _node_number(op, binary_value(op, c, v._val), v, c, CONST_A)
    return _node_number(op, binary_value(op, v._val, c), v, c, CONST_B)


cdef object _compared(object other):
    """What a comparison compares the value with: a float, an int or another
    real number (compared exactly, as Python compares numbers); NotImplemented
    for anything else."""
    if type(other) is Var:
        return (<Var>other)._val
    if type(other) is float or type(other) is int or _is_real(other):
        return other
    return NotImplemented


cdef int _set_label(Var node, object label) except -1:
    cdef size_t key = <size_t><void*>node
    if label is None:
        if node._flags & LABELED:
            _labels.pop(key, None)
            node._flags &= ~LABELED
    else:
        _labels[key] = label
        node._flags |= LABELED
    return 0


# ------------------------------------------------------------------ pickling
# The format is ``regrad._pickle``'s; these are the names pickles refer to.

def _leaf(val, req_grad, grad, label):
    """Rebuild a pickled leaf (see ``Var.__reduce__``)."""
    return _pickle.rebuild_leaf(Var, val, req_grad, grad, label)


def _graph(leaves, op_names, vals, inputs, powers, labels):
    """Rebuild a pickled result and its graph (see ``Var.__reduce__``)."""
    return _pickle.rebuild_graph(Var, _result, leaves, op_names, vals, inputs, powers, labels)


def _pickled_inputs(Var node):
    """A result's inputs as ``.src`` gives them (numbers as constant leaves,
    as in pure), but a Pow's exponent stays a number of the record."""
    if node._op == POW and not node._flags & RELEASED:
        return (<object>node._a,)
    return node.src


def _born_of(Var x):
    return born_of(<PyObject*>x, x._mark)


def _result(op, double val, src, label):
    cdef Var out = new_var(), x
    cdef double exponent
    cdef Py_ssize_t k
    out._val = val
    _born(out, op.code if op.code >= 0 else CUSTOM, 0)
    if out._op == POW:
        exponent = op.power
        memcpy(&out._b, &exponent, sizeof(double))
        out._flags |= CONST_B
    _set_label(out, label)
    if out._op == CUSTOM:      # an operator defined in Python: see _apply_function
        Py_INCREF(op)
        out._b = <PyObject*>op
        if src is not None:
            src = tuple(src)
            Py_INCREF(src)
            out._a = <PyObject*>src
    if src is None:
        out._flags |= RELEASED
        return out
    if out._op == CUSTOM:
        return out
    for k in range(len(src)):
        x = <Var>src[k]
        Py_INCREF(x)
        if k == 0:
            out._a = <PyObject*>x
        else:
            out._b = <PyObject*>x
    return out


# Results requiring grad are numbered as they are made: the order the program
# ran them in, which a replay needs to raise, of two failing nodes, the one the
# program meets first (see ``_replay.pyx``). 48 bits, compared modulo 2**48.
cdef unsigned long long _births = 0


cdef inline void _born(Var out, int op, int flags) noexcept:
    """Make ``out`` a result of ``op`` that requires grad, numbered as made."""
    global _births
    _births += 1
    out._op = op
    out._flags = REQ_GRAD | flags
    out._born_hi = <unsigned short>(_births >> 32)
    out._mark = <unsigned int>_births


cdef inline Var _node(int op, double val, Var a, Var b):
    """A result of ``op``; a constant (no inputs kept) unless an input requires grad."""
    cdef Var out = new_var()
    out._val = val
    if (a._flags | b._flags) & REQ_GRAD if b is not None else a._flags & REQ_GRAD:
        _born(out, op, 0)
        Py_INCREF(a)
        out._a = <PyObject*>a
        if b is not None:
            Py_INCREF(b)
            out._b = <PyObject*>b
    return out


cdef inline Var _node_number(int op, double val, Var v, double c, int which):
    """A result of ``op`` on ``v`` and the number ``c``, kept in the node: in
    the first operand's place (``which`` is CONST_A) or the second's."""
    cdef Var out = new_var()
    out._val = val
    if v._flags & REQ_GRAD:
        _born(out, op, which)
        Py_INCREF(v)
        if which == CONST_A:
            memcpy(&out._a, &c, sizeof(double))
            out._b = <PyObject*>v
        else:
            out._a = <PyObject*>v
            memcpy(&out._b, &c, sizeof(double))
    return out


def _apply_function(op, tuple inputs):
    """A result of ``op``, an operator defined in Python (``regrad.Function``),
    on ``inputs``, Vars of this engine; a constant unless an input requires grad."""
    cdef bint requires = False
    for x in inputs:
        if type(x) is not Var:
            raise TypeError(f"{op.name}: input must be a regrad._core.Var, not {type(x).__name__}")
        requires = requires or (<Var>x)._flags & REQ_GRAD
    cdef double val = _to_double(op.forward(*[(<Var>x)._val for x in inputs]), "value")
    cdef Var out = new_var()
    out._val = val
    if requires:
        _born(out, CUSTOM, 0)
        Py_INCREF(inputs)
        out._a = <PyObject*>inputs
        Py_INCREF(op)
        out._b = <PyObject*>op
    return out


cdef inline Var _binary(int op, Var a, Var b):
    return _node(op, binary_value(op, a._val, b._val), a, b)


cdef Var _pow(Var a, double exponent):
    return _node_number(POW, unary_value(POW, a._val, exponent), a, exponent, CONST_B)


cdef inline Var _unary(int op, Var a):
    return _node(op, unary_value(op, a._val, 0.0), a, None)


# ------------------------------------------------------- allocation, freeing
# (the nodes' memory: ``_pool.pxd``; labels are this module's)

cdef extern from "Python.h":
    bint PyType_HasFeature(PyTypeObject* t, unsigned long feature)
    unsigned long Py_TPFLAGS_HEAPTYPE


cdef void _var_dealloc(PyObject* node) noexcept:
    if (<Var>node)._op != LEAF and (input_a(node) != NULL or input_b(node) != NULL):
        free_parents(node)     # (a leaf's _a is its gradient)
    if (<Var>node)._flags & LABELED:
        _drop_label(node)
    rg_free(node)


cdef void _drop_label(PyObject* node) noexcept:
    """Forget a dying node's label, keeping any exception being raised."""
    cdef PyObject *kind
    cdef PyObject *value
    cdef PyObject *trace
    cdef PyObject* key
    PyErr_Fetch(&kind, &value, &trace)
    key = PyLong_FromVoidPtr(node)
    if key == NULL or PyDict_DelItem(<PyObject*>_labels, key) < 0:
        PyErr_Clear()        # out of memory: the entry stays, harmless but for its size
    Py_XDECREF(key)
    PyErr_Restore(kind, value, trace)


if PyType_HasFeature(<PyTypeObject*>Var, Py_TPFLAGS_HEAPTYPE):
    # instances of a heap type hold a reference to it, which _var_dealloc does not drop
    raise ImportError("regrad._core: Var was built as a heap type; rebuild without type specs")
rg_init((<PyTypeObject*>Var).tp_basicsize)
(<TypeSlots*>Var).tp_alloc = var_alloc
(<TypeSlots*>Var).tp_free = var_free
(<PyTypeObject*>Var).tp_dealloc = _var_dealloc


def release_memory():
    """Give the memory kept for reuse back to the system: every slab of
    nodes with no node alive in it. Returns the number of bytes given back."""
    return rg_release()


def set_pool_limit(nbytes):
    """Keep at most ``nbytes`` of freed node memory for reuse (64 MiB to
    begin with); what is kept beyond it is given back now, and more as it
    is freed. Returns the old limit."""
    if nbytes < 0:
        raise ValueError(f"set_pool_limit: nbytes must be >= 0, not {nbytes}")
    return pool_limit(nbytes)


def _pool_stats():
    """The allocator's state, for tests: slabs held, empty, partly used."""
    return dict(slabs=rg_slabs, empty=rg_empty.count, partial=rg_partial.count,
                slab_bytes=RG_SLAB_BYTES, cell=rg_cell, passthrough=bool(rg_passthrough))
