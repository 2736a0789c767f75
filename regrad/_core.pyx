# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, infer_types=False
"""The compiled engine: the same ``Var`` API as ``regrad.pure``, in C.

A node is a 56-byte C struct with a Python object header: value, gradient
slot, two parent pointers, op code and flags. Parents are raw ``PyObject*``
whose references this module manages itself, so that:

- the backward pass reads only C fields (no Python call per node);
- freeing a long chain is iterative (``_free_parents``), never recursive;
- the type needs no cyclic GC (a node only points to older nodes, so no
  reference cycle can form), saving the 16-byte GC header per node.

Every formula mirrors ``regrad/ops.py`` (forward and derivative side by side
there); the tests check both engines against each other bit for bit and
against PyTorch. Errors are built by ``regrad.ops`` so messages match.
"""
cimport cython
from cpython.ref cimport PyObject, Py_INCREF
from cpython.mem cimport PyMem_Malloc, PyMem_Realloc, PyMem_Free
from libc.math cimport (exp, log, sqrt, sin, cos, tanh, pow, fabs, floor,
                        isinf, isfinite)
from libc.string cimport memcpy

from . import ops as _ops

cdef extern from "Python.h":
    # on raw pointers: the parent links are references this module owns
    Py_ssize_t Py_REFCNT(PyObject*)
    void Py_DECREF(PyObject*)
    void Py_XDECREF(PyObject*)

__all__ = ["Var"]

# Op codes: the `code` of each operator in regrad.ops (checked by the tests).
cdef enum:
    LEAF = 0
    ADD = 1
    SUB = 2
    MUL = 3
    DIV = 4
    NEG = 5
    POW = 6
    EXP = 7
    LOG = 8
    SQRT = 9
    SIN = 10
    COS = 11
    TANH = 12
    RELU = 13
    SIGMOID = 14
    ABS = 15
    N_OPS = 16

#: op code -> code, as compiled (the tests compare it with regrad.ops)
OP_CODES = {"Add": ADD, "Sub": SUB, "Mul": MUL, "Div": DIV, "Neg": NEG, "Pow": POW,
            "Exp": EXP, "Log": LOG, "Sqrt": SQRT, "Sin": SIN, "Cos": COS, "Tanh": TANH,
            "Relu": RELU, "Sigmoid": SIGMOID, "Abs": ABS}

# Node flags
cdef enum:
    REQ_GRAD = 1    # this Var requires grad
    HAS_GRAD = 2    # a leaf whose .grad has been set (else .grad is None)
    RELEASED = 4    # a result whose graph a backward() has freed
    SEEN = 8        # visit mark of the topological sort (clear between calls)

cdef object _Real = __import__("numbers").Real
cdef object _OP_BY_CODE = _ops.OPS_BY_CODE
cdef object _Pow = _ops.Pow
cdef object _math_error = _ops.math_error
cdef double INF = float("inf")


@cython.final
@cython.freelist(1024)
cdef class Var:
    """A scalar in a computation graph (see ``regrad.pure.Var`` for the
    reference implementation of the same API)."""
    cdef double _val
    cdef double _grad       # a leaf's gradient; a result's gradient during backward
    cdef PyObject* _a       # first input (owned reference), NULL for a leaf
    cdef PyObject* _b       # second input; for Pow the constant exponent
    cdef int _op
    cdef int _flags

    def __init__(self, val, req_grad=False):
        if self._op != LEAF:
            raise TypeError("Var.__init__ cannot re-initialize an operator's result")
        self._val = _to_double(val, "Var value")
        self._grad = 0.0
        self._flags = REQ_GRAD if req_grad else 0

    def __dealloc__(self):
        if self._a != NULL or self._b != NULL:
            _free_parents(self)

    # ------------------------------------------------------------ attributes
    @property
    def val(self):
        return self._val

    @val.setter
    def val(self, value):
        self._val = _to_double(value, "val")

    @property
    def grad(self):
        """The accumulated gradient of a leaf; None before any backward reaches
        it, and always None for results (regrad keeps no intermediate grads)."""
        if self._op == LEAF and self._flags & HAS_GRAD:
            return self._grad
        return None

    @grad.setter
    def grad(self, value):
        if value is None:
            if self._op == LEAF:
                self._grad = 0.0
                self._flags &= ~HAS_GRAD
            return
        if self._op != LEAF:
            raise RuntimeError(f"{self.name} result: only leaves keep a gradient")
        self._grad = _to_double(value, "grad")
        self._flags |= HAS_GRAD

    @property
    def req_grad(self):
        return bool(self._flags & REQ_GRAD)

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
        """The operator (from ``regrad.ops``) that made this Var; None for a leaf."""
        if self._op == LEAF:
            return None
        if self._op == POW:
            return _Pow(_exponent(self))
        return _OP_BY_CODE[self._op]

    @property
    def name(self):
        """The operator's name (``Add``, ``Pow``, ...), or ``Var`` for a leaf."""
        return "Var" if self._op == LEAF else _OP_BY_CODE[self._op].name

    @property
    def src(self):
        """The tuple of input Vars; None for a leaf or a released result."""
        if self._a == NULL:
            return None
        if self._op == POW or self._b == NULL:
            return (<object>self._a,)
        return (<object>self._a, <object>self._b)

    def __repr__(self):
        return repr(self._val)

    # ------------------------------------------------------------- operators
    def __add__(self, other):
        cdef Var b = _as_var(other)
        return NotImplemented if b is None else _binary(ADD, self, b)

    def __radd__(self, other):
        cdef Var a = _as_var(other)
        return NotImplemented if a is None else _binary(ADD, a, self)

    def __sub__(self, other):
        cdef Var b = _as_var(other)
        return NotImplemented if b is None else _binary(SUB, self, b)

    def __rsub__(self, other):
        cdef Var a = _as_var(other)
        return NotImplemented if a is None else _binary(SUB, a, self)

    def __mul__(self, other):
        cdef Var b = _as_var(other)
        return NotImplemented if b is None else _binary(MUL, self, b)

    def __rmul__(self, other):
        cdef Var a = _as_var(other)
        return NotImplemented if a is None else _binary(MUL, a, self)

    def __truediv__(self, other):
        cdef Var b = _as_var(other)
        return NotImplemented if b is None else _binary(DIV, self, b)

    def __rtruediv__(self, other):
        cdef Var a = _as_var(other)
        return NotImplemented if a is None else _binary(DIV, a, self)

    def __neg__(self):
        return _unary(NEG, self)

    def __pow__(self, power, modulo):
        if modulo is not None or type(power) is Var or not isinstance(power, _Real):
            return NotImplemented   # the exponent must be a plain number
        return _pow(self, _const(float(power)))

    def exp(self):
        return _unary(EXP, self)

    def log(self):
        return _unary(LOG, self)

    def sqrt(self):
        return _unary(SQRT, self)

    def sin(self):
        return _unary(SIN, self)

    def cos(self):
        return _unary(COS, self)

    def tanh(self):
        return _unary(TANH, self)

    def relu(self):
        return _unary(RELU, self)

    def sigmoid(self):
        return _unary(SIGMOID, self)

    def abs(self):
        return _unary(ABS, self)

    def __abs__(self):
        return _unary(ABS, self)

    # -------------------------------------------------------------- backward
    def backward(self, dy=None, retain_graph=False):
        """Add d(self)/d(leaf) * dy into the ``.grad`` of every leaf that
        requires grad. Without ``retain_graph`` the graph's interior is
        released afterwards, and a second backward through it raises
        RuntimeError."""
        if not self._flags & REQ_GRAD:
            raise RuntimeError(_ops.NO_GRAD_MESSAGE)
        cdef double seed = 1.0 if dy is None else _to_double(dy, "dy")
        if self._op == LEAF:
            self._grad += seed
            self._flags |= HAS_GRAD
            return
        cdef NodeVec order
        _topological_order(self, &order)   # raises before touching any gradient
        try:
            self._grad = seed
            _backward_pass(&order)
            if retain_graph:
                _clear_scratch(&order)
            else:
                _release(&order)
        finally:
            PyMem_Free(order.data)


# --------------------------------------------------------------- node making

cdef inline double _to_double(object x, str what) except? -1.0:
    if type(x) is float:
        return <double>x
    return _ops.to_float(x, what)


cdef inline Var _const(double val):
    cdef Var out = Var.__new__(Var)
    out._val = val
    return out


cdef inline Var _as_var(object x):
    """The Var for an operand: itself, a new constant for a number, else None."""
    if type(x) is Var:
        return <Var>x
    if type(x) is float:
        return _const(<double>x)
    if isinstance(x, _Real):
        return _const(_ops.to_float(x, "operand"))
    return None


cdef inline Var _node(int op, double val, Var a, Var b):
    """A result of ``op``; a constant (no inputs kept) unless an input requires grad."""
    cdef Var out = Var.__new__(Var)
    out._val = val
    if (a._flags | b._flags) & REQ_GRAD if b is not None else a._flags & REQ_GRAD:
        out._op = op
        out._flags = REQ_GRAD
        Py_INCREF(a)
        out._a = <PyObject*>a
        if b is not None:
            Py_INCREF(b)
            out._b = <PyObject*>b
    return out


cdef inline double _exponent(Var node):
    return (<Var>node._b)._val


cdef inline Var _binary(int op, Var a, Var b):
    cdef double x = a._val, y = b._val, v
    if op == ADD:
        v = x + y
    elif op == SUB:
        v = x - y
    elif op == MUL:
        v = x * y
    else:  # DIV
        if y == 0.0:
            raise _math_error("Div", "zero", x, y)
        v = x / y
    return _node(op, v, a, b)


cdef Var _pow(Var a, Var exponent):
    cdef double x = a._val, p = exponent._val, v
    if x == 0.0 and p < 0.0 and isfinite(p):
        raise _math_error("Pow", "zero", x, p)
    if x < 0.0 and isfinite(p) and p != floor(p):
        raise _math_error("Pow", "domain", x, p)   # never a complex result
    v = pow(x, p)
    if isinf(v) and isfinite(x) and isfinite(p):
        raise _math_error("Pow", "overflow", x, p)
    return _node(POW, v, a, exponent)


cdef inline Var _unary(int op, Var a):
    cdef double x = a._val, v, e
    if op == NEG:
        v = -x
    elif op == EXP:
        v = exp(x)
        if isinf(v) and not isinf(x):
            raise _math_error("Exp", "overflow", x)
    elif op == LOG:
        if x <= 0.0:
            raise _math_error("Log", "domain", x)
        v = log(x)
    elif op == SQRT:
        if x < 0.0:
            raise _math_error("Sqrt", "domain", x)
        v = sqrt(x)
    elif op == SIN:
        if isinf(x):
            raise _math_error("Sin", "domain", x)
        v = sin(x)
    elif op == COS:
        if isinf(x):
            raise _math_error("Cos", "domain", x)
        v = cos(x)
    elif op == TANH:
        v = tanh(x)
    elif op == RELU:
        v = 0.0 if x <= 0.0 else x         # NaN passes through
    elif op == SIGMOID:
        if x >= 0.0:                       # two forms so that exp never overflows
            v = 1.0 / (1.0 + exp(-x))
        else:
            e = exp(x)
            v = e / (1.0 + e)
    else:  # ABS
        v = fabs(x)
    return _node(op, v, a, None)


# ------------------------------------------------------------------ backward

cdef struct NodeVec:
    PyObject** data     # borrowed pointers: the graph holds the references
    Py_ssize_t size
    Py_ssize_t capacity


cdef int _push(NodeVec* vec, PyObject* node) except -1:
    cdef Py_ssize_t capacity
    cdef PyObject** grown
    if vec.size == vec.capacity:
        capacity = vec.capacity * 2 if vec.capacity else 256
        grown = <PyObject**>PyMem_Realloc(vec.data, capacity * sizeof(PyObject*))
        if grown == NULL:
            raise MemoryError("regrad: no memory for the graph traversal")
        vec.data = grown
        vec.capacity = capacity
    vec.data[vec.size] = node
    vec.size += 1
    return 0


cdef inline bint _needs_visit(PyObject* p):
    """An unvisited result that requires grad (leaves need no ordering)."""
    return p != NULL and (<Var>p)._op != LEAF and \
        ((<Var>p)._flags & (REQ_GRAD | SEEN)) == REQ_GRAD


cdef int _topological_order(Var root, NodeVec* order) except -1:
    """Fill ``order`` with the results requiring grad under ``root``, every node
    after its inputs: the iterative depth-first post-order of ``regrad.pure``
    (inputs visited first to last). Raises RuntimeError if the graph was released."""
    cdef NodeVec stack
    cdef PyObject* top
    cdef PyObject* nxt
    cdef Py_ssize_t i
    order.data = NULL
    order.size = order.capacity = 0
    stack.data = NULL
    stack.size = stack.capacity = 0
    try:
        if root._flags & RELEASED:
            raise _ops.released_error(root.name)
        root._flags |= SEEN
        _push(&stack, <PyObject*>root)
        while stack.size:
            top = stack.data[stack.size - 1]
            nxt = (<Var>top)._a
            if not _needs_visit(nxt):
                nxt = (<Var>top)._b
                if not _needs_visit(nxt):
                    stack.size -= 1
                    _push(order, top)
                    continue
            if (<Var>nxt)._flags & RELEASED:
                raise _ops.released_error((<Var>nxt).name)
            (<Var>nxt)._flags = (<Var>nxt)._flags | SEEN
            _push(&stack, nxt)
    except BaseException:
        for i in range(stack.size):
            (<Var>stack.data[i])._flags = (<Var>stack.data[i])._flags & ~SEEN
        for i in range(order.size):
            (<Var>order.data[i])._flags = (<Var>order.data[i])._flags & ~SEEN
        PyMem_Free(order.data)
        order.data = NULL
        raise
    finally:
        PyMem_Free(stack.data)
    for i in range(order.size):
        (<Var>order.data[i])._flags = (<Var>order.data[i])._flags & ~SEEN
    return 0


cdef inline void _accumulate(PyObject* x, double g) noexcept:
    """Add ``g`` to an input's gradient slot (a leaf's .grad, or a result's
    gradient during this pass) when the input requires grad."""
    # (<Var>ptr).field reads the C struct with no reference counting; in-place
    # operators (+=, |=) on such casts would take a reference, so none are used
    if (<Var>x)._flags & REQ_GRAD:
        (<Var>x)._grad = (<Var>x)._grad + g
        (<Var>x)._flags = (<Var>x)._flags | HAS_GRAD


cdef void _backward_pass(NodeVec* order) noexcept:
    """From the root down: each result passes its gradient to its inputs.
    The formulas are those of ``regrad.ops``, in the same order."""
    cdef Py_ssize_t i
    cdef PyObject* node
    cdef PyObject* a
    cdef PyObject* b
    cdef double g, x, y, out, p
    cdef int op
    for i in range(order.size - 1, -1, -1):
        node = order.data[i]
        g = (<Var>node)._grad
        out = (<Var>node)._val
        op = (<Var>node)._op
        a = (<Var>node)._a
        b = (<Var>node)._b
        x = (<Var>a)._val
        if op == ADD:
            _accumulate(a, g)
            _accumulate(b, g)
        elif op == SUB:
            _accumulate(a, g)
            _accumulate(b, -g)
        elif op == MUL:
            y = (<Var>b)._val
            _accumulate(a, g * y)
            _accumulate(b, g * x)
        elif op == DIV:
            y = (<Var>b)._val
            _accumulate(a, g / y)
            _accumulate(b, -g * (out / y))
        elif op == NEG:
            _accumulate(a, -g)
        elif op == POW:
            p = (<Var>b)._val   # the exponent
            _accumulate(a, 0.0 if p == 0.0 else g * (p * pow(x, p - 1.0)))
        elif op == EXP:
            _accumulate(a, g * out)
        elif op == LOG:
            _accumulate(a, g / x)
        elif op == SQRT:
            _accumulate(a, g * (0.5 / out))
        elif op == SIN:
            _accumulate(a, g * cos(x))
        elif op == COS:
            _accumulate(a, g * -sin(x))
        elif op == TANH:
            _accumulate(a, g * (1.0 - out * out))
        elif op == RELU:
            _accumulate(a, g if x > 0.0 else 0.0)
        elif op == SIGMOID:
            _accumulate(a, g * (out * (1.0 - out)))
        elif op == ABS:
            _accumulate(a, g if x > 0.0 else (-g if x < 0.0 else 0.0))


cdef void _clear_scratch(NodeVec* order) noexcept:
    cdef Py_ssize_t i
    for i in range(order.size):
        (<Var>order.data[i])._grad = 0.0


cdef void _release(NodeVec* order) noexcept:
    """Drop every result's inputs, parents first: each drop then frees at most
    the parent itself (its own inputs are already gone), so nothing recurses
    and nothing still listed in ``order`` is freed before it is visited."""
    cdef Py_ssize_t i
    cdef PyObject* node
    cdef PyObject* a
    cdef PyObject* b
    for i in range(order.size):
        node = order.data[i]
        a = (<Var>node)._a
        b = (<Var>node)._b
        (<Var>node)._a = NULL
        (<Var>node)._b = NULL
        (<Var>node)._grad = 0.0
        (<Var>node)._flags = (<Var>node)._flags | RELEASED
        Py_XDECREF(a)
        Py_XDECREF(b)


# ------------------------------------------------------------------- freeing

cdef void _free_parents(Var node) noexcept:
    """Release a dying node's inputs without recursion: an input that only this
    node holds gives up its own inputs to the work stack before it is freed."""
    cdef PyObject* local[64]
    cdef PyObject** stack = local
    cdef PyObject** grown
    cdef Py_ssize_t size = 0, capacity = 64
    cdef PyObject* p
    if node._a != NULL:
        stack[size] = node._a
        size += 1
    if node._b != NULL:
        stack[size] = node._b
        size += 1
    node._a = NULL
    node._b = NULL
    while size:
        size -= 1
        p = stack[size]
        if Py_REFCNT(p) == 1:
            if size + 2 > capacity:
                grown = <PyObject**>PyMem_Malloc(2 * capacity * sizeof(PyObject*))
                if grown == NULL:     # out of memory: let CPython free it recursively
                    Py_DECREF(p)
                    continue
                memcpy(grown, stack, size * sizeof(PyObject*))
                if stack != local:
                    PyMem_Free(stack)
                stack = grown
                capacity *= 2
            if (<Var>p)._a != NULL:
                stack[size] = (<Var>p)._a
                size += 1
            if (<Var>p)._b != NULL:
                stack[size] = (<Var>p)._b
                size += 1
            (<Var>p)._a = NULL
            (<Var>p)._b = NULL
        Py_DECREF(p)            # frees p, whose inputs are already taken
    if stack != local:
        PyMem_Free(stack)
