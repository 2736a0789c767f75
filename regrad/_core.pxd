"""Declarations shared by the compiled modules: the op codes, the arity table,
a graph node's C layout and its flags."""
cimport cython
from cpython.ref cimport PyObject

# The op codes: each operator's ``code`` in regrad.ops, which is the table;
# ``regrad._core`` refuses to import if the two disagree.
cpdef enum OpCode:
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

# Per op code: how many Var inputs it reads (0 for LEAF), filled from regrad.ops
# at import. Pow reads one; its exponent sits in the node's second link.
cdef unsigned char ARITY[N_OPS]

# Node flags
cdef enum:
    REQ_GRAD = 1    # this Var requires grad
    HAS_GRAD = 2    # a leaf whose .grad has been set (else .grad is None)
    RELEASED = 4    # a result whose graph a backward() has freed
    LABELED = 8     # has an entry in _core's label table (dropped when the node dies)


@cython.final
cdef class Var:
    cdef double _val
    cdef double _grad       # a leaf's gradient; a result's gradient during backward
    cdef PyObject* _a       # first input (owned reference), NULL for a leaf
    cdef PyObject* _b       # second input; for Pow the constant exponent
    cdef unsigned char _op
    cdef unsigned char _flags
    cdef unsigned int _pending   # during backward: consumers yet to pass their gradient
    cdef unsigned long long _born   # a result requiring grad: when it was made (see _node)
