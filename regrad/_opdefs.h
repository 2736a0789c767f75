/* Each operator's value and local derivatives, written once for every compiled
 * path: the dynamic engine and replay (regrad/_kernels.pxd, through rg_value
 * and the other switches at the end of this file) and the lanes
 * (regrad/_lanes.h, one call per lane, inlined into loops the compiler
 * vectorizes). The formulas are those of regrad/ops.py in the same
 * floating-point order, so every path gives the pure engine's bits; files that
 * include this one are compiled without FMA contraction (-ffp-contract=off).
 *
 * Every operator has the functions its arity asks for, named after it (the
 * lists of regrad/_opcodes.h call them, so a missing one fails the build):
 *   one input:  rg_<op>_value(x, p, flag) and rg_<op>_grad(g, x, out, p),
 *               p being Pow's exponent (unused by the others);
 *   two inputs: rg_<op>_value(x, y, flag), rg_<op>_grad_x and rg_<op>_grad_y
 *               (g, x, y, out).
 * g is the output's gradient, out the output's value. A value whose input is
 * out of the operator's domain sets *flag to the error Python's float and math
 * would raise (RG_ZERO, RG_DOMAIN, RG_OVERFLOW; the caller starts it at RG_OK)
 * and never raises itself: the dynamic engine raises from it, the lanes flag
 * the block. Derivatives follow IEEE arithmetic.
 */
#ifndef REGRAD_OPDEFS_H
#define REGRAD_OPDEFS_H

#include <math.h>

#include "_opcodes.h"

/* RG_NO_KERNEL: an op code no switch below knows */
enum { RG_OK = 0, RG_ZERO = 1, RG_DOMAIN = 2, RG_OVERFLOW = 3, RG_NO_KERNEL = 4 };

#define RG_INLINE static inline

/* Add */
RG_INLINE double rg_add_value(double x, double y, int* flag) { return x + y; }
RG_INLINE double rg_add_grad_x(double g, double x, double y, double out) { return g; }
RG_INLINE double rg_add_grad_y(double g, double x, double y, double out) { return g; }

/* Sub */
RG_INLINE double rg_sub_value(double x, double y, int* flag) { return x - y; }
RG_INLINE double rg_sub_grad_x(double g, double x, double y, double out) { return g; }
RG_INLINE double rg_sub_grad_y(double g, double x, double y, double out) { return -g; }

/* Mul */
RG_INLINE double rg_mul_value(double x, double y, int* flag) { return x * y; }
RG_INLINE double rg_mul_grad_x(double g, double x, double y, double out) { return g * y; }
RG_INLINE double rg_mul_grad_y(double g, double x, double y, double out) { return g * x; }

/* Div: d(x/y)/dy = -(x/y)/y, which cannot overflow where y*y would */
RG_INLINE double rg_div_value(double x, double y, int* flag)
{
    *flag = (y == 0.0) ? RG_ZERO : RG_OK;
    return x / y;
}
RG_INLINE double rg_div_grad_x(double g, double x, double y, double out) { return g / y; }
RG_INLINE double rg_div_grad_y(double g, double x, double y, double out) { return -g * (out / y); }

/* Neg */
RG_INLINE double rg_neg_value(double x, double p, int* flag) { return -x; }
RG_INLINE double rg_neg_grad(double g, double x, double out, double p) { return -g; }

/* Pow (x ** p, p a constant): never a complex result; constant at p == 0 */
RG_INLINE double rg_pow_value(double x, double p, int* flag)
{
    double v = pow(x, p);
    *flag = (x == 0.0 && p < 0.0 && isfinite(p)) ? RG_ZERO
            : (x < 0.0 && isfinite(p) && p != floor(p)) ? RG_DOMAIN
            : (isinf(v) && isfinite(x) && isfinite(p)) ? RG_OVERFLOW : RG_OK;
    return v;
}
RG_INLINE double rg_pow_grad(double g, double x, double out, double p)
{
    return p == 0.0 ? 0.0 : g * (p * pow(x, p - 1.0));
}

/* Exp */
RG_INLINE double rg_exp_value(double x, double p, int* flag)
{
    double v = exp(x);
    *flag = (isinf(v) && !isinf(x)) ? RG_OVERFLOW : RG_OK;
    return v;
}
RG_INLINE double rg_exp_grad(double g, double x, double out, double p) { return g * out; }

/* Log */
RG_INLINE double rg_log_value(double x, double p, int* flag)
{
    *flag = (x <= 0.0) ? RG_DOMAIN : RG_OK;
    return log(x);
}
RG_INLINE double rg_log_grad(double g, double x, double out, double p) { return g / x; }

/* Sqrt: the derivative is inf at 0, as in PyTorch */
RG_INLINE double rg_sqrt_value(double x, double p, int* flag)
{
    *flag = (x < 0.0) ? RG_DOMAIN : RG_OK;
    return sqrt(x);
}
RG_INLINE double rg_sqrt_grad(double g, double x, double out, double p) { return g * (0.5 / out); }

/* Sin */
RG_INLINE double rg_sin_value(double x, double p, int* flag)
{
    *flag = isinf(x) ? RG_DOMAIN : RG_OK;
    return sin(x);
}
RG_INLINE double rg_sin_grad(double g, double x, double out, double p) { return g * cos(x); }

/* Cos */
RG_INLINE double rg_cos_value(double x, double p, int* flag)
{
    *flag = isinf(x) ? RG_DOMAIN : RG_OK;
    return cos(x);
}
RG_INLINE double rg_cos_grad(double g, double x, double out, double p) { return g * -sin(x); }

/* Tanh */
RG_INLINE double rg_tanh_value(double x, double p, int* flag) { return tanh(x); }
RG_INLINE double rg_tanh_grad(double g, double x, double out, double p)
{
    return g * (1.0 - out * out);
}

/* ReLU: NaN passes through; slope 0 at exactly 0 */
RG_INLINE double rg_relu_value(double x, double p, int* flag) { return x <= 0.0 ? 0.0 : x; }
RG_INLINE double rg_relu_grad(double g, double x, double out, double p)
{
    return x <= 0.0 ? 0.0 : g;
}

/* Sigmoid: two forms so that exp never overflows */
RG_INLINE double rg_sigmoid_value(double x, double p, int* flag)
{
    double v;
    if (x >= 0.0)
        return 1.0 / (1.0 + exp(-x));
    v = exp(x);
    return v / (1.0 + v);
}
RG_INLINE double rg_sigmoid_grad(double g, double x, double out, double p)
{
    return g * (out * (1.0 - out));
}

/* Abs: slope 0 at 0 */
RG_INLINE double rg_abs_value(double x, double p, int* flag) { return fabs(x); }
RG_INLINE double rg_abs_grad(double g, double x, double out, double p)
{
    return x > 0.0 ? g : (x < 0.0 ? -g : 0.0);
}

/* The switches on the op code, one case per operator of _opcodes.h's lists,
 * for the dynamic engine and replay (regrad/_kernels.pxd). */
#define RG_VALUE_CASE(CODE, OP) case CODE: return OP##_value(x, y, flag);
#define RG_GRAD_CASE(CODE, OP) case CODE: return OP##_grad(g, x, out, p);
#define RG_GRADS_CASE(CODE, OP) \
    case CODE: *gx = OP##_grad_x(g, x, y, out); *gy = OP##_grad_y(g, x, y, out); return;

/* The value of any operator; y is the second input, or Pow's exponent. */
RG_INLINE double rg_value(int op, double x, double y, int* flag)
{
    switch (op) {
    RG_BINARY_OPS(RG_VALUE_CASE)
    RG_UNARY_OPS(RG_VALUE_CASE)
    }
    *flag = RG_NO_KERNEL;
    return 0.0;
}

/* The gradient passed to the input of a one-input operator */
RG_INLINE double rg_grad(int op, double g, double x, double out, double p, int* flag)
{
    switch (op) {
    RG_UNARY_OPS(RG_GRAD_CASE)
    }
    *flag = RG_NO_KERNEL;
    return 0.0;
}

/* The gradients passed to the two inputs of a two-input operator */
RG_INLINE void rg_grads(int op, double g, double x, double y, double out, double* gx,
                        double* gy, int* flag)
{
    switch (op) {
    RG_BINARY_OPS(RG_GRADS_CASE)
    }
    *gx = *gy = 0.0;
    *flag = RG_NO_KERNEL;
}

#endif
