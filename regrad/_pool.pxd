"""The compiled engine's nodes: made in ``_pool.h``'s slabs, freed without
recursion.

Nodes live in slabs: made one after another, they sit one after another,
and memory freed by one graph goes to the next. A dying node first hands
its inputs to free_parents, then its cell goes back to its slab. ``_core``
installs this as the type's tp_dealloc rather than writing __dealloc__,
which Cython wraps in an exception save/restore that costs more than the
rest of the deallocation: nothing here can raise or run Python code."""
from cpython.object cimport PyTypeObject
from cpython.ref cimport PyObject
from cpython.mem cimport PyMem_Malloc, PyMem_Free
from libc.string cimport memcpy, memset

from regrad._core cimport Var, LEAF, CUSTOM, input_a, input_b
from regrad._graph cimport Py_REFCNT, Py_DECREF, Py_XDECREF

cdef extern from "_pool.h":
    void rg_init(size_t basicsize)
    PyObject* rg_alloc() noexcept
    Var rg_new(PyTypeObject* t)
    void rg_free(PyObject* o) noexcept
    size_t rg_release() noexcept
    size_t rg_trim(size_t keep_bytes) noexcept
    size_t rg_cell, rg_keep_limit, rg_slabs, RG_SLAB_BYTES
    int rg_passthrough
    ctypedef struct rg_list:
        size_t count
    rg_list rg_partial, rg_empty

cdef extern from "Python.h":
    PyObject* PyObject_Init(PyObject* o, PyTypeObject* t) noexcept
    PyObject* PyErr_NoMemory() noexcept
    # the slots Cython's PyTypeObject leaves out
    ctypedef PyObject* (*allocfunc)(PyTypeObject*, Py_ssize_t) noexcept
    ctypedef void (*freefunc)(void*) noexcept
    ctypedef struct TypeSlots "PyTypeObject":
        allocfunc tp_alloc
        freefunc tp_free


cdef inline PyObject* var_alloc(PyTypeObject* t, Py_ssize_t n) noexcept:
    cdef PyObject* o = rg_alloc()
    if o == NULL:
        return PyErr_NoMemory()
    memset(o, 0, rg_cell)
    return PyObject_Init(o, t)


cdef inline Var new_var():
    """A zeroed Var, as ``Var.__new__(Var)`` makes it, minus the calls between
    (a loop or memset over the cell would cost a libc call per node)."""
    cdef Var out = rg_new(<PyTypeObject*>Var)
    out._val = 0.0
    out._a = out._b = NULL
    out._op = out._flags = 0
    out._born_hi = 0
    out._mark = 0
    return out


cdef inline void var_free(void* o) noexcept:
    rg_free(<PyObject*>o)


cdef inline void _free_custom_links(PyObject* node) noexcept:
    """A node of an operator defined in Python drops its tuple of inputs and its
    operator (a deep chain of such nodes is freed by CPython's tuple deallocator,
    which guards its recursion)."""
    cdef PyObject* t = (<Var>node)._a
    cdef PyObject* f = (<Var>node)._b
    (<Var>node)._a = NULL
    (<Var>node)._b = NULL
    Py_XDECREF(t)
    Py_XDECREF(f)


cdef inline void free_parents(PyObject* node) noexcept:
    """Release a dying node's inputs without recursion: an input that only this
    node holds gives up its own inputs to the work stack before it is freed."""
    cdef PyObject* local[64]
    cdef PyObject** stack = local
    cdef PyObject** grown
    cdef Py_ssize_t size = 0, capacity = 64
    cdef PyObject* p
    if (<Var>node)._op == CUSTOM:
        _free_custom_links(node)
        return
    if input_a(node) != NULL:
        stack[size] = (<Var>node)._a
        size += 1
    if input_b(node) != NULL:
        stack[size] = (<Var>node)._b
        size += 1
    (<Var>node)._a = NULL
    (<Var>node)._b = NULL
    while size:
        size -= 1
        p = stack[size]
        if Py_REFCNT(p) == 1 and (<Var>p)._op == CUSTOM:
            _free_custom_links(p)
        elif Py_REFCNT(p) == 1 and (<Var>p)._op != LEAF:   # a leaf has no inputs
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
            if input_a(p) != NULL:
                stack[size] = (<Var>p)._a
                size += 1
            if input_b(p) != NULL:
                stack[size] = (<Var>p)._b
                size += 1
            (<Var>p)._a = NULL
            (<Var>p)._b = NULL
        Py_DECREF(p)            # frees p, whose inputs are already taken
    if stack != local:
        PyMem_Free(stack)


cdef inline size_t pool_limit(size_t keep_bytes) noexcept:
    """Keep at most ``keep_bytes`` of empty slabs from now on (giving back
    what is kept beyond it); returns the old limit."""
    global rg_keep_limit
    cdef size_t old = rg_keep_limit
    rg_keep_limit = keep_bytes
    rg_trim(keep_bytes)
    return old
