"""The compiled operator kernels: each operator's value and local derivatives,
as in ``regrad/ops.py`` and in the same floating-point order, so that the
compiled engine, the replay tape and the pure engine agree to the bit.

Shared by ``_core.pyx`` (the dynamic graph) and ``_replay.pyx`` (the tape).
Value kernels raise what Python's ``float``/``math`` raise, through
``regrad.ops.math_error`` so the messages match the pure engine's.
"""
cimport cython
from libc.math cimport exp, log, sqrt, sin, cos, tanh, pow, fabs, floor, isinf, isfinite

from regrad._core cimport (ADD, SUB, MUL, DIV, NEG, POW, EXP, LOG, SQRT, SIN, COS, TANH,
                           RELU, SIGMOID, ABS)


cdef inline int _raise(str op_name, str kind, double x, double y, bint binary) except -1:
    from regrad.ops import math_error   # the error path only
    raise (math_error(op_name, kind, x, y) if binary else math_error(op_name, kind, x))


@cython.cdivision(True)   # IEEE division: the checks above are explicit
cdef inline double binary_value(int op, double x, double y) except? -1.0:
    """Add, Sub, Mul, Div."""
    if op == ADD:
        return x + y
    if op == SUB:
        return x - y
    if op == MUL:
        return x * y
    if y == 0.0:
        _raise("Div", "zero", x, y, True)
    return x / y


@cython.cdivision(True)
cdef inline double unary_value(int op, double x, double p) except? -1.0:
    """Every operator of one input; ``p`` is Pow's exponent."""
    cdef double v
    if op == NEG:
        return -x
    if op == POW:
        if x == 0.0 and p < 0.0 and isfinite(p):
            _raise("Pow", "zero", x, p, True)
        if x < 0.0 and isfinite(p) and p != floor(p):
            _raise("Pow", "domain", x, p, True)     # never a complex result
        v = pow(x, p)
        if isinf(v) and isfinite(x) and isfinite(p):
            _raise("Pow", "overflow", x, p, True)
        return v
    if op == EXP:
        v = exp(x)
        if isinf(v) and not isinf(x):
            _raise("Exp", "overflow", x, 0.0, False)
        return v
    if op == LOG:
        if x <= 0.0:
            _raise("Log", "domain", x, 0.0, False)
        return log(x)
    if op == SQRT:
        if x < 0.0:
            _raise("Sqrt", "domain", x, 0.0, False)
        return sqrt(x)
    if op == SIN:
        if isinf(x):
            _raise("Sin", "domain", x, 0.0, False)
        return sin(x)
    if op == COS:
        if isinf(x):
            _raise("Cos", "domain", x, 0.0, False)
        return cos(x)
    if op == TANH:
        return tanh(x)
    if op == RELU:
        return 0.0 if x <= 0.0 else x            # NaN passes through
    if op == SIGMOID:
        if x >= 0.0:                             # two forms so that exp never overflows
            return 1.0 / (1.0 + exp(-x))
        v = exp(x)
        return v / (1.0 + v)
    return fabs(x)                               # ABS


@cython.cdivision(True)
cdef inline void binary_grads(int op, double g, double x, double y, double out,
                              double* ga, double* gb) noexcept nogil:
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
    else:  # DIV: d(x/y)/dy = -(x/y)/y, which cannot overflow where y*y would
        ga[0] = g / y
        gb[0] = -g * (out / y)


@cython.cdivision(True)
cdef inline double unary_grad(int op, double g, double x, double out, double p) noexcept nogil:
    """The gradient passed to the input of a one-input operator."""
    if op == NEG:
        return -g
    if op == POW:
        return 0.0 if p == 0.0 else g * (p * pow(x, p - 1.0))   # constant at p == 0
    if op == EXP:
        return g * out
    if op == LOG:
        return g / x
    if op == SQRT:
        return g * (0.5 / out)                   # inf at 0, as in PyTorch
    if op == SIN:
        return g * cos(x)
    if op == COS:
        return g * -sin(x)
    if op == TANH:
        return g * (1.0 - out * out)
    if op == RELU:
        return 0.0 if x <= 0.0 else g            # slope 0 at exactly 0; NaN passes g
    if op == SIGMOID:
        return g * (out * (1.0 - out))
    return g if x > 0.0 else (-g if x < 0.0 else 0.0)   # ABS
