# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: infer_types=False
"""The compiled steps of ``regrad.optim``: one C loop over a group's parameters.

A kernel holds its parameters as a C array of node pointers (owned
references) and their state as C arrays; ``step()`` reads and writes the
nodes' C fields, with no Python call per parameter. Each formula is the one
of the reference loop in ``regrad/optim.py``, operation for operation (the
module is built with ``-ffp-contract=off``: no fused multiply-add), so both
give the same bits. ``cdivision``: a division by zero gives IEEE's inf or
NaN, as the reference's ``_divide`` does.
"""
cimport cython
from cpython.ref cimport PyObject, Py_INCREF
from cpython.mem cimport PyMem_Malloc, PyMem_Free
from libc.math cimport sqrt, fabs, NAN
from libc.string cimport memset

from regrad._core cimport Var, LEAF, HAS_GRAD, leaf_grad, set_leaf_grad
cdef extern from "Python.h":
    void Py_DECREF(PyObject*)

__all__ = ["SGDKernel", "AdamKernel"]


cdef double* _zeros(Py_ssize_t n) except NULL:
    cdef double* p = <double*>PyMem_Malloc(n * sizeof(double))
    if p == NULL:
        raise MemoryError("regrad.optim: no memory for the optimizer's state")
    memset(p, 0, n * sizeof(double))   # all-zero bytes are 0.0
    return p


cdef class _Kernel:
    """A group's parameters: compiled leaf Vars, held in a C array."""
    cdef PyObject** nodes
    cdef Py_ssize_t n

    def __cinit__(self, params):
        params = list(params)
        cdef Py_ssize_t i, n = len(params)
        for p in params:
            # optim.py checks this already; checked again so that nothing can
            # put a result or a foreign object under the loop
            if type(p) is not Var or (<Var>p)._op != LEAF:
                raise TypeError("regrad._optim: parameters must be compiled leaf Vars")
        self.nodes = <PyObject**>PyMem_Malloc((n if n else 1) * sizeof(PyObject*))
        if self.nodes == NULL:
            raise MemoryError("regrad.optim: no memory for the parameters")
        for i in range(n):
            Py_INCREF(params[i])
            self.nodes[i] = <PyObject*>params[i]
        self.n = n

    def __dealloc__(self):
        cdef Py_ssize_t i
        if self.nodes != NULL:
            for i in range(self.n):
                Py_DECREF(self.nodes[i])
            PyMem_Free(self.nodes)

    def zero_grad(self, bint set_to_none):
        cdef Py_ssize_t i
        cdef Var p
        for i in range(self.n):
            p = <Var>self.nodes[i]
            if set_to_none:
                p._flags = p._flags & ~HAS_GRAD
                set_leaf_grad(<PyObject*>p, 0.0)
            elif p._flags & HAS_GRAD:
                set_leaf_grad(<PyObject*>p, 0.0)

    cdef inline Py_ssize_t _index(self, Py_ssize_t i) except -1:
        if not 0 <= i < self.n:
            raise IndexError(f"parameter index {i} out of range")
        return i


@cython.final
cdef class SGDKernel(_Kernel):
    """``SGD``'s step: see ``regrad.optim.SGD`` for the formulas."""
    cdef double* buf
    cdef unsigned char* has_buf    # 0 until the parameter's first step with momentum

    def __cinit__(self, params):
        self.buf = _zeros(self.n if self.n else 1)
        self.has_buf = <unsigned char*>PyMem_Malloc(self.n if self.n else 1)
        if self.has_buf == NULL:
            raise MemoryError("regrad.optim: no memory for the optimizer's state")
        memset(self.has_buf, 0, self.n)

    def __dealloc__(self):
        PyMem_Free(self.buf)
        PyMem_Free(self.has_buf)

    def step(self, double lr, double momentum, double dampening, double weight_decay,
             bint nesterov, bint maximize):
        cdef Py_ssize_t i
        cdef Var p
        cdef double g, b
        cdef double keep = 1 - dampening
        for i in range(self.n):
            p = <Var>self.nodes[i]
            if not p._flags & HAS_GRAD:
                continue
            g = leaf_grad(<PyObject*>p)   # (a leaf's gradient sits in _a)
            if maximize:
                g = -g
            if weight_decay != 0:
                g = g + weight_decay * p._val
            if momentum != 0:
                if self.has_buf[i]:
                    b = self.buf[i] * momentum + keep * g
                else:
                    b = g
                    self.has_buf[i] = 1
                self.buf[i] = b
                g = g + momentum * b if nesterov else b
            p._val = p._val - lr * g

    def get_state(self, Py_ssize_t i):
        i = self._index(i)
        return {"momentum_buffer": self.buf[i]} if self.has_buf[i] else None

    def set_state(self, Py_ssize_t i, state):
        i = self._index(i)
        if state:
            self.buf[i] = state["momentum_buffer"]
            self.has_buf[i] = 1
        else:
            self.buf[i] = 0.0
            self.has_buf[i] = 0


@cython.final
cdef class AdamKernel(_Kernel):
    """``Adam``'s step: see ``regrad.optim.Adam`` for the formulas."""
    cdef double* steps       # 0: no state yet
    cdef double* exp_avg
    cdef double* exp_avg_sq
    cdef double* max_exp_avg_sq

    def __cinit__(self, params):
        cdef Py_ssize_t n = self.n if self.n else 1
        self.steps = _zeros(n)
        self.exp_avg = _zeros(n)
        self.exp_avg_sq = _zeros(n)
        self.max_exp_avg_sq = _zeros(n)

    def __dealloc__(self):
        PyMem_Free(self.steps)
        PyMem_Free(self.exp_avg)
        PyMem_Free(self.exp_avg_sq)
        PyMem_Free(self.max_exp_avg_sq)

    def step(self, double lr, double beta1, double beta2, double eps, double weight_decay,
             bint amsgrad, bint maximize, bint decoupled, bias_corrections):
        cdef Py_ssize_t i
        cdef Var p
        cdef double g, t, m, v, denom
        cdef double step_size = 0, bias_correction2_sqrt = 1   # set at the first parameter
        cdef double weight = 1 - beta1
        cdef double last_t = 0     # the step count the bias corrections were computed for
        for i in range(self.n):
            p = <Var>self.nodes[i]
            if not p._flags & HAS_GRAD:
                continue
            g = leaf_grad(<PyObject*>p)   # (a leaf's gradient sits in _a)
            if maximize:
                g = -g
            t = self.steps[i] + 1.0
            self.steps[i] = t
            if weight_decay != 0:
                if decoupled:
                    p._val = p._val * (1 - lr * weight_decay)
                else:
                    g = g + weight_decay * p._val
            m = self.exp_avg[i]
            if fabs(weight) < 0.5:
                m = m + weight * (g - m)
            else:
                m = g - (g - m) * (1 - weight)
            self.exp_avg[i] = m
            v = self.exp_avg_sq[i] * beta2 + (1 - beta2) * g * g
            self.exp_avg_sq[i] = v
            if t != last_t:        # parameters usually share their count: pow is costly
                # regrad.optim's, in Python floats as PyTorch computes them
                step_size, bias_correction2_sqrt = bias_corrections(lr, beta1, beta2, t)
                last_t = t
            if amsgrad:
                v = _maximum(self.max_exp_avg_sq[i], v)
                self.max_exp_avg_sq[i] = v
            denom = sqrt(v) / bias_correction2_sqrt + eps
            p._val = p._val + (-step_size * m) / denom

    def get_state(self, Py_ssize_t i):
        i = self._index(i)
        if self.steps[i] == 0:
            return None
        return {"step": self.steps[i], "exp_avg": self.exp_avg[i],
                "exp_avg_sq": self.exp_avg_sq[i], "max_exp_avg_sq": self.max_exp_avg_sq[i]}

    def set_state(self, Py_ssize_t i, state):
        i = self._index(i)
        state = state or {}
        self.steps[i] = state.get("step", 0.0)
        self.exp_avg[i] = state.get("exp_avg", 0.0)
        self.exp_avg_sq[i] = state.get("exp_avg_sq", 0.0)
        self.max_exp_avg_sq[i] = state.get("max_exp_avg_sq", 0.0)


cdef inline double _maximum(double a, double b) noexcept:
    """``torch.maximum``: NaN if either is NaN (C's fmax would drop it)."""
    if a != a or b != b:
        return NAN
    return a if a > b else b
