"""Declarations shared by the compiled modules: the op codes, the arity table,
a graph node's C layout and its flags."""
cimport cython
from cpython.ref cimport PyObject, Py_INCREF
from libc.string cimport memcpy

# The op codes of regrad/_opcodes.h, the names below written by doc/make_ops.py
# from regrad/ops.py; ``regrad._core`` refuses to import if the two disagree.
cdef extern from "_opcodes.h":
    cpdef enum OpCode "rg_opcode":
        LEAF "RG_LEAF"
        ADD "RG_ADD"
        SUB "RG_SUB"
        MUL "RG_MUL"
        DIV "RG_DIV"
        NEG "RG_NEG"
        POW "RG_POW"
        EXP "RG_EXP"
        LOG "RG_LOG"
        SQRT "RG_SQRT"
        SIN "RG_SIN"
        COS "RG_COS"
        TANH "RG_TANH"
        RELU "RG_RELU"
        SIGMOID "RG_SIGMOID"
        ABS "RG_ABS"
        N_OPS "RG_N_OPS"

# The op code of a node made by an operator defined in Python (``regrad.Function``):
# its _a holds the tuple of its input Vars, its _b the operator (both owned);
# backward calls the operator's Python ``backward`` for these nodes only.
cdef enum:
    CUSTOM = 255

# Per op code: how many Var inputs it reads (0 for LEAF), filled from regrad.ops
# at import. Pow reads one; its exponent sits in the node's second link.
cdef unsigned char ARITY[<int>N_OPS]   # the cast: Cython < 3.3 wants an int

# Node flags
cdef enum:
    REQ_GRAD = 1    # this Var requires grad
    HAS_GRAD = 2    # a leaf whose .grad has been set (else .grad is None)
    RELEASED = 4    # a result whose graph a backward() has freed
    LABELED = 8     # has an entry in _core's label table (dropped when the node dies)
    IN_PASS = 16    # a result whose _mark is its entry in a pass (see _graph.pxd)
    CONST_A = 32    # a result whose _a holds a number operand's value, not an input
    CONST_B = 64    # the same for _b (Pow: its exponent)

# A result's creation number has 48 bits (_born_hi, _mark): it wraps after
# 2**48 results, so two are compared modulo 2**48 (see born_before).
cdef enum:
    BORN_BITS = 48


@cython.final
cdef class Var:
    # 48 bytes with the object header: see the layout in _core.pyx
    cdef double _val
    cdef PyObject* _a       # first input (owned reference), or a number (CONST_A);
                            # a leaf: its gradient (leaf_grad)
    cdef PyObject* _b       # second input, or a number (CONST_B; Pow: the exponent);
                            # NULL for a leaf
    cdef unsigned char _op
    cdef unsigned char _flags
    cdef unsigned short _born_hi  # a result requiring grad: its creation number's bits 32-47,
    cdef unsigned int _mark       # and bits 0-31, except during a pass (IN_PASS); a leaf: 0,
                                  # or its slot + 1 while a tape records


cdef inline double leaf_grad(PyObject* leaf) noexcept:
    """A leaf's gradient, kept in the first input's place (a leaf has none)."""
    cdef double g
    memcpy(&g, &(<Var>leaf)._a, sizeof(double))
    return g


cdef inline void set_leaf_grad(PyObject* leaf, double g) noexcept:
    memcpy(&(<Var>leaf)._a, &g, sizeof(double))


cdef inline double slot_value(PyObject** slot) noexcept:
    """The number kept in a link's place (CONST_A, CONST_B)."""
    cdef double v
    memcpy(&v, slot, sizeof(double))
    return v


cdef inline PyObject* input_a(PyObject* node) noexcept:
    """A result's first input, NULL if it is a number kept in the node."""
    return NULL if (<Var>node)._flags & CONST_A else (<Var>node)._a


cdef inline PyObject* input_b(PyObject* node) noexcept:
    return NULL if (<Var>node)._flags & CONST_B else (<Var>node)._b


cdef inline double value_a(PyObject* node) noexcept:
    """The value of a result's first operand, an input or a number."""
    if (<Var>node)._flags & CONST_A:
        return slot_value(&(<Var>node)._a)
    return (<Var>(<Var>node)._a)._val


cdef inline double value_b(PyObject* node) noexcept:
    if (<Var>node)._flags & CONST_B:
        return slot_value(&(<Var>node)._b)
    return (<Var>(<Var>node)._b)._val


cdef inline int give_numbers_nodes(PyObject* node) except -1:
    """Numbers kept in a result's input places become constant Vars there,
    as they were before numbers were kept in nodes: done when the graph is
    shown (``.src``) or recorded, so that such a Var keeps its identity and
    a change to its value reaches the next backward, as in the pure engine."""
    cdef Var c
    if (<Var>node)._flags & CONST_A:
        c = Var(value_a(node))
        Py_INCREF(c)
        (<Var>node)._a = <PyObject*>c
        (<Var>node)._flags = (<Var>node)._flags & ~CONST_A
    if (<Var>node)._flags & CONST_B:
        c = Var(value_b(node))
        Py_INCREF(c)
        (<Var>node)._b = <PyObject*>c
        (<Var>node)._flags = (<Var>node)._flags & ~CONST_B
    return 0


cdef inline unsigned long long born_of(PyObject* node, unsigned int low) noexcept:
    """A result's creation number, ``low`` being its bits 0-31."""
    return (<unsigned long long>(<Var>node)._born_hi << 32) | low


cdef inline bint born_before(unsigned long long a, unsigned long long b) noexcept:
    """Result number ``a`` was made before number ``b`` (modulo 2**48: right
    for results made less than 2**47 results apart)."""
    cdef unsigned long long one = 1
    cdef unsigned long long d = (b - a) & ((one << BORN_BITS) - 1)
    return d != 0 and d < (one << (BORN_BITS - 1))
