/* The loops of the compiled batch tape (regrad/_lanes.pyx): one sample's
 * graph run over a block of lanes, one instruction at a time, each
 * instruction a plain loop over the lanes that the C compiler vectorizes.
 *
 * Values: V[slot * B + l] for lane l (0 <= l < n <= B) of a lane slot (an
 * input or a result); scalars (parameters, constants): S[index]. Each lane
 * calls the operator's functions of regrad/_opdefs.h, those of the dynamic
 * engine, so each lane gets its bits; this file is compiled without FMA
 * contraction (-ffp-contract=off) so that no compiler fuses them. Where the
 * dynamic engine would raise, a lane only flags its block (a flag ORed in);
 * the caller re-runs such a block through the raising kernels.
 */
#ifndef REGRAD_LANES_H
#define REGRAD_LANES_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "_opdefs.h"

/* the op codes (RG_ADD ..., _opcodes.h), and the lanes' own: a chain of products added to a sum */
enum { LN_DOT = RG_N_OPS };

/* kind bits: which operands are lane slots (else scalar indexes) */
enum { LN_A = 1, LN_B = 2, LN_C = 4 };   /* LN_C: DOT terms only */

typedef struct {
    int32_t op;
    int32_t kind;
    int32_t out;          /* lane slot of the result */
    int32_t a, b;         /* operands; DOT: a, and its terms[b .. b+c-1] (see ln_term) */
    int32_t c;
    int32_t ua, ub;       /* a shared parameter operand: its use (row of the
                             contributions), in the order backward meets them; else -1 */
    double p;             /* Pow's exponent */
} ln_instr;

/* DOT: out = (((a + b0*c0) + b1*c1) + ...), the sums and products of a
 * neuron (Add(acc, Mul(b, c)) in turn, each intermediate sum used once),
 * rounded as they were; the intermediate sums keep no values. */
typedef struct {
    int32_t kind;         /* LN_B, LN_C bits */
    int32_t b, c;
    int32_t ub, uc;
    int32_t pad;
} ln_term;

/* The four kernels of a build of this file. It is compiled twice on x86-64:
 * with _lanes.pyx for the baseline instruction set, and alone for AVX2
 * (_lanes_avx2.c, without FMA: it would change the bits); _lanes.pyx picks
 * one at import by asking the CPU (_lanes_simd.h). */
typedef struct {
    Py_ssize_t (*forward)(const ln_instr*, Py_ssize_t, const ln_term*, double*, const double*,
                          Py_ssize_t, Py_ssize_t);
    void (*backward)(const ln_instr*, Py_ssize_t, const ln_term*, const double*, double*,
                     const double*, Py_ssize_t, Py_ssize_t, double*, int);
    void (*flush_block)(const ln_instr*, Py_ssize_t, const ln_term*, const double*,
                        const double*, Py_ssize_t, Py_ssize_t, const double*, double*);
    void (*reduce)(double*, const int32_t*, const double*, Py_ssize_t, Py_ssize_t, Py_ssize_t);
} ln_kernels;
#define LN_KERNELS {ln_forward, ln_backward, ln_flush_block, ln_reduce}

#define LN_LOOP(BODY) for (l = 0; l < n; l++) { BODY }
#define LN_USED(V) (void)(V);

/* a lane's value: EXPR may set the lane's flag f (see _opdefs.h), which flags
 * the block; for an operator that never sets it the compiler drops the check */
#define LN_VALUE(EXPR) int f = RG_OK; o[l] = (EXPR); bad |= (f != 0);

/* x, y per lane for each combination of lane and scalar operands */
#define LN_BINARY(EXPR)                                                                  \
    switch (in->kind & 3) {                                                              \
    case 3: LN_LOOP(double x = xa[l]; double y = xb[l]; LN_VALUE(EXPR)) break;          \
    case 1: LN_LOOP(double x = xa[l]; double y = sb; LN_VALUE(EXPR)) break;             \
    case 2: LN_LOOP(double x = sa; double y = xb[l]; LN_VALUE(EXPR)) break;             \
    default: LN_LOOP(double x = sa; double y = sb; LN_VALUE(EXPR)) break;               \
    }

#define LN_UNARY(EXPR)                                                                   \
    if (in->kind & LN_A) { LN_LOOP(double x = xa[l]; LN_VALUE(EXPR)) }                   \
    else { LN_LOOP(double x = sa; LN_VALUE(EXPR)) }

/* the forward's case of each operator of _opcodes.h's lists */
#define LN_BINARY_CASE(CODE, OP) case CODE: LN_BINARY(OP##_value(x, y, &f)) break;
#define LN_UNARY_CASE(CODE, OP) case CODE: LN_UNARY(OP##_value(x, p, &f)) break;

/* Forward over lanes 0..n-1 of a block; returns 1 if the dynamic engine
 * would have refused a lane's value, else 0. */
static Py_ssize_t ln_forward(const ln_instr* prog, Py_ssize_t n_ins, const ln_term* terms,
                             double* V, const double* S, Py_ssize_t B, Py_ssize_t n)
{
    Py_ssize_t i, l, k, bad = 0;
    for (i = 0; i < n_ins; i++) {
        const ln_instr* in = prog + i;
        double* o = V + (Py_ssize_t)in->out * B;
        if (in->op == LN_DOT) {
            for (k = 0; k < in->c; k++) {
                const ln_term* t = terms + in->b + k;
                const double* acc = k ? o : (in->kind & LN_A) ? V + (Py_ssize_t)in->a * B : NULL;
                const double* xb = V + (Py_ssize_t)t->b * B;
                const double* xc = V + (Py_ssize_t)t->c * B;
                double s0 = (k || (in->kind & LN_A)) ? 0.0 : S[in->a];
                double sb = (t->kind & LN_B) ? 0.0 : S[t->b];
                double sc = (t->kind & LN_C) ? 0.0 : S[t->c];
                /* the product rounded, then the sum */
                switch (t->kind | (acc != NULL ? 8 : 0)) {
                case 8 | LN_C: LN_LOOP(double m = sb * xc[l]; o[l] = acc[l] + m;) break;
                case LN_C: LN_LOOP(double m = sb * xc[l]; o[l] = s0 + m;) break;
                case 8 | LN_B: LN_LOOP(double m = xb[l] * sc; o[l] = acc[l] + m;) break;
                case LN_B: LN_LOOP(double m = xb[l] * sc; o[l] = s0 + m;) break;
                case 8 | LN_B | LN_C: LN_LOOP(double m = xb[l] * xc[l]; o[l] = acc[l] + m;) break;
                default: LN_LOOP(double m = xb[l] * xc[l]; o[l] = s0 + m;) break;
                }
            }
            continue;
        }
        const double* xa = (in->kind & LN_A) ? V + (Py_ssize_t)in->a * B : NULL;
        const double* xb = (in->kind & LN_B) ? V + (Py_ssize_t)in->b * B : NULL;
        double sa = (in->kind & LN_A) ? 0.0 : S[in->a];
        double sb = (in->kind & LN_B) ? 0.0 : S[in->b];
        double p = in->p;
        switch (in->op) {
        RG_BINARY_OPS(LN_BINARY_CASE)
        RG_UNARY_OPS(LN_UNARY_CASE)
        default: bad = 1;   /* never: the raising kernels would refuse the op code */
        }
    }
    return bad;
}

/* Where an operand's gradient goes: its lane adjoints, or (a shared
 * parameter) row u of the contributions C[u * B + l], or nowhere (a constant). */
/* The row of use u in C */
#define LN_ROW(u) (C + B * (u))

#define LN_SEND(KIND_BIT, G, U_IDX, VALUE)                                               \
    if (in->kind & KIND_BIT) G[l] += (VALUE);                                            \
    else if (U_IDX >= 0) LN_ROW(U_IDX)[l] = (VALUE);

#define LN_BINARY_GRAD(GA, GB)                                                      \
    switch (in->kind & 3) {                                                         \
    case 3: LN_LOOP(double g = go[l]; double x = xa[l]; double y = xb[l];          \
                    double out = xo[l];                                             \
                    ga_[l] += (GA); gb_[l] += (GB); LN_USED(out)) break;            \
    case 1: LN_LOOP(double g = go[l]; double x = xa[l]; double y = sb;             \
                    double out = xo[l];                                             \
                    ga_[l] += (GA); if (ub >= 0) LN_ROW(ub)[l] = (GB);              \
                    LN_USED(out)) break;                                            \
    case 2: LN_LOOP(double g = go[l]; double x = sa; double y = xb[l];             \
                    double out = xo[l];                                             \
                    if (ua >= 0) LN_ROW(ua)[l] = (GA); gb_[l] += (GB);              \
                    LN_USED(out)) break;                                            \
    default: LN_LOOP(double g = go[l]; double x = sa; double y = sb;               \
                     double out = xo[l];                                            \
                     if (ua >= 0) LN_ROW(ua)[l] = (GA);                             \
                     if (ub >= 0) LN_ROW(ub)[l] = (GB);                             \
                     LN_USED(out)) break;                                           \
    }

#define LN_UNARY_GRAD(GA)                                                           \
    if (in->kind & LN_A) {                                                          \
        LN_LOOP(double g = go[l]; double x = xa[l]; double out = xo[l];            \
                ga_[l] += (GA);)                                                    \
    } else if (ua >= 0) {                                                           \
        LN_LOOP(double g = go[l]; double x = sa; double out = xo[l];               \
                LN_ROW(ua)[l] = (GA);)                                              \
    }

/* the backward's case of each operator of _opcodes.h's lists */
#define LN_BINARY_GRAD_CASE(CODE, OP) \
    case CODE: LN_BINARY_GRAD(OP##_grad_x(g, x, y, out), OP##_grad_y(g, x, y, out)) break;
#define LN_UNARY_GRAD_CASE(CODE, OP) case CODE: LN_UNARY_GRAD(OP##_grad(g, x, out, p)) break;

/* The contributions of the uses us[j] (j < m) in lanes n-1 down to 0 added
 * into acc: src[j][l] itself, or (prod[j]) (0.0 + go[l]) * src[j][l], the
 * product of a neuron's term computed here rather than stored; four uses side
 * by side where they can, four independent chains of additions. */
static inline void ln_flush(double* acc, const double* go, Py_ssize_t n, const Py_ssize_t* us,
                            const double* const* src, const int* prod, int m)
{
    Py_ssize_t l;
    int j = 0;
    while (j < m) {
        if (j + 4 <= m && prod[j] && prod[j + 1] && prod[j + 2] && prod[j + 3]) {
            const double *x0 = src[j], *x1 = src[j + 1], *x2 = src[j + 2], *x3 = src[j + 3];
            double a0 = acc[us[j]], a1 = acc[us[j + 1]], a2 = acc[us[j + 2]];
            double a3 = acc[us[j + 3]];
            for (l = n - 1; l >= 0; l--) {
                double g = 0.0 + go[l];
                a0 += g * x0[l]; a1 += g * x1[l]; a2 += g * x2[l]; a3 += g * x3[l];
            }
            acc[us[j]] = a0; acc[us[j + 1]] = a1; acc[us[j + 2]] = a2; acc[us[j + 3]] = a3;
            j += 4;
        } else {
            const double* r = src[j];
            double a = acc[us[j]];
            if (prod[j]) {
                for (l = n - 1; l >= 0; l--)
                    a += (0.0 + go[l]) * r[l];
            } else {
                for (l = n - 1; l >= 0; l--)
                    a += r[l];
            }
            acc[us[j]] = a;
            j++;
        }
    }
}

/* How ln_backward hands over the contribution of shared parameter use u in
 * lane l: LN_STORE, into C[u * B + l] (for ln_reduce); LN_DEFER (every
 * parameter has one use), a neuron's weights' not at all (ln_flush_block
 * computes them from V and G, which keep what they need), the others into
 * C[u * B + l] too. */
enum { LN_STORE = 0, LN_DEFER = 1 };

/* Backward over lanes 0..n-1 of a block, the instructions last to first, as
 * the replay tape's sweep: G holds the lane adjoints (zero but the root's
 * seeds); the contributions to the parameters as ``mode`` says. */
static void ln_backward(const ln_instr* prog, Py_ssize_t n_ins, const ln_term* terms,
                        const double* V, double* G, const double* S, Py_ssize_t B, Py_ssize_t n,
                        double* C, int mode)
{
    Py_ssize_t i, l, k;
    for (i = n_ins - 1; i >= 0; i--) {
        const ln_instr* in = prog + i;
        const double* go = G + (Py_ssize_t)in->out * B;
        if (in->op == LN_DOT) {
            /* the terms last to first, as the sums and products came in the
               sweep: every intermediate sum's adjoint, and so every product's,
               is 0.0 + g (its one consumer's gradient added to 0.0); the first
               sum's other operand gets g itself if the chain has one term */
            for (k = in->c - 1; k >= 0; k--) {
                const ln_term* t = terms + in->b + k;
                const double* xb = V + (Py_ssize_t)t->b * B;
                const double* xc = V + (Py_ssize_t)t->c * B;
                double* gb_ = G + (Py_ssize_t)t->b * B;
                double* gc_ = G + (Py_ssize_t)t->c * B;
                double sb = (t->kind & LN_B) ? 0.0 : S[t->b];
                double sc = (t->kind & LN_C) ? 0.0 : S[t->c];
                Py_ssize_t ub = t->ub, uc = t->uc;
                if (k == 0) {
                    double* ga_ = G + (Py_ssize_t)in->a * B;
                    Py_ssize_t ua = in->ua;
                    if (in->c == 1) {
                        if (in->kind & LN_A) { LN_LOOP(ga_[l] += go[l];) }
                        else if (ua >= 0) { LN_LOOP(LN_ROW(ua)[l] = go[l];) }
                    } else {
                        if (in->kind & LN_A) { LN_LOOP(ga_[l] += 0.0 + go[l];) }
                        else if (ua >= 0) { LN_LOOP(LN_ROW(ua)[l] = 0.0 + go[l];) }
                    }
                }
                if (t->kind == LN_C && ub >= 0 && mode == LN_DEFER) {   /* w * x: most of a net */
                    LN_LOOP(double g = 0.0 + go[l]; gc_[l] += g * sb;)
                } else if (t->kind == LN_C && ub >= 0) {
                    double* r = LN_ROW(ub);
                    LN_LOOP(double g = 0.0 + go[l]; r[l] = g * xc[l]; gc_[l] += g * sb;)
                } else {
                    LN_LOOP(double g = 0.0 + go[l];
                            double bv = (t->kind & LN_B) ? xb[l] : sb;
                            double cv = (t->kind & LN_C) ? xc[l] : sc;
                            if (t->kind & LN_B) gb_[l] += g * cv;
                            else if (ub >= 0) LN_ROW(ub)[l] = g * cv;
                            if (t->kind & LN_C) gc_[l] += g * bv;
                            else if (uc >= 0) LN_ROW(uc)[l] = g * bv;)
                }
            }
            continue;
        }
        const double* xo = V + (Py_ssize_t)in->out * B;
        const double* xa = (in->kind & LN_A) ? V + (Py_ssize_t)in->a * B : NULL;
        const double* xb = (in->kind & LN_B) ? V + (Py_ssize_t)in->b * B : NULL;
        double* ga_ = (in->kind & LN_A) ? G + (Py_ssize_t)in->a * B : NULL;
        double* gb_ = (in->kind & LN_B) ? G + (Py_ssize_t)in->b * B : NULL;
        double sa = (in->kind & LN_A) ? 0.0 : S[in->a];
        double sb = (in->kind & LN_B) ? 0.0 : S[in->b];
        Py_ssize_t ua = in->ua, ub = in->ub;
        double p = in->p;
        switch (in->op) {
        RG_BINARY_OPS(LN_BINARY_GRAD_CASE)
        RG_UNARY_OPS(LN_UNARY_GRAD_CASE)
        }
    }
}

/* After ln_backward(LN_DEFER) of the same block: every contribution added
 * into acc, lane n-1 first (the lanes after these are in already), in groups
 * of a neuron's uses. */
static void ln_flush_block(const ln_instr* prog, Py_ssize_t n_ins, const ln_term* terms,
                           const double* V, const double* G, Py_ssize_t B, Py_ssize_t n,
                           const double* C, double* acc)
{
    Py_ssize_t i, k, us[10];
    const double* src[10];
    int prod[10], m;
    for (i = n_ins - 1; i >= 0; i--) {
        const ln_instr* in = prog + i;
        m = 0;
        if (in->op == LN_DOT) {
            const double* go = G + (Py_ssize_t)in->out * B;
            if (!(in->kind & LN_A) && in->ua >= 0) {
                src[m] = C + B * in->ua;
                prod[m] = 0;
                us[m++] = in->ua;
            }
            for (k = in->c - 1; k >= 0; k--) {
                const ln_term* t = terms + in->b + k;
                if (t->kind == LN_C && t->ub >= 0) {
                    src[m] = V + (Py_ssize_t)t->c * B;
                    prod[m] = 1;
                    us[m++] = t->ub;
                } else {
                    if (t->ub >= 0) {
                        src[m] = C + B * t->ub;
                        prod[m] = 0;
                        us[m++] = t->ub;
                    }
                    if (t->uc >= 0) {
                        src[m] = C + B * t->uc;
                        prod[m] = 0;
                        us[m++] = t->uc;
                    }
                }
                if (m >= 8 || k == 0) {
                    ln_flush(acc, go, n, us, src, prod, m);
                    m = 0;
                }
            }
            continue;
        }
        if (in->ua >= 0) {
            src[m] = C + B * in->ua;
            prod[m] = 0;
            us[m++] = in->ua;
        }
        if (in->ub >= 0) {
            src[m] = C + B * in->ub;
            prod[m] = 0;
            us[m++] = in->ub;
        }
        if (m)
            ln_flush(acc, NULL, n, us, src, prod, m);
    }
}

/* The contributions of lanes n-1 down to 0 added to acc, each lane's uses in
 * order. When every parameter has one use, acc[u] is the use u's, and eight
 * uses are summed side by side (eight independent chains of additions, each
 * reading its contributions in order); else acc[param[u]], one at a time. */
static void ln_reduce(double* acc, const int32_t* param, const double* C, Py_ssize_t U,
                      Py_ssize_t B, Py_ssize_t n)
{
    Py_ssize_t l, u = 0;
    if (param != NULL) {
        for (l = n - 1; l >= 0; l--)
            for (u = 0; u < U; u++)
                acc[param[u]] += C[u * B + l];
        return;
    }
    for (; u + 8 <= U; u += 8) {
        const double* c = C + u * B;
        double a0 = acc[u], a1 = acc[u + 1], a2 = acc[u + 2], a3 = acc[u + 3];
        double a4 = acc[u + 4], a5 = acc[u + 5], a6 = acc[u + 6], a7 = acc[u + 7];
        for (l = n - 1; l >= 0; l--) {
            a0 += c[l]; a1 += c[B + l]; a2 += c[2 * B + l]; a3 += c[3 * B + l];
            a4 += c[4 * B + l]; a5 += c[5 * B + l]; a6 += c[6 * B + l]; a7 += c[7 * B + l];
        }
        acc[u] = a0; acc[u + 1] = a1; acc[u + 2] = a2; acc[u + 3] = a3;
        acc[u + 4] = a4; acc[u + 5] = a5; acc[u + 6] = a6; acc[u + 7] = a7;
    }
    for (; u < U; u++) {
        double a = acc[u];
        for (l = n - 1; l >= 0; l--)
            a += C[u * B + l];
        acc[u] = a;
    }
}

/* Threads add their blocks' contributions in turn, the last block first:
 * the turn is read with acquire and passed with release semantics, so a
 * thread sees the sums of the blocks before its turn. MSVC has no C11
 * atomics in C by default: its interlocked intrinsics (full barriers). */
#if defined(_MSC_VER)
#include <intrin.h>
#if defined(_WIN64)
#define LN_ATOMIC_LOAD(p) ((Py_ssize_t)_InterlockedOr64((volatile __int64*)(p), 0))
#define LN_ATOMIC_STORE(p, v) ((void)_InterlockedExchange64((volatile __int64*)(p), (__int64)(v)))
#define LN_ATOMIC_INCREMENT(p) ((void)_InterlockedIncrement64((volatile __int64*)(p)))
#else
#define LN_ATOMIC_LOAD(p) ((Py_ssize_t)_InterlockedOr((volatile long*)(p), 0))
#define LN_ATOMIC_STORE(p, v) ((void)_InterlockedExchange((volatile long*)(p), (long)(v)))
#define LN_ATOMIC_INCREMENT(p) ((void)_InterlockedIncrement((volatile long*)(p)))
#endif
/* SwitchToThread (kernel32), declared here rather than with all of windows.h */
__declspec(dllimport) int __stdcall SwitchToThread(void);
#define LN_YIELD() ((void)SwitchToThread())
#else
#include <stdatomic.h>
#define LN_ATOMIC(p) ((_Atomic Py_ssize_t*)(p))
#define LN_ATOMIC_LOAD(p) atomic_load_explicit(LN_ATOMIC(p), memory_order_acquire)
#define LN_ATOMIC_STORE(p, v) atomic_store_explicit(LN_ATOMIC(p), (v), memory_order_release)
#define LN_ATOMIC_INCREMENT(p) \
    ((void)atomic_fetch_add_explicit(LN_ATOMIC(p), 1, memory_order_acq_rel))
#if defined(__unix__) || defined(__APPLE__)
#include <sched.h>
#define LN_YIELD() sched_yield()
#else
#define LN_YIELD() ((void)0)
#endif
#endif

/* Returns 0 if the call was stopped (*stop set: a thread failed to start, an
 * interrupt) before the turn came; else 1. */
static inline int ln_wait_turn(Py_ssize_t* turn, Py_ssize_t mine, const Py_ssize_t* stop)
{
    while (LN_ATOMIC_LOAD(turn) != mine) {
        if (LN_ATOMIC_LOAD(stop))
            return 0;
        LN_YIELD();
    }
    return 1;
}

/* A failed call stops its workers: they look at the flag between blocks. */
static inline int ln_stopped(const Py_ssize_t* stop)
{
    return LN_ATOMIC_LOAD(stop) != 0;
}

static inline void ln_set_stop(Py_ssize_t* stop, Py_ssize_t value)
{
    LN_ATOMIC_STORE(stop, value);
}

/* A worker thread is done with the call's buffers. */
static inline void ln_worker_done(Py_ssize_t* done)
{
    LN_ATOMIC_INCREMENT(done);
}

/* Wait until n workers are done (without the GIL: no interrupt cuts it short). */
static inline void ln_wait_workers(Py_ssize_t* done, Py_ssize_t n)
{
    while (LN_ATOMIC_LOAD(done) < n)
        LN_YIELD();
}

static inline void ln_pass_turn(Py_ssize_t* turn, Py_ssize_t next)
{
    LN_ATOMIC_STORE(turn, next);
}

#endif
