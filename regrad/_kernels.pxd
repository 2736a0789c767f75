"""The compiled operator kernels: each operator's value and local derivatives
from ``regrad/_opdefs.h`` (the formulas the lanes use too), through its
switches on the op code, so that the compiled engine, the replay tape, the
lanes and the pure engine agree to the bit.

The switches have one case per operator of ``regrad/_opcodes.h``'s lists,
which are written from the table; an op code without one raises SystemError:
it never falls into another operator's formula. Shared by ``_core.pyx`` (the
dynamic graph) and ``_replay.pyx`` (the tape). Value kernels raise what
Python's ``float`` and ``math`` raise, through ``regrad.ops.math_error`` so the
messages match the pure engine's; derivatives follow IEEE arithmetic and
never raise.
"""
cdef extern from "_opdefs.h" nogil:
    enum:
        RG_OK, RG_ZERO, RG_DOMAIN, RG_OVERFLOW, RG_NO_KERNEL
    double rg_value(int op, double x, double y, int* flag)
    double rg_grad(int op, double g, double x, double out, double p, int* flag)
    void rg_grads(int op, double g, double x, double y, double out, double* gx, double* gy,
                  int* flag)


cdef inline int _raise(int code, int flag, double x, double y) except -1 with gil:
    from regrad.ops import OPS_BY_CODE, math_error   # the error path only
    if flag == RG_NO_KERNEL:
        raise SystemError(f"regrad: no compiled kernel for op code {code}")
    op = OPS_BY_CODE[code]
    kind = "zero" if flag == RG_ZERO else ("domain" if flag == RG_DOMAIN else "overflow")
    if op.arity == 2 or isinstance(op, type):   # Pow, a class, takes its exponent y
        raise math_error(op.name, kind, x, y)
    raise math_error(op.name, kind, x)


cdef inline double binary_value(int op, double x, double y) except? -1.0:
    """The value of an operator of two inputs."""
    cdef int flag = RG_OK
    cdef double v = rg_value(op, x, y, &flag)
    if flag:
        _raise(op, flag, x, y)
    return v


cdef inline double unary_value(int op, double x, double p) except? -1.0:
    """The value of an operator of one input; ``p`` is Pow's exponent."""
    cdef int flag = RG_OK
    cdef double v = rg_value(op, x, p, &flag)
    if flag:
        _raise(op, flag, x, p)
    return v


cdef inline int binary_grads(int op, double g, double x, double y, double out,
                             double* ga, double* gb) except -1 nogil:
    """The gradients passed to the two inputs of an operator of two inputs."""
    cdef int flag = RG_OK
    rg_grads(op, g, x, y, out, ga, gb, &flag)
    if flag:
        _raise(op, flag, x, y)
    return 0


cdef inline double unary_grad(int op, double g, double x, double out, double p) except? -1.0 nogil:
    """The gradient passed to the input of an operator of one input."""
    cdef int flag = RG_OK
    cdef double v = rg_grad(op, g, x, out, p, &flag)
    if flag:
        _raise(op, flag, x, p)
    return v
