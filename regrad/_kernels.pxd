"""The compiled operator kernels: each operator's value and local derivatives,
as in ``regrad/ops.py`` and in the same floating-point order, so that the
compiled engine, the replay tape and the pure engine agree to the bit.

One case per op code, in the table's order, in each of the four kernels
(Cython turns each if/elif chain on the codes into a C ``switch``). An op
code without a case raises SystemError: it never falls into another
operator's formula. Shared by ``_core.pyx`` (the dynamic graph) and
``_replay.pyx`` (the tape). Value kernels raise what Python's ``float`` and
``math`` raise, through ``regrad.ops.math_error`` so the messages match the
pure engine's; derivatives follow IEEE arithmetic and never raise.
"""
cimport cython
from libc.math cimport exp, log, sqrt, sin, cos, tanh, pow, fabs, floor, isinf, isfinite

from regrad._core cimport (ADD, SUB, MUL, DIV, NEG, POW, EXP, LOG, SQRT, SIN, COS, TANH,
                           RELU, SIGMOID, ABS)


cdef inline int _raise(str op_name, str kind, double x, double y, bint binary) except -1:
    from regrad.ops import math_error   # the error path only
    raise (math_error(op_name, kind, x, y) if binary else math_error(op_name, kind, x))


cdef inline int _no_kernel(int op) except -1 with gil:
    raise SystemError(f"regrad: no compiled kernel for op code {op}")


@cython.cdivision(True)   # IEEE division: the one check needed is explicit
cdef inline double binary_value(int op, double x, double y) except? -1.0:
    """Add, Sub, Mul, Div."""
    if op == ADD:
        return x + y
    elif op == SUB:
        return x - y
    elif op == MUL:
        return x * y
    elif op == DIV:
        if y == 0.0:
            _raise("Div", "zero", x, y, True)
        return x / y
    _no_kernel(op)


@cython.cdivision(True)
cdef inline double unary_value(int op, double x, double p) except? -1.0:
    """Every operator of one input; ``p`` is Pow's exponent."""
    cdef double v
    if op == NEG:
        return -x
    elif op == POW:
        if x == 0.0 and p < 0.0 and isfinite(p):
            _raise("Pow", "zero", x, p, True)
        if x < 0.0 and isfinite(p) and p != floor(p):
            _raise("Pow", "domain", x, p, True)     # never a complex result
        v = pow(x, p)
        if isinf(v) and isfinite(x) and isfinite(p):
            _raise("Pow", "overflow", x, p, True)
        return v
    elif op == EXP:
        v = exp(x)
        if isinf(v) and not isinf(x):
            _raise("Exp", "overflow", x, 0.0, False)
        return v
    elif op == LOG:
        if x <= 0.0:
            _raise("Log", "domain", x, 0.0, False)
        return log(x)
    elif op == SQRT:
        if x < 0.0:
            _raise("Sqrt", "domain", x, 0.0, False)
        return sqrt(x)
    elif op == SIN:
        if isinf(x):
            _raise("Sin", "domain", x, 0.0, False)
        return sin(x)
    elif op == COS:
        if isinf(x):
            _raise("Cos", "domain", x, 0.0, False)
        return cos(x)
    elif op == TANH:
        return tanh(x)
    elif op == RELU:
        return 0.0 if x <= 0.0 else x            # NaN passes through
    elif op == SIGMOID:
        if x >= 0.0:                             # two forms so that exp never overflows
            return 1.0 / (1.0 + exp(-x))
        v = exp(x)
        return v / (1.0 + v)
    elif op == ABS:
        return fabs(x)
    _no_kernel(op)


@cython.cdivision(True)
cdef inline int binary_grads(int op, double g, double x, double y, double out,
                             double* ga, double* gb) except -1 nogil:
    """The gradients passed to the two inputs of Add, Sub, Mul, Div."""
    if op == ADD:
        ga[0] = g
        gb[0] = g
    elif op == SUB:
        ga[0] = g
        gb[0] = -g
    elif op == MUL:
        ga[0] = g * y
        gb[0] = g * x
    elif op == DIV:   # d(x/y)/dy = -(x/y)/y, which cannot overflow where y*y would
        ga[0] = g / y
        gb[0] = -g * (out / y)
    else:
        ga[0] = gb[0] = 0.0     # never read: the error propagates
        _no_kernel(op)
    return 0


@cython.cdivision(True)
cdef inline double unary_grad(int op, double g, double x, double out, double p) except? -1.0 nogil:
    """The gradient passed to the input of a one-input operator."""
    if op == NEG:
        return -g
    elif op == POW:
        return 0.0 if p == 0.0 else g * (p * pow(x, p - 1.0))   # constant at p == 0
    elif op == EXP:
        return g * out
    elif op == LOG:
        return g / x
    elif op == SQRT:
        return g * (0.5 / out)                   # inf at 0, as in PyTorch
    elif op == SIN:
        return g * cos(x)
    elif op == COS:
        return g * -sin(x)
    elif op == TANH:
        return g * (1.0 - out * out)
    elif op == RELU:
        return 0.0 if x <= 0.0 else g            # slope 0 at exactly 0; NaN passes g
    elif op == SIGMOID:
        return g * (out * (1.0 - out))
    elif op == ABS:
        return g if x > 0.0 else (-g if x < 0.0 else 0.0)   # slope 0 at 0
    _no_kernel(op)
    return 0.0
