"""The compiled operator kernels: a switch on the op code calling each
operator's value and local derivatives from ``regrad/_opdefs.h`` (the
formulas the lanes use too), so that the compiled engine, the replay tape,
the lanes and the pure engine agree to the bit.

One case per op code, in the table's order, in each of the four kernels
(Cython turns each if/elif chain on the codes into a C ``switch``). An op
code without a case raises SystemError: it never falls into another
operator's formula. Shared by ``_core.pyx`` (the dynamic graph) and
``_replay.pyx`` (the tape). Value kernels raise what Python's ``float`` and
``math`` raise, through ``regrad.ops.math_error`` so the messages match the
pure engine's; derivatives follow IEEE arithmetic and never raise.
"""
cimport cython

from regrad._core cimport (ADD, SUB, MUL, DIV, NEG, POW, EXP, LOG, SQRT, SIN, COS, TANH,
                           RELU, SIGMOID, ABS)


cdef extern from "_opdefs.h" nogil:
    enum:
        RG_OK, RG_ZERO, RG_DOMAIN, RG_OVERFLOW
    double rg_add_value(double x, double y)
    double rg_add_grad_x(double g, double x, double y, double out)
    double rg_add_grad_y(double g, double x, double y, double out)
    double rg_sub_value(double x, double y)
    double rg_sub_grad_x(double g, double x, double y, double out)
    double rg_sub_grad_y(double g, double x, double y, double out)
    double rg_mul_value(double x, double y)
    double rg_mul_grad_x(double g, double x, double y, double out)
    double rg_mul_grad_y(double g, double x, double y, double out)
    double rg_div_value(double x, double y, int* flag)
    double rg_div_grad_x(double g, double x, double y, double out)
    double rg_div_grad_y(double g, double x, double y, double out)
    double rg_neg_value(double x)
    double rg_neg_grad(double g, double x, double out, double p)
    double rg_pow_value(double x, double p, int* flag)
    double rg_pow_grad(double g, double x, double out, double p)
    double rg_exp_value(double x, int* flag)
    double rg_exp_grad(double g, double x, double out, double p)
    double rg_log_value(double x, int* flag)
    double rg_log_grad(double g, double x, double out, double p)
    double rg_sqrt_value(double x, int* flag)
    double rg_sqrt_grad(double g, double x, double out, double p)
    double rg_sin_value(double x, int* flag)
    double rg_sin_grad(double g, double x, double out, double p)
    double rg_cos_value(double x, int* flag)
    double rg_cos_grad(double g, double x, double out, double p)
    double rg_tanh_value(double x)
    double rg_tanh_grad(double g, double x, double out, double p)
    double rg_relu_value(double x)
    double rg_relu_grad(double g, double x, double out, double p)
    double rg_sigmoid_value(double x)
    double rg_sigmoid_grad(double g, double x, double out, double p)
    double rg_abs_value(double x)
    double rg_abs_grad(double g, double x, double out, double p)


cdef inline int _raise(str op_name, int flag, double x, double y, bint binary) except -1:
    from regrad.ops import math_error   # the error path only
    kind = "zero" if flag == RG_ZERO else ("domain" if flag == RG_DOMAIN else "overflow")
    raise (math_error(op_name, kind, x, y) if binary else math_error(op_name, kind, x))


cdef inline int _no_kernel(int op) except -1 with gil:
    raise SystemError(f"regrad: no compiled kernel for op code {op}")


cdef inline double binary_value(int op, double x, double y) except? -1.0:
    """Add, Sub, Mul, Div."""
    cdef int flag = RG_OK
    cdef double v
    if op == ADD:
        return rg_add_value(x, y)
    elif op == SUB:
        return rg_sub_value(x, y)
    elif op == MUL:
        return rg_mul_value(x, y)
    elif op == DIV:
        v = rg_div_value(x, y, &flag)
        if flag:
            _raise("Div", flag, x, y, True)
        return v
    _no_kernel(op)


cdef inline double unary_value(int op, double x, double p) except? -1.0:
    """Every operator of one input; ``p`` is Pow's exponent."""
    cdef int flag = RG_OK
    cdef double v
    if op == NEG:
        return rg_neg_value(x)
    elif op == POW:
        v = rg_pow_value(x, p, &flag)
        if flag:
            _raise("Pow", flag, x, p, True)
        return v
    elif op == EXP:
        v = rg_exp_value(x, &flag)
        if flag:
            _raise("Exp", flag, x, 0.0, False)
        return v
    elif op == LOG:
        v = rg_log_value(x, &flag)
        if flag:
            _raise("Log", flag, x, 0.0, False)
        return v
    elif op == SQRT:
        v = rg_sqrt_value(x, &flag)
        if flag:
            _raise("Sqrt", flag, x, 0.0, False)
        return v
    elif op == SIN:
        v = rg_sin_value(x, &flag)
        if flag:
            _raise("Sin", flag, x, 0.0, False)
        return v
    elif op == COS:
        v = rg_cos_value(x, &flag)
        if flag:
            _raise("Cos", flag, x, 0.0, False)
        return v
    elif op == TANH:
        return rg_tanh_value(x)
    elif op == RELU:
        return rg_relu_value(x)
    elif op == SIGMOID:
        return rg_sigmoid_value(x)
    elif op == ABS:
        return rg_abs_value(x)
    _no_kernel(op)


cdef inline int binary_grads(int op, double g, double x, double y, double out,
                             double* ga, double* gb) except -1 nogil:
    """The gradients passed to the two inputs of Add, Sub, Mul, Div."""
    if op == ADD:
        ga[0] = rg_add_grad_x(g, x, y, out)
        gb[0] = rg_add_grad_y(g, x, y, out)
    elif op == SUB:
        ga[0] = rg_sub_grad_x(g, x, y, out)
        gb[0] = rg_sub_grad_y(g, x, y, out)
    elif op == MUL:
        ga[0] = rg_mul_grad_x(g, x, y, out)
        gb[0] = rg_mul_grad_y(g, x, y, out)
    elif op == DIV:
        ga[0] = rg_div_grad_x(g, x, y, out)
        gb[0] = rg_div_grad_y(g, x, y, out)
    else:
        ga[0] = gb[0] = 0.0     # never read: the error propagates
        _no_kernel(op)
    return 0


cdef inline double unary_grad(int op, double g, double x, double out, double p) except? -1.0 nogil:
    """The gradient passed to the input of a one-input operator."""
    if op == NEG:
        return rg_neg_grad(g, x, out, p)
    elif op == POW:
        return rg_pow_grad(g, x, out, p)
    elif op == EXP:
        return rg_exp_grad(g, x, out, p)
    elif op == LOG:
        return rg_log_grad(g, x, out, p)
    elif op == SQRT:
        return rg_sqrt_grad(g, x, out, p)
    elif op == SIN:
        return rg_sin_grad(g, x, out, p)
    elif op == COS:
        return rg_cos_grad(g, x, out, p)
    elif op == TANH:
        return rg_tanh_grad(g, x, out, p)
    elif op == RELU:
        return rg_relu_grad(g, x, out, p)
    elif op == SIGMOID:
        return rg_sigmoid_grad(g, x, out, p)
    elif op == ABS:
        return rg_abs_grad(g, x, out, p)
    _no_kernel(op)
    return 0.0
