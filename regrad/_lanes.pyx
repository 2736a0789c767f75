# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, infer_types=False
"""Lanes for the compiled engine: ``regrad.compile(root, inputs=[...])``.

The graph of one sample, recorded by the replay tape (``regrad._replay``),
becomes a program of lane instructions: each instruction computes one node
for a block of lanes (samples) at once, a plain loop over the lanes
(``regrad/_lanes.h``), so the dispatch on the operator is paid once a block.
A neuron's chain of products and sums (``((b + w0*x0) + w1*x1) + ...``)
runs as one instruction, and keeps no intermediate values.

Memory: values node by node with the lanes of a block contiguous,
``V[slot * B + l]``, every block kept from forward to backward; inputs and
results have lane values, parameters and constants are scalars. A
parameter's gradient is added lane by lane from the last lane to the first
(see ``regrad.lanes``): backward runs the blocks from the last one down
(with threads, dealt round-robin), and once a block's sweep is done its
contributions are added in turn, the last block's first, computed then from
the values and adjoints the block keeps. So the numbers do not depend on the
block size or on the threads. With ``bitwise=False`` each thread adds up a
contiguous part of the lanes apart (``_apart``), and the parts are added last.

Errors: the loops only count the lanes that leave an operator's domain; the
first such block is then run again lane by lane through the raising kernels
of ``regrad/_kernels.pxd``, which raise the dynamic engine's exception.

``regrad/lanes.py`` is the same API in plain Python, the readable reference.
"""
cimport cython
from cpython.mem cimport PyMem_Free
from cpython.buffer cimport (PyObject_CheckBuffer, PyObject_GetBuffer, PyBuffer_Release,
                             PyBuffer_IsContiguous, PyBUF_RECORDS_RO)
from cpython.float cimport PyFloat_AS_DOUBLE
from cpython.ref cimport PyObject
from libc.stdint cimport int32_t, uint8_t
from libc.string cimport memset, memcpy
from libc.math cimport NAN

from regrad._core cimport (Var, MUL, ADD, DIV, POW, REQ_GRAD, HAS_GRAD, leaf_grad, set_leaf_grad,
                           born_before)
from regrad._kernels cimport binary_value, unary_value
from regrad._alloc cimport alloc, checked_product
from regrad._replay cimport Tape

import os
import signal
import threading
from queue import SimpleQueue
from array import array

from . import _messages as _ref   # the checks and messages, shared with the pure tape
from .ops import is_real as _is_real

cdef extern from "Python.h":
    bint PyFloat_CheckExact(PyObject*)

cdef extern from "_lanes.h":
    ctypedef struct ln_instr:
        int32_t op
        int32_t kind
        int32_t out
        int32_t a, b, c
        int32_t ua, ub
        double p
    ctypedef struct ln_term:
        int32_t kind
        int32_t b, c
        int32_t ub, uc
        int32_t first
    int LN_DOT, LN_A, LN_B, LN_C
    int LN_STORE, LN_DEFER
    int ln_wait_turn(Py_ssize_t* turn, Py_ssize_t mine, const Py_ssize_t* stop) nogil
    int ln_stopped(const Py_ssize_t* stop) nogil
    void ln_set_stop(Py_ssize_t* stop, Py_ssize_t value) nogil
    void ln_worker_done(Py_ssize_t* done) nogil
    void ln_wait_workers(Py_ssize_t* done, Py_ssize_t n) nogil
    void ln_spin_while(const Py_ssize_t* posted, Py_ssize_t seen, long rounds) nogil
    void ln_pass_turn(Py_ssize_t* turn, Py_ssize_t next) nogil

cdef extern from "_lanes_simd.h":
    ctypedef struct ln_kernels:
        Py_ssize_t (*forward)(const ln_instr*, Py_ssize_t, const ln_term*, double*, const double*,
                              Py_ssize_t, Py_ssize_t) noexcept nogil
        void (*backward)(const ln_instr*, Py_ssize_t, const ln_term*, const double*, double*,
                         const double*, Py_ssize_t, Py_ssize_t, double*, int) noexcept nogil
        void (*flush_block)(const ln_instr*, Py_ssize_t, const ln_term*, const double*,
                            const double*, Py_ssize_t, Py_ssize_t, const double*,
                            double*) noexcept nogil
        void (*reduce)(double*, const int32_t*, const double*, Py_ssize_t, Py_ssize_t,
                       Py_ssize_t) noexcept nogil
    const ln_kernels ln_baseline
    const ln_kernels* LN_AVX2_KERNELS
    bint LN_AVX2_BUILT
    bint ln_cpu_has_avx2()
    const char* LN_COMPILER

__all__ = ["BatchTape", "simd", "simd_variants", "use_simd"]

# The build of the lane kernels in use (regrad/_lanes_simd.h): each gives the same bits
cdef const ln_kernels* kernels = &ln_baseline
cdef str kernels_name = "baseline"

COMPILER = LN_COMPILER.decode("ascii", "replace").strip()


def simd_variants():
    """The builds of the lane kernels that this build holds and this CPU runs."""
    return ("baseline", "avx2") if LN_AVX2_BUILT and ln_cpu_has_avx2() else ("baseline",)


def simd():
    """The build of the lane kernels in use: "baseline" or "avx2"."""
    return kernels_name


def use_simd(name=None):
    """Run the lane kernels built for ``name`` ("baseline" or "avx2"; None:
    the best this CPU runs); return the name used before. All builds give
    the same bits: this is for comparing them."""
    global kernels, kernels_name
    available = simd_variants()
    if name is None:
        name = available[len(available) - 1]
    if name not in available:
        raise ValueError(f"regrad: no {name!r} build of the lane kernels here "
                         f"(built and supported: {', '.join(available)})")
    previous = kernels_name
    kernels = LN_AVX2_KERNELS if name == "avx2" else &ln_baseline
    kernels_name = name
    return previous


def _use_simd_from_env():
    """REGRAD_SIMD=baseline (or avx2) at import: that build, else the best."""
    import os, warnings
    try:
        use_simd(os.environ.get("REGRAD_SIMD") or None)
    except ValueError as exc:
        warnings.warn(f"{exc}; REGRAD_SIMD ignored", RuntimeWarning, stacklevel=2)
        use_simd()


_use_simd_from_env()

# the working set of a block (values, adjoints, contributions) kept to about this
cdef Py_ssize_t BLOCK_BYTES = 512 * 1024


cdef inline void* _alloc(Py_ssize_t count, size_t size) except NULL:
    return alloc(count, size, "the batch tape")


cdef tuple _shape(Py_buffer* view):
    """A buffer's shape as memoryview.shape gives it (() for a 0-d one)."""
    if view.shape != NULL:
        return tuple(view.shape[i] for i in range(view.ndim))
    return (view.len // view.itemsize,) if view.ndim else ()


def _parameter_uses(list prog, list is_param, list scal):
    """The uses of shared parameters, numbered in the order backward meets
    them (instructions last to first; a DOT's terms last to first, the first
    with the start). Per instruction its operands' uses (-1: none), and per
    use its parameter's scalar index."""
    use_param = []

    def use(s):
        if not is_param[s]:
            return -1
        use_param.append(scal[s])
        return len(use_param) - 1

    uses_of = [None] * len(prog)
    for t in range(len(prog) - 1, -1, -1):
        op, out, operands, p = prog[t]
        if op == LN_DOT:
            term_uses = [None] * (len(operands) - 1)
            for k in range(len(operands) - 2, -1, -1):
                start = use(operands[0]) if k == 0 else -1
                term_uses[k] = (use(operands[k + 1][0]), use(operands[k + 1][1]))
            uses_of[t] = (start, term_uses)
        else:
            uses_of[t] = [use(x) for x in operands]
    return uses_of, use_param


cdef inline int32_t _field(list lane, list scal, Py_ssize_t s):
    """Where an operand is: its lane slot, or its scalar index."""
    return lane[s] if lane[s] >= 0 else scal[s]


# tests: a function called as _test_hook("start", t) before worker t starts and
# as _test_hook("wait", 0) before the workers are waited for, to force a
# failure at those steps (a thread that cannot start, an interrupt)
_test_hook = None


@cython.final
cdef class BatchTape:
    """One sample's graph over a batch: ``regrad.compile(root, inputs=[...])``
    makes one (see ``regrad.lanes.BatchTape`` for the reference implementation
    of the same API)."""

    # the program
    cdef ln_instr* prog
    cdef ln_term* terms
    cdef Py_ssize_t n_ins
    cdef Py_ssize_t k             # inputs: lane slots 0..k-1
    cdef Py_ssize_t n_lane        # lane slots
    cdef Py_ssize_t root_lane
    cdef Py_ssize_t n_scalar      # scalars: the leaves that are not inputs
    cdef double* sv
    cdef PyObject** scalar_leaf   # borrowed from self._scalars
    cdef Py_ssize_t U             # shared parameter uses (rows of the contributions)
    cdef int32_t* use_param       # use -> scalar, or NULL when each parameter has one use
    cdef int32_t* param_of        # what acc[] holds: per entry its scalar index
    cdef Py_ssize_t n_acc
    cdef Py_ssize_t B
    cdef Py_ssize_t n_threads
    cdef bint is_bitwise          # False: each thread adds up its lanes apart (_apart)
    cdef double* part             # then per thread but the last: its sums, n_acc each
    # the recorded tape: planned from, then run again, unfused, on the error path
    cdef Tape _tape               # (it also holds the leaves)
    cdef Py_ssize_t n, n_leaves, root_slot
    cdef int32_t* leaf_scalar     # per leaf slot: its scalar index, or -1 - input
    # the last forward
    cdef Py_ssize_t N             # lanes
    cdef bint ready               # the last forward succeeded
    cdef double* V                # blocks of n_lane * B values
    cdef Py_ssize_t V_blocks      # capacity, in blocks
    cdef Py_ssize_t* bad_block    # per thread: the first block with a bad lane, or -1
    # backward's work space, kept from call to call
    cdef double* G                # per thread: the adjoints of a block
    cdef int32_t* zero_slot       # the lane slots whose adjoints start at zero in a sweep
    cdef Py_ssize_t n_zero
    cdef double* C                # per thread: a block's contributions (see ln_backward)
    cdef Py_ssize_t turn          # the block whose contributions are added next
    cdef bint busy                # a forward or backward runs (the GIL released)
    cdef bint started             # __init__ has begun: a tape records once
    cdef Py_ssize_t stop          # a failed call's workers stop (ln_stopped)
    cdef Py_ssize_t done          # worker threads done with the call's buffers
    # step(): per thread a slot of a block's values, adjoints and contributions
    cdef double* St
    cdef Py_ssize_t step_T        # the threads St has slots for
    cdef double** step_out        # per output: where step() writes its N values
    cdef double* step_buf         # the last step's losses, then its outputs' values
                                  # (in self._step_store, an array('d'))
    cdef Py_ssize_t step_cap      # step_buf's room, in values
    cdef Py_ssize_t step_N        # the last step's lanes (0: no step since a forward)
    cdef int32_t* out_lane        # per output: its lane slot
    cdef Py_ssize_t n_out
    cdef PyObject** opt_nodes     # borrowed from self._opt_params
    cdef Py_ssize_t n_opt
    cdef uint8_t* acc_in_opt      # per acc[] entry: its parameter is the optimizer's
    # Python objects
    cdef object _root, _inputs, _scalars, _params, _outputs, _out_lanes
    cdef object _opt_key, _opt_params, _step_store

    def __dealloc__(self):
        # every C field starts at 0 or NULL (Cython zeroes a new object)
        PyMem_Free(self.prog)
        PyMem_Free(self.terms)
        PyMem_Free(self.sv)
        PyMem_Free(self.scalar_leaf)
        PyMem_Free(self.use_param)
        PyMem_Free(self.param_of)
        PyMem_Free(self.leaf_scalar)
        PyMem_Free(self.V)
        PyMem_Free(self.bad_block)
        PyMem_Free(self.G)
        PyMem_Free(self.zero_slot)
        PyMem_Free(self.C)
        PyMem_Free(self.St)
        PyMem_Free(self.step_out)
        PyMem_Free(self.out_lane)
        PyMem_Free(self.opt_nodes)
        PyMem_Free(self.acc_in_opt)
        PyMem_Free(self.part)

    def __init__(self, Var root not None, inputs, retain_graph=False, outputs=(), threads=1,
                 block=None, bitwise=True):
        """Record one sample's graph; use ``regrad.compile(root, inputs=[...])``."""
        if self.started:              # also from inside the outputs' iteration
            raise RuntimeError(_ref.BATCH_RECORDED_ONCE_MESSAGE)
        self.started = True
        threads, block, bitwise = _ref.check_options(threads, block, bitwise)
        inputs = _ref.check_inputs(root, inputs, Var)
        outputs = _ref.check_outputs(outputs, Var)
        tape = Tape(root, retain_graph=retain_graph, outputs=outputs)
        self._plan(tape, inputs)
        self._plan_first_writes()
        self._root = root
        self._outputs = outputs
        self._inputs = inputs
        self.n_threads = threads
        self.is_bitwise = bitwise
        if not bitwise:
            self.part = <double*>_alloc(checked_product(threads, max(self.n_acc, 1)),
                                        sizeof(double))
        if block is None:
            block = BLOCK_BYTES // (8 * (2 * self.n_lane + self.U + 1))
            block = max(8, min(256, block - block % 8))
        self.B = block
        self.bad_block = <Py_ssize_t*>_alloc(threads, sizeof(Py_ssize_t))
        self.G = <double*>_alloc(checked_product(threads, checked_product(self.n_lane, self.B)),
                                 sizeof(double))
        self.C = <double*>_alloc(checked_product(threads, checked_product(self.B, max(self.U, 16))),
                                 sizeof(double))

    # ------------------------------------------------------------ planning
    cdef int _plan(self, Tape tape, tuple inputs) except -1:
        """The lane program, from the replay tape's arrays, phase by phase."""
        self._tape = tape
        self.n, self.n_leaves, self.root_slot = tape.n, tape.n_leaves, tape.root_slot
        lane, scal, scalars, shared = self._place_leaves(tape, inputs)
        out_slots = [tape.out_slot[i] for i in range(tape.n_out)]
        fused, uses = self._fused(tape, lane, out_slots)
        prog = self._instructions(tape, fused, uses, lane, out_slots)
        is_param = [lane[s] < 0 and scal[s] >= 0 and shared[scal[s]] for s in range(self.n)]
        uses_of, use_param = _parameter_uses(prog, is_param, scal)
        self._write_program(prog, lane, scal, uses_of)
        self._lay_out_scalars(scalars, shared, use_param)
        return 0

    cdef tuple _place_leaves(self, Tape tape, tuple inputs):
        """Inputs are lane slots 0..k-1, the other leaves scalars. Per slot: its
        lane slot or -1 (``lane``), its scalar index or -1 (``scal``); the
        scalar leaves, and per scalar whether it is a shared parameter."""
        cdef Py_ssize_t j, L = self.n_leaves
        cdef Var leaf
        self.leaf_scalar = <int32_t*>_alloc(L, sizeof(int32_t))
        slot_of_leaf = {}
        for j in range(L):
            slot_of_leaf[id(<object>tape.leaf[j])] = j
        lane = [-1] * self.n
        scal = [-1] * self.n
        for i, inp in enumerate(inputs):
            lane[slot_of_leaf[id(inp)]] = i
        scalars = []
        shared = []
        for j in range(L):
            if lane[j] < 0:
                leaf = <Var>tape.leaf[j]
                scal[j] = len(scalars)
                scalars.append(leaf)
                shared.append(bool(leaf._flags & REQ_GRAD))
                self.leaf_scalar[j] = scal[j]
            else:
                self.leaf_scalar[j] = -1 - lane[j]
        self.k = len(inputs)
        return lane, scal, scalars, shared

    cdef tuple _fused(self, Tape tape, list lane, list out_slots):
        """Per slot: whether it is a product that fuses into the sum in the next
        slot (used once, by that sum as its second operand, and with lanes: the
        replay tape's rule), and its number of uses."""
        cdef Py_ssize_t n = self.n, L = self.n_leaves, i
        cdef int32_t* a = tape.a
        cdef int32_t* b = tape.b
        uses = [0] * n
        for i in range(L, n):
            uses[a[i]] += 1
            if tape.unfused_op(i) <= DIV:
                uses[b[i]] += 1
        for i in out_slots:               # an output keeps its values: never fused
            uses[i] += 1
        fused = [False] * n
        i = L
        while i < n - 1:
            if (tape.unfused_op(i) == MUL and uses[i] == 1 and tape.unfused_op(i + 1) == ADD
                    and b[i + 1] == i
                    and (lane[a[i]] >= 0 or lane[b[i]] >= 0 or a[i] >= L or b[i] >= L)):
                fused[i] = True
                i += 2
            else:
                i += 1
        return fused, uses

    cdef list _instructions(self, Tape tape, list fused, list uses, list lane, list out_slots):
        """The instructions, in tape order: [op, out slot, operands, p]; a fused
        product and its sum are a DOT of one term, and a DOT whose result is
        used only as the next one's first operand absorbs it. Each result gets
        the next lane slot, after the inputs'."""
        cdef Py_ssize_t L = self.n_leaves, i, n_lane
        cdef int32_t* a = tape.a
        cdef int32_t* b = tape.b
        cdef uint8_t op
        prog = []
        for i in range(L, self.n):
            op = tape.unfused_op(i)
            if fused[i]:
                continue
            if i > L and fused[i - 1]:
                if (prog and prog[len(prog) - 1][0] == LN_DOT and prog[len(prog) - 1][1] == a[i]
                        and uses[a[i]] == 1):
                    prog[len(prog) - 1][1] = i
                    prog[len(prog) - 1][2].append((a[i - 1], b[i - 1]))
                else:
                    prog.append([LN_DOT, i, [a[i], (a[i - 1], b[i - 1])], 0.0])
            elif op <= DIV:
                prog.append([op, i, [a[i], b[i]], 0.0])
            else:     # Pow: b is its exponent's slot (as the kernels read it)
                prog.append([op, i, [a[i]], tape.val[b[i]] if op == POW else 0.0])
        n_lane = self.k
        for entry in prog:
            lane[entry[1]] = n_lane
            n_lane += 1
        self.n_lane = n_lane
        self.root_lane = lane[self.root_slot]
        self._out_lanes = [lane[i] for i in out_slots]
        self.n_out = len(out_slots)
        self.out_lane = <int32_t*>_alloc(self.n_out, sizeof(int32_t))
        for i in range(self.n_out):
            self.out_lane[i] = self._out_lanes[i]
        return prog

    cdef int _write_program(self, list prog, list lane, list scal, list uses_of) except -1:
        """The C program: per instruction, where its operands are (a lane slot,
        or a scalar) and their parameter uses; a DOT's terms after it."""
        cdef ln_instr* ins
        cdef ln_term* term
        self.n_ins = len(prog)
        n_terms = sum(len(entry[2]) - 1 for entry in prog if entry[0] == LN_DOT)
        self.prog = <ln_instr*>_alloc(self.n_ins, sizeof(ln_instr))
        self.terms = <ln_term*>_alloc(n_terms, sizeof(ln_term))
        memset(self.prog, 0, self.n_ins * sizeof(ln_instr))
        memset(self.terms, 0, n_terms * sizeof(ln_term))
        n_terms = 0
        for t, (op, out, operands, p) in enumerate(prog):
            ins = &self.prog[t]
            ins.op = op
            ins.out = lane[out]
            ins.p = p
            ins.kind = LN_A if lane[operands[0]] >= 0 else 0
            ins.a = _field(lane, scal, operands[0])
            ins.ub = -1
            ins.ua = uses_of[t][0]
            if op == LN_DOT:
                ins.b = n_terms
                ins.c = len(operands) - 1
                for k, (x, y) in enumerate(operands[1:]):
                    term = &self.terms[n_terms]
                    term.kind = (LN_B if lane[x] >= 0 else 0) | (LN_C if lane[y] >= 0 else 0)
                    term.b = _field(lane, scal, x)
                    term.c = _field(lane, scal, y)
                    term.ub, term.uc = uses_of[t][1][k]
                    n_terms += 1
            elif len(operands) == 2:
                ins.kind |= LN_B if lane[operands[1]] >= 0 else 0
                ins.b = _field(lane, scal, operands[1])
                ins.ub = uses_of[t][1]
        return 0

    cdef int _lay_out_scalars(self, list scalars, list shared, list use_param) except -1:
        """The scalars' values, and the accumulators of the shared parameters'
        gradients: one per use when each parameter has one, else one per scalar."""
        cdef Py_ssize_t j, u
        self._scalars = tuple(scalars)
        self.n_scalar = len(scalars)
        self.sv = <double*>_alloc(self.n_scalar, sizeof(double))
        self.scalar_leaf = <PyObject**>_alloc(self.n_scalar, sizeof(PyObject*))
        for j in range(self.n_scalar):
            self.scalar_leaf[j] = <PyObject*>scalars[j]
        params = sorted(set(use_param))
        self._params = tuple(scalars[j] for j in params)
        self.U = len(use_param)
        if len(params) == len(use_param):     # one use each: acc[] indexed by use
            self.n_acc = self.U
            self.param_of = <int32_t*>_alloc(self.U, sizeof(int32_t))
            for u in range(self.U):
                self.param_of[u] = use_param[u]
        else:
            self.n_acc = self.n_scalar
            self.use_param = <int32_t*>_alloc(self.U, sizeof(int32_t))
            for u in range(self.U):
                self.use_param[u] = use_param[u]
            self.param_of = <int32_t*>_alloc(self.n_scalar, sizeof(int32_t))
            for j in range(self.n_scalar):
                self.param_of[j] = j if shared[j] and j in params else -1
        return 0

    cdef int _plan_first_writes(self) except -1:
        """Which lane adjoints a backward sweep writes first with a w * x
        term (``ln_term.first``: set, not added), and the others, which start
        at zero (``zero_slot``): the adjoints in the order ln_backward meets
        them; the root's is seeded, the inputs' are read after the sweep."""
        cdef Py_ssize_t i, k, s
        cdef ln_instr* ins
        cdef ln_term* t
        cdef bytearray seen = bytearray(self.n_lane)    # 1: written, 2: must be zero
        seen[self.root_lane] = 1
        for i in range(self.n_ins - 1, -1, -1):
            ins = &self.prog[i]
            if not seen[ins.out]:             # read before any write
                seen[ins.out] = 2
            if ins.op == LN_DOT:
                for k in range(ins.c - 1, -1, -1):
                    t = &self.terms[ins.b + k]
                    if k == 0 and ins.kind & LN_A and not seen[ins.a]:
                        seen[ins.a] = 2
                    if t.kind & LN_B and not seen[t.b]:
                        seen[t.b] = 2
                    if t.kind & LN_C and not seen[t.c]:
                        seen[t.c] = 1
                        t.first = t.kind == LN_C
                        if not t.first:
                            seen[t.c] = 2
            else:
                if ins.kind & LN_A and not seen[ins.a]:
                    seen[ins.a] = 2
                if ins.kind & LN_B and not seen[ins.b]:
                    seen[ins.b] = 2
        for s in range(self.k):               # read by input_grads
            if not seen[s]:
                seen[s] = 2
        zeros = [s for s in range(self.n_lane) if seen[s] == 2]
        self.zero_slot = <int32_t*>_alloc(len(zeros), sizeof(int32_t))
        for i in range(len(zeros)):
            self.zero_slot[i] = zeros[i]
        self.n_zero = len(zeros)
        return 0

    # -------------------------------------------------------------- forward
    def forward(self, data):
        """Run the graph on every row of ``data`` (N rows of one value per
        input, in the order of ``inputs``: a C-contiguous float64 buffer, flat
        or of shape (N, k), or a sequence of rows); return the N values of the
        root as ``array('d')`` (none for N = 0, as NumPy sums an empty array:
        backward() then adds nothing). The other leaves' ``.val`` are read now."""
        cdef Py_buffer view
        cdef double* owned = NULL
        cdef bint have_view = False
        self._enter()
        try:
            N = self._open_rows(data, &view, &have_view, &owned)
            return self._forward(<double*>view.buf if have_view else owned, N)
        finally:
            self.busy = False
            if have_view:
                PyBuffer_Release(&view)
            PyMem_Free(owned)

    cdef Py_ssize_t _open_rows(self, data, Py_buffer* view, bint* have_view,
                               double** owned) except -1:
        """The rows of ``data``: in ``view`` (a float64 buffer: ``have_view``
        set; release it) or copied into ``owned`` (free it); returns N."""
        cdef Py_ssize_t N, i
        if PyObject_CheckBuffer(data):
            PyObject_GetBuffer(data, view, PyBUF_RECORDS_RO)
            have_view[0] = True
            if (view.ndim == 1 and view.format != NULL and view.format[0] == b'd'
                    and view.format[1] == 0 and view.len % (8 * self.k) == 0
                    and PyBuffer_IsContiguous(view, b'C')):
                return view.len // (8 * self.k)   # rows of float64 (array('d')): no check fails
            return _ref.buffer_rows(
                "B" if view.format == NULL else view.format.decode("ascii", "replace"),
                PyBuffer_IsContiguous(view, b'C'), _shape(view), view.len, self.k, "data")
        flat = _ref.rows_to_floats(data, self.k)
        N = len(flat) // self.k
        owned[0] = <double*>_alloc(len(flat), sizeof(double))
        for i in range(len(flat)):
            owned[0][i] = PyFloat_AS_DOUBLE(flat[i])
        return N

    cdef int _enter(self) except -1:
        """Values and work space are the tape's own: one call at a time."""
        if self.busy:
            raise RuntimeError("BatchTape: another thread is running this tape's forward() "
                               "or backward(); use one tape per thread")
        self.busy = True
        return 0

    cdef object _forward(self, const double* rows, Py_ssize_t N):
        cdef Py_ssize_t i, nb = (N + self.B - 1) // self.B, t, T, first
        cdef double* out
        self.ready = False
        self.N = 0
        self.step_N = 0
        for i in range(self.n_scalar):
            self.sv[i] = (<Var>self.scalar_leaf[i])._val
        if nb > self.V_blocks:
            PyMem_Free(self.V)
            self.V = NULL
            self.V_blocks = 0
            self.V = <double*>_alloc(checked_product(nb, checked_product(self.n_lane, self.B)),
                                     sizeof(double))
            self.V_blocks = nb
        result = array("d", bytes(8 * N))
        out = <double*><size_t>result.buffer_info()[0]
        T = min(_ref.threads_for(self.n_threads, N), nb)
        _run(self, T, 0, rows, out, N, NULL, NULL)
        first = -1
        for t in range(T):
            if self.bad_block[t] >= 0 and (first < 0 or self.bad_block[t] < first):
                first = self.bad_block[t]
        if first >= 0:
            self._raise_in_block(first, rows, N)
        self.N = N
        self.ready = True
        return result

    cdef void _forward_blocks(self, Py_ssize_t t, Py_ssize_t T, const double* rows,
                              double* out, Py_ssize_t N) noexcept nogil:
        cdef Py_ssize_t nb = (N + self.B - 1) // self.B, blk, lo, hi, base, n, l, j
        cdef Py_ssize_t B = self.B, k = self.k
        cdef double* V
        lo = t * nb // T
        hi = (t + 1) * nb // T
        self.bad_block[t] = -1
        for blk in range(lo, hi):
            if ln_stopped(&self.stop):
                return
            base = blk * B
            n = min(B, N - base)
            V = self.V + blk * self.n_lane * B
            self._load(V, rows, base, n)
            if kernels.forward(self.prog, self.n_ins, self.terms, V, self.sv, B, n):
                self.bad_block[t] = blk
                return
            memcpy(out + base, V + self.root_lane * B, n * sizeof(double))

    cdef int _raise_in_block(self, Py_ssize_t blk, const double* rows, Py_ssize_t N) except -1:
        """Run the lanes of a block one at a time through the raising kernels,
        on the recorded (unfused) tape, and raise the first lane's error: of
        its failing nodes, the one made first (as the replay tape does)."""
        cdef Py_ssize_t lane, i, L = self.n_leaves, j
        cdef Tape tape = self._tape
        cdef double* v = <double*>_alloc(self.n, sizeof(double))
        cdef uint8_t o
        cdef unsigned long long born, first_born = 0
        try:
            for lane in range(blk * self.B, min(N, (blk + 1) * self.B)):
                for j in range(L):
                    s = self.leaf_scalar[j]
                    v[j] = self.sv[s] if s >= 0 else rows[lane * self.k + (-1 - s)]
                first_error = None
                for i in range(L, self.n):
                    o = tape.unfused_op(i)
                    try:
                        if o <= DIV:
                            v[i] = binary_value(o, v[tape.a[i]], v[tape.b[i]])
                        else:   # Pow's exponent: in the tape's constant slot
                            v[i] = unary_value(o, v[tape.a[i]], tape.val[tape.b[i]])
                    except Exception as e:
                        v[i] = NAN
                        born = tape.born[i - L]
                        if first_error is None or born_before(born, first_born):
                            first_born = born
                            first_error = e
                if first_error is not None:
                    error = _ref.lane_error(lane, first_error)
                    first_error = None
                    raise error
        finally:
            PyMem_Free(v)
        raise RuntimeError("regrad: a lane was counted out of its domain but no node fails")

    # ------------------------------------------------------------- backward
    def backward(self, dy=None, input_grads=False, create_graph=False):
        """Add ``sum_i dy_i * d(out_i)/d(p)`` into the ``.grad`` of every shared
        parameter ``p``, at the values of the last ``forward()``. ``dy``: None
        (1.0), a number for every lane, or N weights (a sequence or a float64
        buffer). With ``input_grads=True``, return each lane's gradient with
        respect to the inputs, ``dy_i * d(out_i)/d(input)``, as ``array('d')`` of
        N rows of k values; otherwise None. First derivatives only:
        ``create_graph=True`` raises ValueError."""
        if create_graph:
            raise ValueError(_ref.CREATE_GRAPH_MESSAGE)
        self._enter()
        try:
            return self._backward_call(dy, input_grads)
        finally:
            self.busy = False

    cdef object _backward_call(self, dy, input_grads):
        if not self.ready:
            raise RuntimeError(_ref.NO_FORWARD_MESSAGE)
        cdef Py_ssize_t N = self.N, i, m
        cdef double seed = 1.0
        cdef double* seeds = NULL
        cdef double* owned = NULL
        cdef double* acc = NULL
        cdef double* ig = NULL
        cdef Py_buffer view
        cdef bint have_view = False
        cdef Var p
        if dy is not None and PyFloat_CheckExact(<PyObject*>dy):
            seed = PyFloat_AS_DOUBLE(dy)
        elif PyObject_CheckBuffer(dy) and not _is_real(dy):   # numpy scalars
            PyObject_GetBuffer(dy, &view, PyBUF_RECORDS_RO)
            have_view = True
        try:
            if have_view:
                m = _ref.buffer_rows(
                    "B" if view.format == NULL else view.format.decode("ascii", "replace"),
                    PyBuffer_IsContiguous(&view, b'C'), _shape(&view), view.len, 1, "dy")
                if m != N:
                    raise ValueError(f"dy: {m} weights for {N} samples")
                seeds = <double*>view.buf
            elif dy is None or not PyFloat_CheckExact(<PyObject*>dy):
                ws = _ref.weights_to_floats(dy, N)
                if type(ws) is float:
                    seed = ws
                else:
                    owned = <double*>_alloc(N, sizeof(double))
                    for i in range(N):
                        owned[i] = PyFloat_AS_DOUBLE(ws[i])
                    seeds = owned
            grads = None
            if input_grads:
                grads = array("d", bytes(8 * N * self.k))
                ig = <double*><size_t>grads.buffer_info()[0]
            acc = <double*>_alloc(self.n_acc, sizeof(double))
            for i in range(self.n_acc):
                if self.param_of[i] >= 0:
                    p = <Var>self.scalar_leaf[self.param_of[i]]
                    acc[i] = leaf_grad(<PyObject*>p) if p._flags & HAS_GRAD else 0.0
            self._backward(seed, seeds, acc, ig, N)
            for i in range(self.n_acc):
                if self.param_of[i] >= 0:
                    p = <Var>self.scalar_leaf[self.param_of[i]]
                    set_leaf_grad(<PyObject*>p, acc[i])
                    p._flags = p._flags | HAS_GRAD
            return grads
        finally:
            if have_view:
                PyBuffer_Release(&view)
            PyMem_Free(owned)
            PyMem_Free(acc)

    cdef int _backward(self, double seed, const double* seeds, double* acc, double* ig,
                       Py_ssize_t N) except -1:
        cdef Py_ssize_t nb = (N + self.B - 1) // self.B, T = _ref.threads_for(self.n_threads, N)
        cdef double seed_box = seed
        if not self.is_bitwise:
            _run(self, T, 3, seeds, acc, N, &seed_box, ig)
            self._add_parts(acc, T)
            return 0
        T = min(T, nb)
        self.turn = nb - 1
        _run(self, T, 1, seeds, acc, N, &seed_box, ig)
        return 0

    cdef int _apart(self, Py_ssize_t t, Py_ssize_t T, double seed, const double* seeds,
                    const double* rows, double* acc, double* losses, double* ig,
                    Py_ssize_t N) except -1 nogil:
        """bitwise=False: thread t's lanes, N*t//T to N*(t+1)//T - 1, the last
        first, at most a block at a time, their contributions added into sums
        of its own (acc for the last thread, which holds the gradients so far;
        else the thread's part, from 0.0): no thread waits for another. With
        ``rows`` (step()), each block runs its forward first, in the thread's
        slot; else the values are the last forward's."""
        cdef Py_ssize_t lo = N * t // T, top = N * (t + 1) // T, base, n, blk, l, j
        cdef Py_ssize_t B = self.B, k = self.k
        cdef double* mine = acc if t == T - 1 else self.part + t * self.n_acc
        cdef double* V
        cdef double* G = self.G + t * self.n_lane * B
        cdef double* C = self.C + t * B * max(self.U, 16)
        cdef int mode = LN_STORE if self.use_param != NULL else LN_DEFER
        self.bad_block[t] = -1
        if t < T - 1:
            memset(mine, 0, self.n_acc * sizeof(double))
        while top > lo:
            if ln_stopped(&self.stop):
                return 0
            if rows != NULL:
                base = max(lo, top - B)
                n = top - base
                V = self.St + t * self._slot_size()
                G = V + self.n_lane * B
                C = G + self.n_lane * B
                if not self._step_forward(t, V, rows, losses, base, n):
                    return 0
            else:            # lanes base..top-1 of the forward's block blk: from its lane base % B
                blk = (top - 1) // B
                base = max(lo, blk * B)
                n = top - base
                V = self.V + blk * self.n_lane * B + (base - blk * B)
                G = self.G + t * self.n_lane * B + (base - blk * B)
                C = self.C + t * B * max(self.U, 16) + (base - blk * B)
            self._sweep(V, G, C, seed, seeds + base if seeds != NULL else NULL, n, mode)
            if ig != NULL:
                for l in range(n):
                    for j in range(k):
                        ig[(base + l) * k + j] = G[j * B + l]
            self._add(V, G, C, mine, n, mode)
            top = base
        return 0

    cdef void _add_parts(self, double* acc, Py_ssize_t T) noexcept nogil:
        """bitwise=False: the threads' sums added, the last lanes' first: the
        last thread's (in acc), then thread T-2's, ..., thread 0's."""
        cdef Py_ssize_t i, t
        cdef double s
        for i in range(self.n_acc):
            s = acc[i]
            for t in range(T - 2, -1, -1):
                s = s + self.part[t * self.n_acc + i]
            acc[i] = s

    cdef int _backward_blocks(self, Py_ssize_t t, Py_ssize_t T, double seed,
                              const double* seeds, const double* rows, double* acc,
                              double* losses, double* ig, Py_ssize_t N) except -1 nogil:
        """Thread t's blocks: the last but t, then every T-th one downwards.
        With ``rows`` (step()), each block first runs forward in the thread's
        slot; else the values are the last forward's. Each block's
        contributions are added into acc in turn, the last block's first,
        while its adjoints are still in G (ln_flush_block): only the sums
        cross between the threads. A block that leaves an operator's domain
        stops the call (step() finds the first such block again and raises)."""
        cdef Py_ssize_t nb = (N + self.B - 1) // self.B, blk = nb - 1 - t, base, n, l, j
        cdef Py_ssize_t B = self.B, k = self.k
        cdef double* V = NULL
        cdef double* G = self.G + t * self.n_lane * B
        cdef double* C = self.C + t * B * max(self.U, 16)
        cdef int mode = LN_STORE if self.use_param != NULL else LN_DEFER
        if rows != NULL:
            V = self.St + t * self._slot_size()
            G = V + self.n_lane * B
            C = G + self.n_lane * B
        self.bad_block[t] = -1
        while blk >= 0:
            base = blk * B
            n = min(B, N - base)
            if rows == NULL:
                V = self.V + blk * self.n_lane * B
            elif not self._step_forward(t, V, rows, losses, base, n):
                return 0
            self._sweep(V, G, C, seed, seeds + base if seeds != NULL else NULL, n, mode)
            if ig != NULL:
                for l in range(n):
                    for j in range(k):
                        ig[(base + l) * k + j] = G[j * B + l]
            if not ln_wait_turn(&self.turn, blk, &self.stop):   # G and C hold what is
                return 0                                           # still to add: in turn
            self._add(V, G, C, acc, n, mode)
            ln_pass_turn(&self.turn, blk - 1)
            blk -= T
        return 0

    cdef inline void _sweep(self, const double* V, double* G, double* C, double seed,
                            const double* seeds, Py_ssize_t n, int mode) noexcept nogil:
        """A block's backward sweep from its root's seeds (``seeds``, else
        ``seed`` in every lane)."""
        cdef Py_ssize_t l
        cdef double* g = G + self.root_lane * self.B
        for l in range(self.n_zero):
            memset(G + self.zero_slot[l] * self.B, 0, n * sizeof(double))
        if seeds != NULL:
            memcpy(g, seeds, n * sizeof(double))
        else:
            for l in range(n):
                g[l] = seed
        kernels.backward(self.prog, self.n_ins, self.terms, V, G, self.sv, self.B, n, C, mode)

    cdef inline void _add(self, const double* V, const double* G, const double* C, double* acc,
                          Py_ssize_t n, int mode) noexcept nogil:
        """A swept block's contributions added into acc (in its turn)."""
        if mode == LN_DEFER:
            kernels.flush_block(self.prog, self.n_ins, self.terms, V, G, self.B, n, C, acc)
        else:
            kernels.reduce(acc, self.use_param, C, self.U, self.B, n)

    cdef inline void _load(self, double* V, const double* rows, Py_ssize_t base,
                           Py_ssize_t n) noexcept nogil:
        """Rows base..base+n-1 into a block's input slots."""
        cdef Py_ssize_t l, j, B = self.B, k = self.k
        for l in range(n):
            for j in range(k):
                V[j * B + l] = rows[(base + l) * k + j]

    # ---------------------------------------------------------------- step
    def step(self, data, optimizer, l2=0.0):
        """One training step over the N rows of ``data`` (as ``forward()``
        takes them), in one call: the loss ``mean(out_i) + l2 * sum(p*p)``
        (``p`` over ``optimizer``'s parameters, in their order), the gradients
        (``optimizer``'s parameters' reset first, as ``zero_grad()`` does), and
        ``optimizer.step()``; returns the loss before the update. The losses
        and weights are those of the dynamic engine's ``loss.backward()`` and
        ``optimizer.step()`` on the same graph, to the bit (unless
        ``bitwise=False``). Each block of lanes runs its forward and backward
        back to back: the memory is a block's, whatever N; ``output_values``
        then holds the outputs, but there is no forward for ``backward()``."""
        cdef Py_buffer view
        cdef double* owned = NULL
        cdef bint have_view = False
        cdef double penalty
        self._enter()
        try:
            penalty = self._use_optimizer(optimizer, l2)
            N = self._open_rows(data, &view, &have_view, &owned)
            if N == 0:
                raise ValueError(_ref.NO_SAMPLES_MESSAGE)
            total = self._step(<double*>view.buf if have_view else owned, N, penalty)
        finally:
            self.busy = False
            if have_view:
                PyBuffer_Release(&view)
            PyMem_Free(owned)
        optimizer.step()
        return total

    cdef double _use_optimizer(self, optimizer, l2) except? -1.0:
        """The optimizer's parameters as a C array (kept while its groups keep
        their lists), and which of the tape's parameters are among them;
        returns ``l2`` as a float."""
        cdef Py_ssize_t i
        if (self._opt_key is not None and self._opt_key[0] is optimizer
                and type(l2) is float and self._same_groups(optimizer.param_groups)):
            return l2
        # the groups' lists, held (so that their ids are theirs), and their lengths
        key = (optimizer, tuple([g["params"] for g in optimizer.param_groups]),
               tuple([len(g["params"]) for g in optimizer.param_groups]))
        params, l2 = _ref.check_step_args(optimizer, l2, Var)
        PyMem_Free(self.opt_nodes)
        self.opt_nodes = <PyObject**>_alloc(len(params), sizeof(PyObject*))
        for i, p in enumerate(params):
            self.opt_nodes[i] = <PyObject*>p
        ids = {id(p) for p in params}
        if self.acc_in_opt == NULL:
            self.acc_in_opt = <uint8_t*>_alloc(self.n_acc, 1)
        for i in range(self.n_acc):
            self.acc_in_opt[i] = (self.param_of[i] >= 0
                                  and id(<object>self.scalar_leaf[self.param_of[i]]) in ids)
        self.n_opt = len(params)
        self._opt_params = params
        self._opt_key = key
        return l2

    cdef bint _same_groups(self, groups) except -1:
        """Whether the optimizer's groups hold the lists they held, unchanged
        in length, as when its parameters were last taken."""
        cdef tuple lists = self._opt_key[1], lengths = self._opt_key[2]
        cdef Py_ssize_t i, n = len(lists)
        if type(groups) is not list or len(groups) != n:
            return False
        for i in range(n):
            ps = groups[i]["params"]
            if ps is not lists[i] or len(ps) != <Py_ssize_t>lengths[i]:
                return False
        return True

    cdef object _step(self, const double* rows, Py_ssize_t N, double l2):
        cdef Py_ssize_t i, nb = (N + self.B - 1) // self.B, blk
        cdef Py_ssize_t T = _ref.threads_for(self.n_threads, N)
        if self.is_bitwise:
            T = min(T, nb)
        cdef Py_ssize_t n_out = self.n_out
        cdef double seed = 1.0 / N, total = 0.0, squares = 0.0, g
        cdef double* acc = NULL
        cdef double* losses
        cdef Var p
        self.ready = False
        self.N = 0
        self.step_N = 0
        for i in range(self.n_scalar):
            self.sv[i] = (<Var>self.scalar_leaf[i])._val
        if self.step_out == NULL:
            self.step_out = <double**>_alloc(n_out, sizeof(double*))
        self._step_layout(T)
        if checked_product(n_out + 1, N) > self.step_cap:
            self.step_cap = 0
            self._step_store = array("d", bytes(checked_product(8 * (n_out + 1), N)))
            self.step_buf = <double*><size_t>self._step_store.buffer_info()[0]
            self.step_cap = (n_out + 1) * N
        losses = self.step_buf
        for i in range(n_out):
            self.step_out[i] = self.step_buf + (i + 1) * N
        acc = <double*>_alloc(self.n_acc, sizeof(double))
        try:
            # the penalty's gradient first (the dynamic backward reaches it
            # first): 2 * (l2*p) as the two operands of p*p pass it, into 0.0
            for i in range(self.n_acc):
                if self.param_of[i] < 0:
                    continue
                p = <Var>self.scalar_leaf[self.param_of[i]]
                if self.acc_in_opt[i]:
                    acc[i] = 0.0
                    if l2 != 0.0:
                        g = 0.0 + l2 * p._val
                        acc[i] = g + l2 * p._val
                else:
                    acc[i] = leaf_grad(<PyObject*>p) if p._flags & HAS_GRAD else 0.0
            self.turn = (N + self.B - 1) // self.B - 1
            _run(self, T, 2 if self.is_bitwise else 4, rows, acc, N, &seed, losses)
            if not self.is_bitwise:
                self._add_parts(acc, T)
            for i in range(T):
                if self.bad_block[i] >= 0:
                    self._raise_first_bad(rows, N)
            # the loss as loss() adds it up: sum(losses) * (1/N) + l2 * sum(p*p)
            for i in range(N):
                total = total + losses[i]
            total = total * (1.0 / N)
            for i in range(self.n_opt):          # zero_grad(), and the penalty's
                p = <Var>self.opt_nodes[i]
                if l2 != 0.0:
                    squares = squares + p._val * p._val
                    g = 0.0 + l2 * p._val
                    set_leaf_grad(<PyObject*>p, g + l2 * p._val)
                    p._flags = p._flags | HAS_GRAD
                else:
                    p._flags = p._flags & ~HAS_GRAD
                    set_leaf_grad(<PyObject*>p, 0.0)
            if l2 != 0.0:
                total = total + l2 * squares
            for i in range(self.n_acc):
                if self.param_of[i] >= 0:
                    p = <Var>self.scalar_leaf[self.param_of[i]]
                    set_leaf_grad(<PyObject*>p, acc[i])
                    p._flags = p._flags | HAS_GRAD
        finally:
            PyMem_Free(acc)
        self.step_N = N
        return total

    cdef int _step_layout(self, Py_ssize_t T) except -1:
        """A slot for each of T threads."""
        if T == self.step_T:
            return 0
        PyMem_Free(self.St)
        self.St = NULL
        self.step_T = 0
        self.St = <double*>_alloc(checked_product(T, self._slot_size()), sizeof(double))
        self.step_T = T
        return 0

    cdef inline Py_ssize_t _slot_size(self) noexcept nogil:
        """A slot: a block's values, its adjoints, its contributions."""
        return 2 * self.n_lane * self.B + self.B * max(self.U, 16)

    cdef int _raise_first_bad(self, const double* rows, Py_ssize_t N) except -1:
        """Some block left an operator's domain: find the first one, in lane
        order, and raise its first lane's error."""
        cdef Py_ssize_t blk, base, n, l, j, B = self.B, k = self.k
        cdef double* V = self.St
        for blk in range((N + B - 1) // B):
            base = blk * B
            n = min(B, N - base)
            self._load(V, rows, base, n)
            if kernels.forward(self.prog, self.n_ins, self.terms, V, self.sv, B, n):
                self._raise_in_block(blk, rows, N)
        raise RuntimeError("regrad: a lane was counted out of its domain but no block fails")

    cdef inline bint _step_forward(self, Py_ssize_t t, double* V, const double* rows,
                                   double* losses, Py_ssize_t base,
                                   Py_ssize_t n) noexcept nogil:
        """step(): lanes base..base+n-1 forward in the slot V, their losses and
        outputs kept; False, and the call stopped, if a lane leaves an
        operator's domain (the caller finds the first such block again)."""
        cdef Py_ssize_t o, B = self.B
        self._load(V, rows, base, n)
        if kernels.forward(self.prog, self.n_ins, self.terms, V, self.sv, B, n):
            self.bad_block[t] = base // B
            ln_set_stop(&self.stop, 1)
            return False
        memcpy(losses + base, V + self.root_lane * B, n * sizeof(double))
        for o in range(self.n_out):
            memcpy(self.step_out[o] + base, V + self.out_lane[o] * B, n * sizeof(double))
        return True

    # ------------------------------------------------------------ describing
    @property
    def root(self):
        """The Var the tape was recorded from."""
        return self._root

    @property
    def inputs(self):
        """The input leaves, in the order of a row of data."""
        return self._inputs

    @property
    def outputs(self):
        """The results besides the root whose lane values ``output_values`` holds."""
        return self._outputs

    @property
    def output_values(self):
        """Per output, its N values of the last forward, as ``array('d')``."""
        self._enter()                 # not while a forward writes the values
        self.busy = False
        cdef Py_ssize_t blk, base, s
        cdef double* dst
        if not self.ready and self.step_N > 0:   # copies of the step's: slices
            return [self._step_store[(s + 1) * self.step_N:(s + 2) * self.step_N]
                    for s in range(self.n_out)]
        if not self.ready:
            raise RuntimeError(_ref.NO_VALUES_MESSAGE)
        result = []
        for s in self._out_lanes:
            values = array("d", bytes(8 * self.N))
            dst = <double*><size_t>values.buffer_info()[0]
            for blk in range((self.N + self.B - 1) // self.B):
                base = blk * self.B
                memcpy(dst + base, self.V + (blk * self.n_lane + s) * self.B,
                       min(self.B, self.N - base) * sizeof(double))
            result.append(values)
        return result

    @property
    def params(self):
        """The shared parameters: leaves that require grad and are not inputs."""
        return self._params

    @property
    def size(self):
        """The nodes of one sample's graph: leaves plus operator results."""
        return self.n

    @property
    def threads(self):
        return self.n_threads

    @property
    def block(self):
        return self.B

    @property
    def bitwise(self):
        return self.is_bitwise

    def __len__(self):
        """The number of samples of the last forward (0 before one)."""
        return self.N

    def __repr__(self):
        return _ref.batch_repr(self.n, self.n_leaves, self.k, len(self._params), "cython")


cdef int _run(BatchTape tape, Py_ssize_t T, int mode, const double* src, double* dst,
              Py_ssize_t N, double* seed, double* ig) except -1:
    """Run thread ``t``'s share of the blocks for t = 0..T-1: T-1 workers
    (``_worker``) and this thread, each with the GIL released. Whatever fails
    (a worker that cannot start, an interrupt), the workers given a share are
    stopped and waited for before this returns: they work on buffers the
    caller frees. The wait holds no GIL, so no interrupt cuts it short."""
    cdef size_t a = <size_t>src, b = <size_t>dst, s = <size_t>seed, g = <size_t>ig
    cdef Py_ssize_t t, started = 0
    ln_set_stop(&tape.stop, 0)
    if T == 0:                        # no rows
        return 0
    if T == 1:
        _work(tape, 0, 1, mode, a, b, N, s, g)
        return 0
    errors = []

    def work(t):
        try:
            _work(tape, t, T, mode, a, b, N, s, g)
        except BaseException as e:
            ln_set_stop(&tape.stop, 1)
            errors.append(e)
        finally:
            if t < T - 1:
                ln_worker_done(&tape.done)

    tape.done = 0
    failure = None
    try:
        with _workers_lock:           # a call's shares queued at once: every worker
            for t in range(T - 1):    # meets concurrent calls in the same order
                if _test_hook is not None:
                    _test_hook("start", t)
                _worker(t).put((work, t))
                ln_worker_done(&_posted[t])   # the worker, if spinning, sees it
                started += 1
        work(T - 1)
        if _test_hook is not None:
            _test_hook("wait", 0)
    except BaseException as e:
        ln_set_stop(&tape.stop, 1)
        failure = e
    with nogil:
        ln_wait_workers(&tape.done, started)
    if failure is None and errors:
        failure = errors[0]
    if failure is not None:
        try:
            raise failure
        finally:
            failure = None
    return 0


# Worker threads, kept from call to call (starting one costs ~125 us here):
# per worker, the queue of (function, argument) it runs, in turn. Shared by
# every tape; calls from several threads queue up on them.
_workers = []
_workers_lock = threading.RLock()


cdef Py_ssize_t _posted[1024]        # per worker (MAX_THREADS - 1): shares handed to it
cdef long SPIN_ROUNDS = 200000         # ~100-200 us here


def _worker_loop(jobs, Py_ssize_t i):
    cdef Py_ssize_t seen = _posted[i]
    while True:
        with nogil:
            ln_spin_while(&_posted[i], seen, SPIN_ROUNDS)
        function, argument = jobs.get()
        seen += 1
        function(argument)            # it catches what it raises
        function = argument = None


def _worker(i):
    """The queue of worker ``i``, started on first use (without SIGINT, which
    stays with the main thread); raises what a failed start raises."""
    with _workers_lock:
        while len(_workers) <= i:
            jobs = SimpleQueue()
            mask = _block_interrupts()
            try:
                threading.Thread(target=_worker_loop, args=(jobs, len(_workers)), daemon=True,
                                 name=f"regrad-lanes-{len(_workers)}").start()
            finally:
                _unblock_interrupts(mask)
            _workers.append(jobs)
        return _workers[i]


def _after_fork_in_child():
    global _workers_lock              # a parent's thread may have held it at the fork
    _workers_lock = threading.RLock()
    _workers.clear()


if hasattr(os, "register_at_fork"):   # a forked child has none of the threads
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _block_interrupts():
    """Hold SIGINT back from this thread (and the threads it starts), where
    POSIX allows; returns the former mask."""
    if hasattr(signal, "pthread_sigmask"):
        return signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    return None


def _unblock_interrupts(mask):
    if mask is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)   # a held SIGINT comes now


cdef int _work(BatchTape tape, Py_ssize_t t, Py_ssize_t T, int mode, size_t src,
               size_t dst, Py_ssize_t N, size_t seed, size_t ig) except -1:
    """Thread t's share of a call: mode 0 forward; 1 backward, 2 step (their
    blocks in turn); 3 backward, 4 step with bitwise=False (lanes apart)."""
    cdef const double* rows = NULL       # step: the data's rows, and the losses' buffer
    cdef double* losses = NULL
    cdef const double* seeds = NULL      # backward: the weights, and the input grads
    cdef double* in_grads = NULL
    if mode % 2 == 0:
        rows = <const double*>src
        losses = <double*>ig
    else:
        seeds = <const double*>src
        in_grads = <double*>ig
    with nogil:
        if mode == 0:
            tape._forward_blocks(t, T, <const double*>src, <double*>dst, N)
        elif mode <= 2:
            tape._backward_blocks(t, T, (<double*>seed)[0], seeds, rows, <double*>dst, losses,
                                  in_grads, N)
        else:
            tape._apart(t, T, (<double*>seed)[0], seeds, rows, <double*>dst, losses, in_grads, N)
    return 0
