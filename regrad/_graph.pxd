"""Helpers shared by the compiled modules for walking a graph of ``Var``
nodes through their raw parent pointers: counting consumers, backward's
schedule, releasing a result's inputs."""
from cpython.ref cimport PyObject
from cpython.mem cimport PyMem_Realloc, PyMem_Free

from regrad._core cimport (Var, LEAF, POW, CUSTOM, REQ_GRAD, RELEASED, IN_PASS, input_a,
                          input_b, born_of, born_before)
from regrad._alloc cimport alloc

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


# A pass over a graph (backward's, a tape's recording) gives every result it
# meets an entry, numbered in the order met: the result's _mark holds that
# number (IN_PASS says so), and the entry the mark's former content, bits 0-31
# of the result's creation number, until the result leaves the pass. Keeping
# the gradient and the count here rather than in the node keeps the node at
# 48 bytes, and the entries are read in about the order they were written.

cdef struct Entry:
    PyObject* node
    double grad             # backward: the gradient summed so far
    unsigned int pending    # consumers yet to pass their gradient (a tape: then k + 1)
    unsigned int born_lo    # the node's _mark before the pass


cdef struct Pass:
    Entry* data
    Py_ssize_t size
    Py_ssize_t capacity


cdef inline int pass_enter(Pass* p, PyObject* node) except -1:
    cdef Py_ssize_t capacity
    cdef Entry* grown
    if p.size == p.capacity:
        capacity = p.capacity * 2 if p.capacity else 1024
        if capacity > 0xFFFFFFFF:   # marks are 32 bits
            raise MemoryError("regrad: a graph of more than 2**31 results")
        grown = <Entry*>PyMem_Realloc(p.data, capacity * sizeof(Entry))
        if grown == NULL:
            raise MemoryError("regrad: no memory to walk the graph")
        p.data = grown
        p.capacity = capacity
    p.data[p.size].node = node
    p.data[p.size].grad = 0.0
    p.data[p.size].pending = 0
    p.data[p.size].born_lo = (<Var>node)._mark
    (<Var>node)._mark = <unsigned int>p.size
    (<Var>node)._flags = (<Var>node)._flags | IN_PASS
    p.size += 1
    return 0


cdef inline Entry* entry_of(Pass* p, PyObject* node) noexcept:
    return &p.data[(<Var>node)._mark]


cdef inline void pass_leave(Entry* e) noexcept:
    """The result gets its mark back: call once per entry, while it lives."""
    (<Var>e.node)._mark = e.born_lo
    (<Var>e.node)._flags = (<Var>e.node)._flags & ~IN_PASS


cdef inline void pass_end(Pass* p) noexcept:
    """Every result still in the pass leaves it; the entries are freed."""
    cdef Py_ssize_t i
    for i in range(p.size):
        if (<Var>p.data[i].node)._flags & IN_PASS:
            pass_leave(&p.data[i])
    PyMem_Free(p.data)
    p.data = NULL
    p.size = p.capacity = 0


cdef inline int _raise_in_other_pass() except -1:
    # only an operator defined in Python, running its backward in the middle
    # of another pass over the same nodes, can get here
    from regrad.ops import IN_ANOTHER_PASS_MESSAGE   # the error path only
    raise RuntimeError(IN_ANOTHER_PASS_MESSAGE)


cdef inline int _count_input(Pass* seen, NodeVec* stack, PyObject* x, PyObject** released,
                             unsigned long long* released_born) except -1:
    """count_consumers for one edge, to input ``x``."""
    if is_result_requiring_grad(x):
        if not (<Var>x)._flags & IN_PASS:
            # a released result has no inputs to visit; of several,
            # the error names the one made first, whatever the order
            # of the walk (the pure engine's differs)
            if (<Var>x)._flags & RELEASED and (released[0] == NULL or born_before(
                    born_of(x, (<Var>x)._mark), released_born[0])):
                released[0] = x
                released_born[0] = born_of(x, (<Var>x)._mark)
            pass_enter(seen, x)
            node_vec_push(stack, x)
        elif (<Var>x)._mark >= seen.size or seen.data[(<Var>x)._mark].node != x:
            _raise_in_other_pass()
        entry_of(seen, x).pending += 1
    return 0


cdef inline int count_consumers(Var root, Pass* seen) except -1:
    """Backward's first pass, and a tape's: enter every result requiring grad
    under ``root`` in ``seen`` (the root first) with the number of edges that
    lead to it from results under ``root`` as its ``pending``. Depth first,
    so that a node is handled soon after it was first reached, while it is
    still in the CPU's cache. On error the pass is ended."""
    cdef NodeVec stack
    cdef PyObject* node
    cdef PyObject* released = NULL
    cdef unsigned long long released_born = 0
    cdef int k
    cdef object item
    seen.data = NULL
    seen.size = seen.capacity = 0
    stack.data = NULL
    stack.size = stack.capacity = 0
    try:
        if root._flags & RELEASED:
            _raise_released(root)
        if root._flags & IN_PASS:
            _raise_in_other_pass()
        pass_enter(seen, <PyObject*>root)
        node_vec_push(&stack, <PyObject*>root)
        while stack.size:
            stack.size -= 1
            node = stack.data[stack.size]
            if (<Var>node)._op == CUSTOM:   # inputs in a tuple (none once released)
                if (<Var>node)._a != NULL:
                    for item in <tuple>(<Var>node)._a:
                        _count_input(seen, &stack, <PyObject*>item, &released, &released_born)
                continue
            for k in range(2):
                _count_input(seen, &stack, input_a(node) if k == 0 else input_b(node),
                             &released, &released_born)
        if released != NULL:
            _raise_released(<Var>released)
    except BaseException:
        pass_end(seen)
        raise
    finally:
        PyMem_Free(stack.data)
    return 0


# Backward's schedule, PyTorch's dependency counting, for every compiled pass
# that runs it: backward (``_backward.pxd``) and a tape's recording
# (``_replay.pyx``). After count_consumers, a stack of ready results, the root
# first: pop one, hand its gradient to its inputs; an input whose last consumer
# has passed (``schedule_passed``) becomes ready. Every node is read twice in
# all, and no sort is needed. ``regrad.pure.Schedule`` is the same schedule in
# Python, so every engine adds gradients in one order. (The stack is a plain
# array and count, not a struct, so that the C compiler keeps them in registers.)

cdef inline PyObject** schedule_start(Var root, Pass* seen) except NULL:
    """Count the consumers under ``root`` (raising before anything is changed);
    returns the stack of ready results, room for all, holding the root (one
    ready result). On error the pass is ended."""
    cdef PyObject** ready
    count_consumers(root, seen)
    try:
        ready = <PyObject**>alloc(seen.size, sizeof(PyObject*), "the backward pass")
    except MemoryError:
        pass_end(seen)
        raise
    ready[0] = <PyObject*>root
    return ready


cdef inline bint schedule_passed(PyObject* x, Entry* e, PyObject** ready,
                                 Py_ssize_t* n_ready) noexcept:
    """A consumer of result ``x`` (its entry ``e``) has passed: if it was the
    last, ``x`` is ready (pushed, True)."""
    e.pending -= 1
    if e.pending:
        return False
    ready[n_ready[0]] = x     # room was reserved for every result
    n_ready[0] += 1
    return True


cdef inline void release_inputs(PyObject* node) noexcept:
    """Drop a result's links to its inputs, as backward() does once it has
    passed its gradient on; a Pow keeps its exponent, an operator defined in
    Python (CUSTOM) its operator: ``.op`` still describes the node."""
    cdef PyObject* a = input_a(node)
    cdef PyObject* b = NULL
    (<Var>node)._a = NULL
    if (<Var>node)._op != POW and (<Var>node)._op != CUSTOM:
        b = input_b(node)
        (<Var>node)._b = NULL
    (<Var>node)._flags = (<Var>node)._flags | RELEASED
    Py_XDECREF(a)
    Py_XDECREF(b)
