"""Helpers shared by the compiled modules for walking a graph of ``Var``
nodes through their raw parent pointers."""
from cpython.ref cimport PyObject
from cpython.mem cimport PyMem_Realloc, PyMem_Free

from regrad._core cimport Var, LEAF, REQ_GRAD, RELEASED

cdef extern from "Python.h":
    # on raw pointers: parent links are references the compiled modules own
    Py_ssize_t Py_REFCNT(PyObject*)
    void Py_DECREF(PyObject*)
    void Py_XDECREF(PyObject*)


cdef struct NodeVec:
    # a growable array of node pointers (borrowed or owned: the user says)
    PyObject** data
    Py_ssize_t size
    Py_ssize_t capacity


cdef inline int node_vec_grow(NodeVec* vec) except -1:
    cdef Py_ssize_t capacity = vec.capacity * 2 if vec.capacity else 1024
    cdef PyObject** grown = <PyObject**>PyMem_Realloc(vec.data, capacity * sizeof(PyObject*))
    if grown == NULL:
        raise MemoryError("regrad: no memory to walk the graph")
    vec.data = grown
    vec.capacity = capacity
    return 0


cdef inline int node_vec_push(NodeVec* vec, PyObject* node) except -1:
    if vec.size == vec.capacity:
        node_vec_grow(vec)
    vec.data[vec.size] = node
    vec.size += 1
    return 0


cdef inline bint is_result_requiring_grad(PyObject* p) noexcept:
    """A node that backward (and a tape) runs through: anything else is a leaf or a constant."""
    return p != NULL and (<Var>p)._op != LEAF and (<Var>p)._flags & REQ_GRAD


cdef inline int _raise_released(Var node) except -1:
    from regrad.ops import released_error   # the error path only
    raise released_error(node.name)


cdef inline int count_consumers(Var root, NodeVec* seen) except -1:
    """Backward's first pass, and a tape's: set ``_pending`` on every result
    requiring grad under ``root`` to the number of edges that lead to it from
    results under ``root``, and list those results in ``seen``. Depth first,
    so that a node is handled soon after it was first reached, while it is
    still in the CPU's cache. On error every count is reset."""
    cdef NodeVec stack
    cdef PyObject* node
    cdef PyObject* x
    cdef PyObject* released = NULL
    cdef int k
    cdef Py_ssize_t i
    seen.data = stack.data = NULL
    seen.size = seen.capacity = stack.size = stack.capacity = 0
    try:
        if root._flags & RELEASED:
            _raise_released(root)
        node_vec_push(seen, <PyObject*>root)
        node_vec_push(&stack, <PyObject*>root)
        while stack.size:
            stack.size -= 1
            node = stack.data[stack.size]
            for k in range(2):
                x = (<Var>node)._a if k == 0 else (<Var>node)._b
                if is_result_requiring_grad(x):
                    if (<Var>x)._pending == 0:
                        # a released result has no inputs to visit; of several,
                        # the error names the one made first, whatever the order
                        # of the walk (the pure engine's differs)
                        if (<Var>x)._flags & RELEASED and (
                                released == NULL or (<Var>x)._born < (<Var>released)._born):
                            released = x
                        node_vec_push(seen, x)
                        node_vec_push(&stack, x)
                    (<Var>x)._pending = (<Var>x)._pending + 1
        if released != NULL:
            _raise_released(<Var>released)
    except BaseException:
        for i in range(seen.size):
            (<Var>seen.data[i])._pending = 0
        PyMem_Free(seen.data)
        seen.data = NULL
        seen.size = seen.capacity = 0
        raise
    finally:
        PyMem_Free(stack.data)
    return 0
