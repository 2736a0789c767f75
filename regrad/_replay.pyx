# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: infer_types=False
# cython: embedsignature=True, embedsignature.format=clinic
"""Static-graph replay for the compiled engine: ``regrad.compile(root)``.

A ``Tape`` records the graph under a root ``Var`` once into flat C arrays
(struct of arrays: op codes, operand slots, values, adjoints) and then runs
forward and backward over them as many times as wanted, with the operator
kernels of ``regrad/_kernels.pxd`` (the very functions the dynamic engine
calls, so the same values and the same exceptions). ``regrad/replay.py`` is
the same thing in plain Python, the readable reference.

Slots: the leaves first (parameters, inputs and the constants made from
Python numbers), ``0 .. n_leaves-1``; then the results in a topological order,
the root last. That order is the reverse of the dynamic engine's backward
schedule (dependency counting, see ``_core.pyx``), so a reverse sweep over the
tape adds up every gradient in the same order as ``root.backward()``. Past
those ``n`` slots, one constant slot per ``**`` holds its exponent: a number
of the operator (as in ``regrad.ops.Pow``), not a leaf, so nothing changes it.

When a forward fails, the tape finds which error the program would raise: of
the failing nodes, the one made first (``_raise_first_failure``; see the
pure tape's "Errors").

The tape keeps references to its leaves, its root and its outputs only: the
recorded results are plain numbers in the arrays.
"""
cimport cython
from cpython.ref cimport PyObject, Py_INCREF
from cpython.mem cimport PyMem_Free
from cpython.buffer cimport (PyObject_CheckBuffer, PyObject_GetBuffer, PyBuffer_Release,
                             PyBuffer_IsContiguous, PyBUF_RECORDS_RO)
from cpython.float cimport PyFloat_AS_DOUBLE
from libc.stdint cimport int32_t, uint8_t, uintptr_t
from libc.string cimport memset, memcpy
from libc.math cimport NAN

from regrad._core cimport (Var, LEAF, CUSTOM, ADD, MUL, POW, RELU, N_OPS, ARITY, REQ_GRAD,
                           HAS_GRAD, IN_PASS, CONST_A, CONST_B, leaf_grad,
                           set_leaf_grad, born_of, born_before, give_numbers_nodes,
                           input_a, input_b, value_b)
from regrad._kernels cimport binary_value, unary_value, binary_grads, unary_grad
from regrad._alloc cimport alloc
from regrad._graph cimport (NodeVec, node_vec_push, is_result_requiring_grad, Pass, entry_of,
                            pass_end, schedule_start, schedule_passed, release_inputs, Py_DECREF, Py_XDECREF, Py_REFCNT)

from . import ops as _ops
from . import _messages as _msg
from . import function as _function

cdef extern from "Python.h":
    bint PyFloat_CheckExact(PyObject*)
    bint PyLong_CheckExact(PyObject*)
    double PyLong_AsDouble(object) except? -1.0

__all__ = ["Tape"]

cdef int32_t MAX_NODES = 2147483647

cdef inline void* _alloc(Py_ssize_t count, size_t size) except NULL:
    return alloc(count, size, "the tape")


def _allocates(Py_ssize_t count, size_t size):
    """Whether an array of ``count`` items of ``size`` bytes can be had (for tests)."""
    PyMem_Free(_alloc(count, size))
    return True


cdef inline size_t _hash(PyObject* p) noexcept:
    return (<size_t><uintptr_t>p >> 4) * <size_t>0x9E3779B97F4A7C15ULL


@cython.final
@cython.auto_pickle(False)     # a tape holds raw arrays: record a new one instead
cdef class Tape:
    """A recorded graph: ``regrad.compile(root)`` makes one (see ``regrad.replay.Tape``
    for the reference implementation of the same API)."""

    def __init__(self, Var root not None, retain_graph=False, outputs=()):
        """Record the graph under ``root``; use ``regrad.compile(root, ...)``."""
        # set before any user code runs (iterating ``outputs`` may call back
        # into this tape): a second recording would write into arrays sized
        # for the first graph
        if self.started:
            raise RuntimeError(_msg.RECORDED_ONCE_MESSAGE)
        self.started = True
        if not root._flags & REQ_GRAD:
            raise RuntimeError(_ops.NO_GRAD_MESSAGE)
        outs = tuple(outputs)
        for i, o in enumerate(outs):
            if type(o) is not Var:
                raise TypeError(_msg.outputs_type_message(i, o, Var))
        self._record(root, outs, not retain_graph)
        self._root = root                      # set once recorded: see _check

    def __dealloc__(self):
        # every C field starts at 0 or NULL (Cython zeroes a new object)
        cdef Py_ssize_t i
        if self.leaf != NULL:
            for i in range(self.n_leaves):
                Py_XDECREF(self.leaf[i])
        if self.out != NULL:
            for i in range(self.n_out):
                Py_XDECREF(self.out[i])
        PyMem_Free(self.op)
        PyMem_Free(self.a)
        PyMem_Free(self.b)
        PyMem_Free(self.val)
        PyMem_Free(self.adj)
        PyMem_Free(self.born)
        PyMem_Free(self.leaf)
        PyMem_Free(self.live)
        PyMem_Free(self.table)
        PyMem_Free(self.table_slot)
        PyMem_Free(self.out)
        PyMem_Free(self.out_slot)

    # ----------------------------------------------------------- recording
    #
    # Recording runs the dynamic backward's schedule without computing anything
    # (``_schedule``): the results in the order backward handles them, reversed,
    # are the tape's order. While recording, every node is numbered: a result
    # handled k-th has k + 1 as its entry's ``pending``, a leaf its slot + 1 as
    # its ``_mark`` (see ``_slot``).

    cdef int _record(self, Var root, tuple outs, bint release) except -1:
        """Count the consumers (as backward does), schedule, fill the arrays;
        then clear the marks and release the graph's interior unless kept."""
        cdef Pass seen
        cdef NodeVec order, leaves
        cdef Py_ssize_t i
        seen.data = NULL
        seen.size = seen.capacity = 0
        order.data = leaves.data = NULL
        order.size = order.capacity = leaves.size = leaves.capacity = 0
        try:
            if root._op == LEAF:               # a leaf root: a tape of one slot
                node_vec_push(&leaves, <PyObject*>root)
                Py_INCREF(root)
                root._mark = 1
            else:
                _schedule(root, &seen, &order, &leaves)
            self._fill(root, &seen, &order, &leaves)
            self._fuse()
            self._set_outputs(outs, &seen, self.n)
            self._build_table(&leaves)
        except BaseException:
            pass_end(&seen)                    # every result is alive: held by root
            for i in range(order.size):
                Py_DECREF(order.data[i])
            for i in range(leaves.size):
                (<Var>leaves.data[i])._mark = 0
                Py_DECREF(leaves.data[i])
            PyMem_Free(order.data)
            PyMem_Free(leaves.data)
            self.n = self.n_leaves = 0
            raise
        pass_end(&seen)
        for i in range(leaves.size):
            (<Var>leaves.data[i])._mark = 0
        self.leaf = leaves.data                # the tape owns these references now
        _release(&order, release)
        self._freeze(True)
        return 0

    cdef int _fill(self, Var root, Pass* seen, NodeVec* order, NodeVec* leaves) except -1:
        """The arrays: the leaves in the order met, then the results, root last;
        past them, the exponents of the Pows (see the module's docstring)."""
        cdef Py_ssize_t i, k, L = leaves.size, R = order.size, n = L + R, n_pow = 0
        cdef PyObject* node
        for k in range(R):
            if (<Var>order.data[k])._op == POW:
                n_pow += 1
        if n + n_pow > MAX_NODES:     # the exponents' slots count too
            raise ValueError(f"regrad.compile: {n} nodes, more than a tape holds")
        self.op = <uint8_t*>_alloc(n, sizeof(uint8_t))
        self.a = <int32_t*>_alloc(n, sizeof(int32_t))
        self.b = <int32_t*>_alloc(n, sizeof(int32_t))
        self.val = <double*>_alloc(n + n_pow, sizeof(double))
        self.adj = <double*>_alloc(n, sizeof(double))
        self.born = <unsigned long long*>_alloc(R, sizeof(unsigned long long))
        memset(self.adj, 0, n * sizeof(double))   # results' adjoints: 0 between sweeps
        self.n = n
        self.n_leaves = L
        for i in range(L):
            self.op[i] = LEAF
            self.a[i] = self.b[i] = 0
            self.val[i] = (<Var>leaves.data[i])._val
        n_pow = 0
        for k in range(R):
            node = order.data[k]
            i = n - 1 - k
            self.op[i] = (<Var>node)._op
            self.a[i] = _slot(seen, (<Var>node)._a, n)
            if (<Var>node)._op == POW:
                self.b[i] = <int32_t>(n + n_pow)
                self.val[n + n_pow] = value_b(node)
                n_pow += 1
            else:
                self.b[i] = _slot(seen, (<Var>node)._b, n) if (<Var>node)._b != NULL else 0
            self.val[i] = (<Var>node)._val
            self.born[i - L] = born_of(node, entry_of(seen, node).born_lo)
        self.root_slot = _slot(seen, <PyObject*>root, n)
        return 0

    cdef int _freeze(self, bint freeze) except -1:
        """List the leaves forward() reads: all of them, but (``freeze``) the
        constants that nothing but the tape holds any more (those made from
        Python numbers, once the graph is released): no code can reach them
        to change their value, so their slot keeps the recorded one. Showing
        them (``tape.leaves``) makes them read again."""
        cdef Py_ssize_t i, k = 0
        if self.live == NULL:
            self.live = <int32_t*>_alloc(self.n_leaves, sizeof(int32_t))
        for i in range(self.n_leaves):
            if (freeze and Py_REFCNT(self.leaf[i]) == 1
                    and not (<Var>self.leaf[i])._flags & REQ_GRAD):
                continue
            self.live[k] = <int32_t>i
            k += 1
        self.n_live = k
        return 0

    cdef int _fuse(self) except -1:
        """Mark each product used once, by the sum in the next slot as its
        second operand (``Add(acc, Mul(w, x))``), to run as one step."""
        cdef Py_ssize_t i, n = self.n, L = self.n_leaves
        cdef int32_t* uses = <int32_t*>_alloc(n, sizeof(int32_t))
        memset(uses, 0, n * sizeof(int32_t))
        for i in range(L, n):
            uses[self.a[i]] += 1
            if ARITY[self.op[i]] == 2:
                uses[self.b[i]] += 1
        i = L
        while i < n - 1:
            if (self.op[i] == MUL and uses[i] == 1 and self.op[i + 1] == ADD
                    and self.b[i + 1] == i):
                self.op[i] = MUL_THEN_ADD
                self.op[i + 1] = ADD_AFTER_MUL
                i += 2
            else:
                i += 1
        PyMem_Free(uses)
        return 0

    cdef int _set_outputs(self, tuple outs, Pass* seen, Py_ssize_t n) except -1:
        cdef Py_ssize_t i
        cdef Var o
        self.out = <PyObject**>_alloc(len(outs), sizeof(PyObject*))
        self.out_slot = <int32_t*>_alloc(len(outs), sizeof(int32_t))
        for i in range(len(outs)):
            o = <Var>outs[i]
            if not (o._flags & IN_PASS if is_result_requiring_grad(<PyObject*>o) else o._mark):
                raise ValueError(_msg.outputs_graph_message(i))   # not under the root
            self.out_slot[i] = _slot(seen, <PyObject*>o, n)
        for i in range(len(outs)):
            Py_INCREF(outs[i])
            self.out[i] = <PyObject*>outs[i]
        self.n_out = len(outs)
        return 0

    cdef int _build_table(self, NodeVec* leaves) except -1:
        cdef size_t capacity = 16, h
        cdef Py_ssize_t i
        while capacity < <size_t>(2 * leaves.size):
            capacity *= 2
        self.table = <PyObject**>_alloc(capacity, sizeof(PyObject*))
        self.table_slot = <int32_t*>_alloc(capacity, sizeof(int32_t))
        memset(self.table, 0, capacity * sizeof(PyObject*))
        self.table_mask = capacity - 1
        for i in range(leaves.size):
            h = _hash(leaves.data[i]) & self.table_mask
            while self.table[h] != NULL:
                h = (h + 1) & self.table_mask
            self.table[h] = leaves.data[i]
            self.table_slot[h] = <int32_t>i
        return 0

    cdef Py_ssize_t _leaf_slot(self, PyObject* p) noexcept:
        cdef size_t h = _hash(p) & self.table_mask
        while self.table[h] != NULL:
            if self.table[h] == p:
                return self.table_slot[h]
            h = (h + 1) & self.table_mask
        return -1

    # ------------------------------------------------------------- replay
    cdef int _forward(self) except -1:
        cdef Py_ssize_t i, k, n = self.n, L = self.n_leaves
        cdef const uint8_t* op = self.op
        cdef const int32_t* a = self.a
        cdef const int32_t* b = self.b
        cdef double* v = self.val
        cdef PyObject** leaf = self.leaf
        cdef const int32_t* live = self.live
        cdef double x, y, m, s
        cdef uint8_t o
        for k in range(self.n_live):
            i = live[k]
            v[i] = (<Var>leaf[i])._val
        i = L
        while i < n:
            o = op[i]
            x = v[a[i]]
            y = v[b[i]]          # for one-input ops: Pow's exponent, or unused
            # the kernels with a constant op code for the common ops, so that
            # the C compiler reduces them to their one formula
            if o == MUL_THEN_ADD:
                m = binary_value(MUL, x, y)
                v[i] = m
                i += 1
                s = binary_value(ADD, v[a[i]], m)
                v[i] = s
                # while the next pair's sum adds to this one (a neuron's chain),
                # the running sum stays in a register instead of being read back
                while i + 1 < n and op[i + 1] == MUL_THEN_ADD and a[i + 2] == i:
                    m = binary_value(MUL, v[a[i + 1]], v[b[i + 1]])
                    v[i + 1] = m
                    s = binary_value(ADD, s, m)
                    i += 2
                    v[i] = s
            elif o == MUL:
                v[i] = binary_value(MUL, x, y)
            elif o == ADD:
                v[i] = binary_value(ADD, x, y)
            elif ARITY[o] == 2:
                v[i] = binary_value(o, x, y)
            elif o == RELU:
                v[i] = unary_value(RELU, x, y)
            else:
                v[i] = unary_value(o, x, y)
            i += 1
        self._root._val = v[self.root_slot]
        for i in range(self.n_out):
            (<Var>self.out[i])._val = v[self.out_slot[i]]
        return 0

    cdef int _raise_first_failure(self) except -1:
        """After a failed ``_forward``: evaluate every result (NaN for the
        failing ones) and raise the error of the failing node made first, as
        the program would. A node fed by a failing one was made after it, so
        what NaN does downstream never wins."""
        cdef Py_ssize_t i
        cdef uint8_t o
        cdef double* v = self.val
        cdef unsigned long long born, first_born = 0
        first_error = None
        for i in range(self.n_leaves, self.n):
            o = self.unfused_op(i)         # the same kernels, one slot at a time
            try:
                if ARITY[o] == 2:
                    v[i] = binary_value(o, v[self.a[i]], v[self.b[i]])
                else:
                    v[i] = unary_value(o, v[self.a[i]], v[self.b[i]])
            except Exception as e:
                v[i] = NAN
                born = self.born[i - self.n_leaves]
                if first_error is None or born_before(born, first_born):
                    first_born = born
                    first_error = e
        raise first_error

    cdef int _backward(self, double seed) except -1:
        cdef Py_ssize_t i, k, n = self.n, L = self.n_leaves
        cdef const uint8_t* op = self.op
        cdef const int32_t* a = self.a
        cdef const int32_t* b = self.b
        cdef const double* v = self.val
        cdef double* g = self.adj
        cdef PyObject** leaf = self.leaf
        cdef const int32_t* live = self.live
        cdef double gi, ga, gb, gpa, gpb, x, y
        cdef uint8_t o
        cdef int32_t ai, bi, pa, pb
        # the results' adjoints are 0.0 here: each sweep puts a slot back to 0.0
        # once read (so no pass over the whole array is needed); the leaves':
        memset(g, 0, L * sizeof(double))
        # a leaf's adjoint starts from its .grad, so contributions are added to it
        # one by one as root.backward() adds them (0.0 when it has none yet);
        # the frozen constants (see _freeze) never require grad
        for k in range(self.n_live):
            i = live[k]
            if (<Var>leaf[i])._flags & REQ_GRAD:
                g[i] = leaf_grad(leaf[i])
        if n > L:
            g[self.root_slot] = seed
        else:
            g[self.root_slot] += seed
        i = n - 1
        while i >= L:
            o = op[i]
            gi = g[i]
            g[i] = 0.0
            ai = a[i]
            bi = b[i]
            x = v[ai]
            y = v[bi]
            if o == ADD_AFTER_MUL:
                # the sum, then its product (slot i - 1, whose one consumer it
                # is: its adjoint is 0.0 + the sum's gradient), as unfused
                while True:
                    binary_grads(ADD, gi, x, y, v[i], &ga, &gb)
                    i -= 1
                    pa = a[i]
                    pb = b[i]
                    binary_grads(MUL, 0.0 + gb, v[pa], v[pb], v[i], &gpa, &gpb)
                    if op[ai] != ADD_AFTER_MUL or ai != i - 1 or pa == ai or pb == ai:
                        g[ai] += ga
                        g[pa] += gpa
                        g[pb] += gpb
                        break
                    # the sum read the previous pair's sum, next on the sweep,
                    # which the product does not touch: its gradient is complete
                    # once this one is added, so it stays in a register
                    g[pa] += gpa
                    g[pb] += gpb
                    gi = g[ai] + ga
                    g[ai] = 0.0
                    i = ai
                    ai = a[i]
                    bi = b[i]
                    x = v[ai]
                    y = v[bi]
            elif o == MUL:
                binary_grads(MUL, gi, x, y, v[i], &ga, &gb)
                g[ai] += ga
                g[bi] += gb
            elif o == ADD:
                binary_grads(ADD, gi, x, y, v[i], &ga, &gb)
                g[ai] += ga
                g[bi] += gb
            elif ARITY[o] == 2:
                binary_grads(o, gi, x, y, v[i], &ga, &gb)
                g[ai] += ga
                g[bi] += gb
            elif o == RELU:
                g[ai] += unary_grad(RELU, gi, x, v[i], y)
            else:
                g[ai] += unary_grad(o, gi, x, v[i], y)
            i -= 1
        for k in range(self.n_live):
            i = live[k]
            if (<Var>leaf[i])._flags & REQ_GRAD:
                set_leaf_grad(leaf[i], g[i])
                (<Var>leaf[i])._flags = (<Var>leaf[i])._flags | HAS_GRAD
        return 0

    cdef int _check(self) except -1:
        if self._root is None:
            raise RuntimeError("an empty Tape: make one with regrad.compile(root)")
        return 0

    def forward(self):
        """Recompute every value from the leaves' current ``.val``; store the
        root's value in ``root.val`` (and each output's in its ``.val``) and
        return it. Raises what the dynamic engine raises on a domain error
        (then ``root.val`` keeps its previous value)."""
        self._check()
        cdef bint failed = False
        try:
            self._forward()
        except Exception:
            failed = True
        if failed:                        # outside the except: no chained context
            self._raise_first_failure()
        return self._root._val

    def backward(self, dy=None, create_graph=False):
        """Add d(root)/d(leaf) * ``dy`` (default 1.0) into the ``.grad`` of every
        leaf that requires grad, as ``root.backward()`` would, at the values of
        the last ``forward()`` (or of the recording, before any forward).
        First derivatives only: ``create_graph=True`` raises ValueError."""
        if create_graph:
            raise ValueError(_msg.CREATE_GRAPH_MESSAGE)
        self._check()
        if not self._root._flags & REQ_GRAD:
            raise RuntimeError(_ops.NO_GRAD_MESSAGE)
        cdef double seed = 1.0
        if dy is not None:
            seed = dy if type(dy) is float else _ops.to_float(dy, "dy")
        self._backward(seed)

    def load(self, vars, values):
        """Set the ``.val`` of the leaves ``vars`` from ``values``: a sequence of
        real numbers, or a C-contiguous float64 buffer (numpy array, ``array('d')``;
        any shape, read in C order) copied without a Python loop per value.
        Checks everything before setting anything."""
        self._check()
        # Both sequences are copied into tuples first: converting a value may
        # run Python code (a ``__float__``) that changes the caller's lists,
        # and nothing read from them may change under the writes.
        cdef tuple seq
        try:
            seq = tuple(vars)
        except TypeError:
            raise TypeError(_msg.vars_sequence_message(vars)) from None
        cdef Py_ssize_t n = len(seq), i
        cdef PyObject* p
        for i in range(n):
            p = <PyObject*>seq[i]
            if type(<object>p) is not Var:
                raise TypeError(_msg.vars_type_message(i, <object>p, Var))
            if self._leaf_slot(p) < 0:
                raise ValueError(_msg.vars_leaf_message(i))
        cdef Py_buffer view
        cdef double* data
        cdef tuple xs
        cdef Py_ssize_t m
        if PyObject_CheckBuffer(values):
            PyObject_GetBuffer(values, &view, PyBUF_RECORDS_RO)
            try:
                if view.format == NULL or not _is_float64(view.format):
                    raise TypeError(_msg.buffer_format_message(
                        "B" if view.format == NULL else view.format.decode("ascii", "replace")))
                if not PyBuffer_IsContiguous(&view, b'C'):
                    raise TypeError(_msg.BUFFER_LAYOUT_MESSAGE)
                m = view.len // sizeof(double)
                if m != n:
                    raise ValueError(_msg.length_message(n, m))
                data = <double*>view.buf     # held by the view: it cannot move or shrink
                for i in range(n):
                    (<Var>seq[i])._val = data[i]
            finally:
                PyBuffer_Release(&view)
            return
        try:
            xs = tuple(values)
        except TypeError:
            raise TypeError(_msg.values_type_message(values)) from None
        m = len(xs)
        if m != n:
            raise ValueError(_msg.length_message(n, m))
        data = <double*>_alloc(n, sizeof(double))
        try:
            for i in range(n):                 # every conversion, then every write
                p = <PyObject*>xs[i]
                if PyFloat_CheckExact(p):
                    data[i] = PyFloat_AS_DOUBLE(<object>p)
                elif PyLong_CheckExact(p):
                    data[i] = PyLong_AsDouble(<object>p)     # float(int), OverflowError too
                else:
                    data[i] = _msg.value_to_float(<object>p, i)
            for i in range(n):
                (<Var>seq[i])._val = data[i]
        finally:
            PyMem_Free(data)

    # ------------------------------------------------------------ describing
    @property
    def root(self):
        """The Var the tape was recorded from; ``forward()`` sets its ``.val``."""
        return self._root

    @property
    def leaves(self):
        """The leaf Vars, in slot order: parameters, inputs, and the constants
        made from Python numbers."""
        if self.n_live < self.n_leaves:
            self._freeze(False)       # from now on they can be changed
        return tuple(<object>self.leaf[i] for i in range(self.n_leaves))

    @property
    def outputs(self):
        """The Vars besides the root whose ``.val`` ``forward()`` refreshes."""
        return tuple(<object>self.out[i] for i in range(self.n_out))

    @property
    def size(self):
        """The number of nodes: leaves plus operator results."""
        return self.n

    def __repr__(self):
        """Its size: nodes, operations, leaves, outputs."""
        return _msg.tape_repr(self.n, self.n_leaves, self.n_out, "cython")


cdef int _schedule(Var root, Pass* seen, NodeVec* order, NodeVec* leaves) except -1:
    """Backward's schedule (``_graph.pxd``), recorded: lists the results in the
    order backward handles them in ``order``, and the leaves, as first met, in
    ``leaves``, each with a reference held until recording ends."""
    cdef PyObject** ready = schedule_start(root, seen)
    cdef Py_ssize_t n_ready = 1
    cdef PyObject* node
    cdef PyObject* x
    cdef int j
    try:
        while n_ready:
            n_ready -= 1
            node = ready[n_ready]
            if (<Var>node)._op == CUSTOM:      # an operator defined in Python
                raise _function.tape_refusal(<object>(<Var>node)._b)
            if (<Var>node)._flags & (CONST_A | CONST_B) and (<Var>node)._op != POW:
                give_numbers_nodes(node)   # each gets a leaf slot (an exponent does not)
            node_vec_push(order, node)
            Py_INCREF(<object>node)
            entry_of(seen, node).pending = <unsigned int>order.size   # k + 1
            for j in range(2):
                x = input_a(node) if j == 0 else input_b(node)
                if x == NULL or (j == 1 and (<Var>node)._op == POW):
                    continue               # Pow's exponent: a constant slot, not a leaf
                if is_result_requiring_grad(x):
                    schedule_passed(x, entry_of(seen, x), ready, &n_ready)
                elif (<Var>x)._mark == 0:      # a leaf met for the first time
                    node_vec_push(leaves, x)
                    Py_INCREF(<object>x)
                    (<Var>x)._mark = <unsigned int>leaves.size   # slot + 1
    finally:
        PyMem_Free(ready)
    return 0


cdef void _release(NodeVec* order, bint release) noexcept:
    """Drop the references recording held; with ``release``, first free the
    graph's interior (root included) as backward() does. Every result is held
    by ``order`` and every leaf by the tape, so nothing is freed before the
    last loop, where each result dies with no inputs left to free."""
    cdef Py_ssize_t k
    if release:
        for k in range(order.size):
            release_inputs(order.data[k])
    for k in range(order.size):
        Py_DECREF(order.data[k])
    PyMem_Free(order.data)


cdef inline int32_t _slot(Pass* seen, PyObject* x, Py_ssize_t n) noexcept:
    """A recorded node's slot, from the marks recording left (see ``_record``)."""
    if is_result_requiring_grad(x):
        return <int32_t>(n - entry_of(seen, x).pending)
    return <int32_t>((<Var>x)._mark - 1)


cdef inline bint _is_float64(const char* fmt) noexcept:
    """'d', or '<d' / '=d' / '@d' on this (little-endian) machine."""
    if fmt[0] == b'd':
        return fmt[1] == 0
    if fmt[0] == b'@' or fmt[0] == b'=' or (fmt[0] == b'<' and _little_endian()):
        return fmt[1] == b'd' and fmt[2] == 0
    return False


cdef inline bint _little_endian() noexcept:
    cdef int one = 1
    return (<char*>&one)[0] == 1
