/* The loops of the compiled batch tape (regrad/_lanes.pyx): one sample's
 * graph run over a block of lanes, one instruction at a time, each
 * instruction a plain loop over the lanes that the C compiler vectorizes.
 *
 * Values: V[slot * B + l] for lane l (0 <= l < n <= B) of a lane slot (an
 * input or a result); scalars (parameters, constants): S[index]. The formulas
 * are those of regrad/_kernels.pxd, in the same floating-point order, so each
 * lane gets the dynamic engine's bits; this file is compiled without FMA
 * contraction (-ffp-contract=off) so that no compiler fuses them. Value
 * kernels that raise in the dynamic engine only count the lanes that would
 * raise here; the caller re-runs such a block through the raising kernels.
 */
#ifndef REGRAD_LANES_H
#define REGRAD_LANES_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* the op codes of regrad/_core.pxd, and the fused product-then-sum */
enum { LN_ADD = 1, LN_SUB, LN_MUL, LN_DIV, LN_NEG, LN_POW, LN_EXP, LN_LOG, LN_SQRT, LN_SIN,
       LN_COS, LN_TANH, LN_RELU, LN_SIGMOID, LN_ABS, LN_FMA = 16 };

/* kind bits: which operands are lane slots (else scalar indexes) */
enum { LN_A = 1, LN_B = 2, LN_C = 4 };

typedef struct {
    int32_t op;
    int32_t kind;
    int32_t out;          /* lane slot of the result */
    int32_t a, b, c;      /* FMA: out = a + b*c, as Add(a, Mul(b, c)) */
    int32_t ua, ub, uc;   /* a shared parameter operand: its use (column of the
                             contributions), in the order backward meets them; else -1 */
    int32_t pad;
    double p;             /* Pow's exponent */
} ln_instr;

/* Runtime dispatch: an AVX2 clone beside the baseline one where the compiler
 * and the C library support it (no FMA: it would change the bits). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) \
    && !defined(REGRAD_NO_CLONES)
#define LN_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define LN_CLONES
#endif

#define LN_LOOP(BODY) for (l = 0; l < n; l++) { BODY }
#define LN_USED(V) (void)(V);

/* x, y per lane for each combination of lane and scalar operands */
#define LN_BINARY(EXPR)                                                                  \
    switch (in->kind & 3) {                                                              \
    case 3: LN_LOOP(double x = xa[l]; double y = xb[l]; o[l] = (EXPR);) break;          \
    case 1: LN_LOOP(double x = xa[l]; double y = sb; o[l] = (EXPR);) break;             \
    case 2: LN_LOOP(double x = sa; double y = xb[l]; o[l] = (EXPR);) break;             \
    default: LN_LOOP(double x = sa; double y = sb; o[l] = (EXPR);) break;               \
    }

#define LN_UNARY(EXPR)                                                                   \
    if (in->kind & LN_A) { LN_LOOP(double x = xa[l]; o[l] = (EXPR);) }                   \
    else { LN_LOOP(double x = sa; o[l] = (EXPR);) }

/* one instruction whose formula has a domain check: count the bad lanes */
#define LN_UNARY_CHECKED(BAD, EXPR)                                                      \
    if (in->kind & LN_A) { LN_LOOP(double x = xa[l]; bad += (BAD); o[l] = (EXPR);) }     \
    else { LN_LOOP(double x = sa; bad += (BAD); o[l] = (EXPR);) }

static inline double ln_sigmoid(double x) {
    double v;
    if (x >= 0.0)
        return 1.0 / (1.0 + exp(-x));
    v = exp(x);
    return v / (1.0 + v);
}

static inline int ln_pow_bad(double x, double p, double v) {
    return (x == 0.0 && p < 0.0 && isfinite(p)) || (x < 0.0 && isfinite(p) && p != floor(p))
           || (isinf(v) && isfinite(x) && isfinite(p));
}

/* Forward over lanes 0..n-1 of a block; returns the number of lane values
 * that the dynamic engine would have refused (0: all good). */
LN_CLONES
static Py_ssize_t ln_forward(const ln_instr* prog, Py_ssize_t n_ins, double* V, const double* S,
                             Py_ssize_t B, Py_ssize_t n)
{
    Py_ssize_t i, l, bad = 0;
    for (i = 0; i < n_ins; i++) {
        const ln_instr* in = prog + i;
        double* o = V + (Py_ssize_t)in->out * B;
        const double* xa = (in->kind & LN_A) ? V + (Py_ssize_t)in->a * B : NULL;
        const double* xb = (in->kind & LN_B) ? V + (Py_ssize_t)in->b * B : NULL;
        const double* xc = (in->kind & LN_C) ? V + (Py_ssize_t)in->c * B : NULL;
        double sa = (in->kind & LN_A) ? 0.0 : S[in->a];
        double sb = (in->kind & LN_B) ? 0.0 : S[in->b];
        double sc = (in->kind & LN_C) ? 0.0 : S[in->c];
        double p = in->p;
        switch (in->op) {
        case LN_FMA:      /* acc + b*c: the product rounded, then the sum */
            switch (in->kind) {
            case LN_A | LN_C: LN_LOOP(double m = sb * xc[l]; o[l] = xa[l] + m;) break;
            case LN_C: LN_LOOP(double m = sb * xc[l]; o[l] = sa + m;) break;
            case LN_A | LN_B: LN_LOOP(double m = xb[l] * sc; o[l] = xa[l] + m;) break;
            case LN_B: LN_LOOP(double m = xb[l] * sc; o[l] = sa + m;) break;
            case LN_A | LN_B | LN_C: LN_LOOP(double m = xb[l] * xc[l]; o[l] = xa[l] + m;) break;
            default: LN_LOOP(double m = xb[l] * xc[l]; o[l] = sa + m;) break;
            }
            break;
        case LN_ADD: LN_BINARY(x + y) break;
        case LN_SUB: LN_BINARY(x - y) break;
        case LN_MUL: LN_BINARY(x * y) break;
        case LN_DIV:
            switch (in->kind & 3) {
            case 3: LN_LOOP(double y = xb[l]; bad += (y == 0.0); o[l] = xa[l] / y;) break;
            case 1: LN_LOOP(bad += (sb == 0.0); o[l] = xa[l] / sb;) break;
            case 2: LN_LOOP(double y = xb[l]; bad += (y == 0.0); o[l] = sa / y;) break;
            default: LN_LOOP(bad += (sb == 0.0); o[l] = sa / sb;) break;
            }
            break;
        case LN_NEG: LN_UNARY(-x) break;
        case LN_POW:
            if (in->kind & LN_A) {
                LN_LOOP(double x = xa[l]; double v = pow(x, p); bad += ln_pow_bad(x, p, v); o[l] = v;)
            } else {
                LN_LOOP(double v = pow(sa, p); bad += ln_pow_bad(sa, p, v); o[l] = v;)
            }
            break;
        case LN_EXP:
            if (in->kind & LN_A) {
                LN_LOOP(double x = xa[l]; double v = exp(x); bad += (isinf(v) && !isinf(x)); o[l] = v;)
            } else {
                LN_LOOP(double v = exp(sa); bad += (isinf(v) && !isinf(sa)); o[l] = v;)
            }
            break;
        case LN_LOG: LN_UNARY_CHECKED(x <= 0.0, log(x)) break;
        case LN_SQRT: LN_UNARY_CHECKED(x < 0.0, sqrt(x)) break;
        case LN_SIN: LN_UNARY_CHECKED(isinf(x), sin(x)) break;
        case LN_COS: LN_UNARY_CHECKED(isinf(x), cos(x)) break;
        case LN_TANH: LN_UNARY(tanh(x)) break;
        case LN_RELU: LN_UNARY(x <= 0.0 ? 0.0 : x) break;     /* NaN passes through */
        case LN_SIGMOID: LN_UNARY(ln_sigmoid(x)) break;
        default: LN_UNARY(fabs(x)) break;                     /* ABS */
        }
    }
    return bad;
}

/* Where an operand's gradient goes: its lane adjoints, or (a shared
 * parameter) column u of the contributions C[l * U + u], or nowhere (a constant). */
#define LN_SEND(KIND_BIT, G, U_IDX, VALUE)                                               \
    if (in->kind & KIND_BIT) G[l] += (VALUE);                                            \
    else if (U_IDX >= 0) C[l * U + U_IDX] = (VALUE);

#define LN_BINARY_GRAD(GA, GB)                                                           \
    switch (in->kind & 3) {                                                              \
    case 3: LN_LOOP(double g = go[l]; double x = xa[l]; double y = xb[l];               \
                    ga_[l] += (GA); gb_[l] += (GB); LN_USED(x) LN_USED(y)) break;                              \
    case 1: LN_LOOP(double g = go[l]; double x = xa[l]; double y = sb;                  \
                    ga_[l] += (GA); if (ub >= 0) C[l * U + ub] = (GB); LN_USED(x) LN_USED(y)) break;           \
    case 2: LN_LOOP(double g = go[l]; double x = sa; double y = xb[l];                  \
                    if (ua >= 0) C[l * U + ua] = (GA); gb_[l] += (GB); LN_USED(x) LN_USED(y)) break;           \
    default: LN_LOOP(double g = go[l]; double x = sa; double y = sb;                    \
                     if (ua >= 0) C[l * U + ua] = (GA); if (ub >= 0) C[l * U + ub] = (GB);   \
                     LN_USED(x) LN_USED(y)) \
             break;                                                                      \
    }

#define LN_UNARY_GRAD(GA)                                                                \
    if (in->kind & LN_A) { LN_LOOP(double g = go[l]; double x = xa[l]; double out = xo[l]; \
                                   ga_[l] += (GA); LN_USED(x) LN_USED(out)) }                                    \
    else if (ua >= 0) { LN_LOOP(double g = go[l]; double x = sa; double out = xo[l];     \
                                C[l * U + ua] = (GA); LN_USED(x) LN_USED(out)) }

/* Backward over lanes 0..n-1 of a block, the instructions last to first, as
 * the replay tape's sweep: G holds the lane adjoints (zero but the root's
 * seeds), C gets each shared parameter use's contribution per lane. */
LN_CLONES
static void ln_backward(const ln_instr* prog, Py_ssize_t n_ins, const double* V, double* G,
                        const double* S, Py_ssize_t B, Py_ssize_t n, double* C, Py_ssize_t U)
{
    Py_ssize_t i, l;
    for (i = n_ins - 1; i >= 0; i--) {
        const ln_instr* in = prog + i;
        const double* go = G + (Py_ssize_t)in->out * B;
        const double* xo = V + (Py_ssize_t)in->out * B;
        const double* xa = (in->kind & LN_A) ? V + (Py_ssize_t)in->a * B : NULL;
        const double* xb = (in->kind & LN_B) ? V + (Py_ssize_t)in->b * B : NULL;
        const double* xc = (in->kind & LN_C) ? V + (Py_ssize_t)in->c * B : NULL;
        double* ga_ = (in->kind & LN_A) ? G + (Py_ssize_t)in->a * B : NULL;
        double* gb_ = (in->kind & LN_B) ? G + (Py_ssize_t)in->b * B : NULL;
        double* gc_ = (in->kind & LN_C) ? G + (Py_ssize_t)in->c * B : NULL;
        double sa = (in->kind & LN_A) ? 0.0 : S[in->a];
        double sb = (in->kind & LN_B) ? 0.0 : S[in->b];
        double sc = (in->kind & LN_C) ? 0.0 : S[in->c];
        Py_ssize_t ua = in->ua, ub = in->ub, uc = in->uc;
        double p = in->p;
        switch (in->op) {
        case LN_FMA:
            /* the sum passes g to acc; the product's adjoint is 0.0 + g (its one
               consumer), then Mul's gradients: m*c to b, m*b to c */
            switch (in->kind) {
            case LN_A | LN_C:
                LN_LOOP(double g = go[l]; double m = 0.0 + g; ga_[l] += g;
                        if (ub >= 0) C[l * U + ub] = m * xc[l];
                        gc_[l] += m * sb;)
                break;
            case LN_C:
                LN_LOOP(double g = go[l]; double m = 0.0 + g;
                        if (ua >= 0) C[l * U + ua] = g;
                        if (ub >= 0) C[l * U + ub] = m * xc[l];
                        gc_[l] += m * sb;)
                break;
            default:
                LN_LOOP(double g = go[l]; double m = 0.0 + g;
                        double bv = (in->kind & LN_B) ? xb[l] : sb;
                        double cv = (in->kind & LN_C) ? xc[l] : sc;
                        LN_SEND(LN_A, ga_, ua, g)
                        LN_SEND(LN_B, gb_, ub, m * cv)
                        LN_SEND(LN_C, gc_, uc, m * bv))
                break;
            }
            break;
        case LN_ADD: LN_BINARY_GRAD(g, g) break;
        case LN_SUB: LN_BINARY_GRAD(g, -g) break;
        case LN_MUL: LN_BINARY_GRAD(g * y, g * x) break;
        case LN_DIV:
            switch (in->kind & 3) {
            case 3: LN_LOOP(double g = go[l]; double y = xb[l];
                            ga_[l] += g / y; gb_[l] += -g * (xo[l] / y);) break;
            case 1: LN_LOOP(double g = go[l];
                            ga_[l] += g / sb; if (ub >= 0) C[l * U + ub] = -g * (xo[l] / sb);) break;
            case 2: LN_LOOP(double g = go[l]; double y = xb[l];
                            if (ua >= 0) C[l * U + ua] = g / y; gb_[l] += -g * (xo[l] / y);) break;
            default: LN_LOOP(double g = go[l];
                             if (ua >= 0) C[l * U + ua] = g / sb;
                             if (ub >= 0) C[l * U + ub] = -g * (xo[l] / sb);) break;
            }
            break;
        case LN_NEG: LN_UNARY_GRAD(-g) break;
        case LN_POW: LN_UNARY_GRAD(p == 0.0 ? 0.0 : g * (p * pow(x, p - 1.0))) break;
        case LN_EXP: LN_UNARY_GRAD(g * out) break;
        case LN_LOG: LN_UNARY_GRAD(g / x) break;
        case LN_SQRT: LN_UNARY_GRAD(g * (0.5 / out)) break;
        case LN_SIN: LN_UNARY_GRAD(g * cos(x)) break;
        case LN_COS: LN_UNARY_GRAD(g * -sin(x)) break;
        case LN_TANH: LN_UNARY_GRAD(g * (1.0 - out * out)) break;
        case LN_RELU: LN_UNARY_GRAD(x <= 0.0 ? 0.0 : g) break;
        case LN_SIGMOID: LN_UNARY_GRAD(g * (out * (1.0 - out))) break;
        default: LN_UNARY_GRAD(x > 0.0 ? g : (x < 0.0 ? -g : 0.0)) break;   /* ABS */
        }
        (void)p; (void)xc; (void)gc_; (void)sc; (void)uc;
    }
}

/* The contributions of lanes n-1 down to 0 added to acc, each lane's uses in
 * order: acc[u] for the use u when every parameter has one use (a loop over
 * the uses that vectorizes), else acc[param[u]]. */
LN_CLONES
static void ln_reduce(double* acc, const int32_t* param, const double* C, Py_ssize_t U,
                      Py_ssize_t n)
{
    Py_ssize_t l, u;
    if (param == NULL) {
        for (l = n - 1; l >= 0; l--) {
            const double* c = C + l * U;
            for (u = 0; u < U; u++)
                acc[u] += c[u];
        }
    } else {
        for (l = n - 1; l >= 0; l--) {
            const double* c = C + l * U;
            for (u = 0; u < U; u++)
                acc[param[u]] += c[u];
        }
    }
}

#endif
