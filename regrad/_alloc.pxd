"""The compiled modules' arrays: a size is checked before it is multiplied."""
from cpython.mem cimport PyMem_Malloc

cdef extern from "Python.h":
    const Py_ssize_t PY_SSIZE_T_MAX


cdef inline Py_ssize_t checked_product(Py_ssize_t a, Py_ssize_t b) except -1:
    """a * b (both >= 0), or MemoryError where it would not fit a Py_ssize_t."""
    if b and a > PY_SSIZE_T_MAX // b:
        raise MemoryError(f"regrad: more memory than this machine can address ({a} x {b})")
    return a * b


cdef inline void* alloc(Py_ssize_t count, size_t size, str what) except NULL:
    """An array of ``count`` items (at least one) of ``size`` bytes, for ``what``;
    MemoryError if there is no such memory, or too much to address."""
    cdef void* p = PyMem_Malloc(checked_product(count if count > 0 else 1, size))
    if p == NULL:
        raise MemoryError(f"regrad: no memory for {what}")
    return p
