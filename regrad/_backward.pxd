"""The compiled engine's backward: ``_graph.pxd``'s schedule, the operators'
derivatives (``_kernels.pxd``), and the graph released as it goes.

Releasing happens as the schedule runs: a result's input links are dropped
as soon as it has passed its gradient, and a result that becomes ready is
put on the stack with the reference its last consumer held, so it is freed
right after its own turn: memory returns as backward goes, never recursively.
(``(<Var>ptr).field`` reads the C struct with no reference counting; in-place
operators on such casts would take a reference, so none are used.)"""
from cpython.ref cimport PyObject, Py_INCREF
from cpython.mem cimport PyMem_Free

from regrad._core cimport (Var, LEAF, POW, CUSTOM, ARITY, REQ_GRAD, HAS_GRAD, RELEASED, CONST_A,
                           CONST_B, leaf_grad, set_leaf_grad, slot_value)
from regrad._kernels cimport binary_grads, unary_grad
from regrad._graph cimport (Pass, Entry, entry_of, pass_leave, schedule_start, schedule_passed,
                            release_inputs, Py_DECREF)


cdef inline void _pass_to(Pass* seen, PyObject** ready, Py_ssize_t* n_ready, PyObject* x,
                          double g, bint release) noexcept:
    """Add ``g`` to input ``x``'s gradient: a leaf's ``.grad``, or a result's
    entry, which makes the result ready once its last consumer passed."""
    cdef Entry* e
    if x == NULL:
        return
    if (<Var>x)._flags & REQ_GRAD:
        if (<Var>x)._op == LEAF:
            set_leaf_grad(x, leaf_grad(x) + g)
            (<Var>x)._flags = (<Var>x)._flags | HAS_GRAD
        else:
            e = entry_of(seen, x)
            e.grad = e.grad + g
            if schedule_passed(x, e, ready, n_ready):
                return          # when releasing, the stack now owns this link's reference
    if release:
        Py_DECREF(x)


cdef inline int backward(Var root, double seed, bint release) except -1:
    """Add d(root)/d(leaf) * seed into every leaf's gradient; ``release``:
    free the graph's interior as it goes (the root's links included)."""
    cdef Pass seen
    cdef PyObject** ready
    cdef Py_ssize_t n_ready = 1
    cdef Entry* e
    cdef PyObject* node
    cdef PyObject* a
    cdef PyObject* b
    cdef double g, x, y, out, ga, gb
    cdef unsigned char op, flags
    ready = schedule_start(root, &seen)   # raises before any gradient is touched
    seen.data[0].grad = seed
    while n_ready:
        n_ready -= 1
        node = ready[n_ready]
        e = entry_of(&seen, node)
        g = e.grad
        pass_leave(e)
        out = (<Var>node)._val
        op = (<Var>node)._op
        flags = (<Var>node)._flags
        if op == CUSTOM:
            try:
                _custom_grads(&seen, ready, &n_ready, node, g, release)
            except BaseException:
                _abandon(&seen, ready, n_ready, node, root, release)
                raise
            if release and node != <PyObject*>root:
                Py_DECREF(node)
            continue
        a = (<Var>node)._a
        b = (<Var>node)._b
        if flags & CONST_A:     # a number kept in the node: no input to pass to
            x = slot_value(&(<Var>node)._a)
            a = NULL
        else:
            x = (<Var>a)._val
        if ARITY[op] == 2 or op == POW:   # Pow: y is its exponent
            if flags & CONST_B:
                y = slot_value(&(<Var>node)._b)
                b = NULL
            else:
                y = (<Var>b)._val
        else:
            y = 0.0
        if release:   # Pow keeps its exponent: .op still describes the node
            (<Var>node)._a = NULL
            if op != POW:
                (<Var>node)._b = NULL
            (<Var>node)._flags = flags | RELEASED
        if ARITY[op] == 2:
            binary_grads(op, g, x, y, out, &ga, &gb)
            _pass_to(&seen, ready, &n_ready, a, ga, release)
            _pass_to(&seen, ready, &n_ready, b, gb, release)
        else:
            _pass_to(&seen, ready, &n_ready, a, unary_grad(op, g, x, out, y), release)
        if release and node != <PyObject*>root:
            Py_DECREF(node)     # the reference its last consumer handed over
    PyMem_Free(seen.data)
    PyMem_Free(ready)
    return 0


cdef inline int _custom_grads(Pass* seen, PyObject** ready, Py_ssize_t* n_ready, PyObject* node,
                              double g, bint release) except -1:
    """Backward through a node of an operator defined in Python: its ``backward``
    (checked by ``regrad.function``) gives the gradients, then as for any node."""
    from regrad.ops import to_float
    cdef tuple inputs = <tuple>(<Var>node)._a
    cdef Py_ssize_t i, n = len(inputs)
    grads = (<object>(<Var>node)._b).backward((<Var>node)._val, g,
                                              *[(<Var>x)._val for x in inputs])
    if len(grads) != n:
        raise TypeError(f"{(<object>(<Var>node)._b).name}.backward returned {len(grads)} "
                        f"gradients for {n} inputs")
    cdef list gs = [to_float(gx, "gradient") for gx in grads]   # raises before any change
    if release:     # ``inputs`` holds its own reference to the tuple
        release_inputs(node)
    for i in range(n):
        if release:
            Py_INCREF(inputs[i])     # _pass_to hands on or drops one reference
        _pass_to(seen, ready, n_ready, <PyObject*>inputs[i], <double>gs[i], release)
    return 0


cdef inline void _abandon(Pass* seen, PyObject** ready, Py_ssize_t n_ready, PyObject* node,
                          Var root, bint release) noexcept:
    """End a backward that an operator defined in Python made raise: the results
    not handled yet leave the pass (a result still pending is held by a consumer
    not handled yet, so it is alive; results already handled may be gone), and
    the references the ready stack held are dropped."""
    cdef Py_ssize_t i
    for i in range(seen.size):
        if seen.data[i].pending > 0:
            pass_leave(&seen.data[i])
    for i in range(n_ready):
        pass_leave(entry_of(seen, ready[i]))
    PyMem_Free(seen.data)
    if release:
        for i in range(n_ready):
            if ready[i] != <PyObject*>root:
                Py_DECREF(ready[i])
        if node != <PyObject*>root:
            Py_DECREF(node)
    PyMem_Free(ready)
