"""The replay tape's C declarations: its arrays are what ``regrad._lanes``
builds a batch program from (``Tape.unfused_op`` gives a slot's operator)."""
cimport cython
from cpython.ref cimport PyObject
from libc.stdint cimport int32_t, uint8_t

from regrad._core cimport Var, N_OPS, MUL, ADD
from regrad._graph cimport Pass, NodeVec

# Two op codes of the tape only: a product whose one consumer is the sum in
# the next slot (``acc + w*x``, the bulk of a neuron) runs as one step, its
# value kept in a register. The same kernels, in the same order. On the moons
# tape this made a step 1.4x faster (144 us instead of 205-216 us, measured
# with benchmarks/bench_replay.py when it was introduced).
# A run of such pairs where each sum adds to the previous one (a neuron's
# chain) keeps the running sum, and in backward its gradient, in a register
# rather than going through memory: forward 107 -> 73 us, backward 116 -> 98 us
# on the moons tape (the fastest of 600 calls each; see _forward, _backward).
cdef enum:
    MUL_THEN_ADD = N_OPS        # at the product's slot
    ADD_AFTER_MUL = N_OPS + 1   # at the sum's slot


@cython.final
cdef class Tape:
    # slots: the leaves (0 .. n_leaves-1), then the results, the root last;
    # past the n slots, one constant slot per Pow for its exponent
    cdef Py_ssize_t n
    cdef Py_ssize_t n_leaves
    cdef Py_ssize_t root_slot
    cdef uint8_t* op             # per slot: op code (LEAF for a leaf; see unfused_op)
    cdef int32_t* a              # per slot: first operand's slot
    cdef int32_t* b              # per slot: second operand's slot (Pow: its exponent's
                                 # constant slot); 0 for other one-input ops (read, unused)
    cdef double* val             # per slot: value of the last forward (or the recording);
                                 # then the exponents' constant slots
    cdef double* adj             # per slot: adjoint during backward, 0.0 between sweeps
    cdef unsigned long long* born   # per result (slot - n_leaves): its creation number,
                                    # read only once a forward has failed
    cdef PyObject** leaf         # per leaf slot: the leaf Var (owned reference)
    cdef int32_t* live           # the leaf slots forward() reads (see _freeze)
    cdef Py_ssize_t n_live
    cdef PyObject** table        # leaf Var -> slot, open addressing (for load())
    cdef int32_t* table_slot
    cdef size_t table_mask
    cdef PyObject** out          # output Vars (owned) and their slots
    cdef int32_t* out_slot
    cdef Py_ssize_t n_out
    cdef Var _root
    cdef bint started            # __init__ has begun: a tape records once

    cdef int _record(self, Var root, tuple outs, bint release) except -1
    cdef int _fill(self, Var root, Pass* seen, NodeVec* order, NodeVec* leaves) except -1
    cdef int _freeze(self, bint freeze) except -1
    cdef int _fuse(self) except -1
    cdef int _set_outputs(self, tuple outs, Pass* seen, Py_ssize_t n) except -1
    cdef int _build_table(self, NodeVec* leaves) except -1
    cdef Py_ssize_t _leaf_slot(self, PyObject* p) noexcept
    cdef int _forward(self) except -1
    cdef int _raise_first_failure(self) except -1
    cdef int _backward(self, double seed) except -1
    cdef int _check(self) except -1

    cdef inline uint8_t unfused_op(self, Py_ssize_t i) noexcept:
        """Slot ``i``'s operator, a product or a sum where the two run as one step."""
        if self.op[i] == MUL_THEN_ADD:
            return MUL
        return ADD if self.op[i] == ADD_AFTER_MUL else self.op[i]
