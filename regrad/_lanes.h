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
    int32_t first;        /* LN_C terms: backward's first write to c's adjoint, so it
                             sets 0.0 + v (what adding v to a zeroed adjoint gives),
                             and the adjoint needs no zeroing before the sweep */
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

#if defined(__AVX2__)
#include <immintrin.h>
/* A neuron's DOT whose every term is a scalar times lane values (w * x),
 * with AVX2: sixteen lanes at a time, their sums (their adjoints in
 * backward) in four registers, each term's values read once; per lane the
 * same operations in the same order as the general loops. */
#define LN_DENSE 1

static inline int ln_dot_is_dense(const ln_instr* in, const ln_term* terms)
{
    int32_t k;
    for (k = 0; k < in->c; k++)
        if (terms[in->b + k].kind != LN_C)
            return 0;
    return 1;
}

#define LN_ADD_PRODUCT(O, W, X) _mm256_add_pd((O), _mm256_mul_pd((W), _mm256_loadu_pd(X)))

static void ln_dot_forward_dense(const ln_instr* in, const ln_term* terms, double* V,
                                 const double* S, Py_ssize_t B, Py_ssize_t n)
{
    const ln_term* t0 = terms + in->b;
    const double* acc = (in->kind & LN_A) ? V + (Py_ssize_t)in->a * B : NULL;
    double* out = V + (Py_ssize_t)in->out * B;
    double s0 = acc != NULL ? 0.0 : S[in->a];
    Py_ssize_t l, k, c = in->c;
    for (l = 0; l + 16 <= n; l += 16) {
        __m256d o0, o1, o2, o3;
        if (acc != NULL) {
            o0 = _mm256_loadu_pd(acc + l); o1 = _mm256_loadu_pd(acc + l + 4);
            o2 = _mm256_loadu_pd(acc + l + 8); o3 = _mm256_loadu_pd(acc + l + 12);
        } else {
            o0 = o1 = o2 = o3 = _mm256_set1_pd(s0);
        }
        for (k = 0; k < c; k++) {
            const double* x = V + (Py_ssize_t)t0[k].c * B + l;
            __m256d w = _mm256_set1_pd(S[t0[k].b]);
            o0 = LN_ADD_PRODUCT(o0, w, x); o1 = LN_ADD_PRODUCT(o1, w, x + 4);
            o2 = LN_ADD_PRODUCT(o2, w, x + 8); o3 = LN_ADD_PRODUCT(o3, w, x + 12);
        }
        _mm256_storeu_pd(out + l, o0); _mm256_storeu_pd(out + l + 4, o1);
        _mm256_storeu_pd(out + l + 8, o2); _mm256_storeu_pd(out + l + 12, o3);
    }
    for (; l + 4 <= n; l += 4) {
        __m256d o0 = acc != NULL ? _mm256_loadu_pd(acc + l) : _mm256_set1_pd(s0);
        for (k = 0; k < c; k++)
            o0 = LN_ADD_PRODUCT(o0, _mm256_set1_pd(S[t0[k].b]), V + (Py_ssize_t)t0[k].c * B + l);
        _mm256_storeu_pd(out + l, o0);
    }
    for (; l < n; l++) {
        double o = acc != NULL ? acc[l] : s0;
        for (k = 0; k < c; k++)
            o = o + S[t0[k].b] * V[(Py_ssize_t)t0[k].c * B + l];
        out[l] = o;
    }
}

/* gx[0..4m-1] += g * w, g in m registers (first: gx zero, not read) */
static inline void ln_add_scaled(double* gx, const __m256d* g, __m256d w, int m, int first)
{
    int j;
    for (j = 0; j < m; j++)
        _mm256_storeu_pd(gx + 4 * j,
                         _mm256_add_pd(first ? _mm256_setzero_pd() : _mm256_loadu_pd(gx + 4 * j),
                                       _mm256_mul_pd(g[j], w)));
}

/* lanes l..l+4m-1 of ln_dot_backward_dense (m a constant where it is inlined) */
static inline void ln_dot_backward_lanes(const ln_term* t0, Py_ssize_t c, double* G,
                                         const double* S, Py_ssize_t B, const double* go,
                                         double* ga, int add_a, int one, Py_ssize_t l, int m)
{
    __m256d g[4];
    Py_ssize_t k;
    int j;
    for (j = 0; j < m; j++)
        g[j] = _mm256_add_pd(_mm256_setzero_pd(), _mm256_loadu_pd(go + l + 4 * j));
    for (k = c - 1; k >= 1; k--)
        ln_add_scaled(G + (Py_ssize_t)t0[k].c * B + l, g, _mm256_set1_pd(S[t0[k].b]), m,
                      t0[k].first);
    if (ga != NULL) {
        for (j = 0; j < m; j++) {
            __m256d v = one ? _mm256_loadu_pd(go + l + 4 * j) : g[j];
            if (add_a)
                v = _mm256_add_pd(_mm256_loadu_pd(ga + l + 4 * j), v);
            _mm256_storeu_pd(ga + l + 4 * j, v);
        }
    }
    ln_add_scaled(G + (Py_ssize_t)t0[0].c * B + l, g, _mm256_set1_pd(S[t0[0].b]), m,
                  t0[0].first);
}

/* backward of such a DOT when the weights' contributions are deferred
 * (LN_DEFER: ln_flush_block computes them from V and G): per lane, the terms
 * last to first, the first operand's adjoint (or its row of C) just before
 * the first term's, as ln_backward's loop does */
static void ln_dot_backward_dense(const ln_instr* in, const ln_term* terms, double* G,
                                  const double* S, Py_ssize_t B, Py_ssize_t n, double* C)
{
    const ln_term* t0 = terms + in->b;
    const double* go = G + (Py_ssize_t)in->out * B;
    double* ga = (in->kind & LN_A) ? G + (Py_ssize_t)in->a * B
                 : in->ua >= 0 ? C + B * (Py_ssize_t)in->ua : NULL;
    int add_a = (in->kind & LN_A) != 0, one = in->c == 1;
    Py_ssize_t l, k, c = in->c;
    for (l = 0; l + 16 <= n; l += 16)        /* sixteen lanes, then four at a time */
        ln_dot_backward_lanes(t0, c, G, S, B, go, ga, add_a, one, l, 4);
    for (; l + 4 <= n; l += 4)
        ln_dot_backward_lanes(t0, c, G, S, B, go, ga, add_a, one, l, 1);
    for (; l < n; l++) {
        double gl = 0.0 + go[l];
        for (k = c - 1; k >= 0; k--) {
            if (k == 0 && ga != NULL) {
                double v = one ? go[l] : gl;
                if (add_a) ga[l] += v; else ga[l] = v;
            }
            double* gx = G + (Py_ssize_t)t0[k].c * B + l;
            *gx = (t0[k].first ? 0.0 : *gx) + gl * S[t0[k].b];
        }
    }
}
#endif

/* Forward over lanes 0..n-1 of a block; returns 1 if the dynamic engine
 * would have refused a lane's value, else 0. */
static Py_ssize_t ln_forward(const ln_instr* prog, Py_ssize_t n_ins, const ln_term* terms,
                             double* V, const double* S, Py_ssize_t B, Py_ssize_t n)
{
    Py_ssize_t i, l, k, bad = 0;
    for (i = 0; i < n_ins; i++) {
        const ln_instr* in = prog + i;
        double* o = V + (Py_ssize_t)in->out * B;
#if defined(LN_DENSE)
        if (in->op == LN_DOT && ln_dot_is_dense(in, terms)) {
            ln_dot_forward_dense(in, terms, V, S, B, n);
            continue;
        }
#endif
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

/* One shared parameter use's contributions in lanes 0..n-1: x[l] itself (g
 * NULL: a row of C), or (0.0 + g[l]) * x[l] (a neuron's weight: g its sum's
 * adjoints, x the values the weight multiplies), computed here rather than
 * stored. */
typedef struct {
    const double* x;
    const double* g;
    Py_ssize_t u;         /* its entry in acc */
} ln_source;

static inline double ln_source_at(const ln_source* s, Py_ssize_t l)
{
    return s->g != NULL ? (0.0 + s->g[l]) * s->x[l] : s->x[l];
}

#if defined(__AVX2__)
#include <immintrin.h>

/* lanes l..l+3 of a source (products: every source has g, known where inlined) */
static inline __m256d ln_source_at4(const ln_source* s, Py_ssize_t l, int products)
{
    __m256d x = _mm256_loadu_pd(s->x + l);
    if (!products && s->g == NULL)
        return x;
    return _mm256_mul_pd(_mm256_add_pd(_mm256_setzero_pd(), _mm256_loadu_pd(s->g + l)), x);
}

/* acc (four uses' sums) plus lanes l+3, l+2, l+1, l of the four sources s, in
 * that order: the 4x4 block of values transposed to one vector per lane */
static inline __m256d ln_add4(__m256d acc, const ln_source* s, Py_ssize_t l, int products)
{
    __m256d v0 = ln_source_at4(s, l, products), v1 = ln_source_at4(s + 1, l, products);
    __m256d v2 = ln_source_at4(s + 2, l, products), v3 = ln_source_at4(s + 3, l, products);
    __m256d lo01 = _mm256_unpacklo_pd(v0, v1), hi01 = _mm256_unpackhi_pd(v0, v1);
    __m256d lo23 = _mm256_unpacklo_pd(v2, v3), hi23 = _mm256_unpackhi_pd(v2, v3);
    acc = _mm256_add_pd(acc, _mm256_permute2f128_pd(hi01, hi23, 0x31));    /* lane l+3 */
    acc = _mm256_add_pd(acc, _mm256_permute2f128_pd(lo01, lo23, 0x31));    /* lane l+2 */
    acc = _mm256_add_pd(acc, _mm256_permute2f128_pd(hi01, hi23, 0x20));    /* lane l+1 */
    return _mm256_add_pd(acc, _mm256_permute2f128_pd(lo01, lo23, 0x20));   /* lane l */
}
#endif

/* The contributions of m sources (distinct uses) added into acc, each lane
 * n-1 first, down to lane 0: each use's sum in that order, whatever runs
 * side by side. With AVX2, eight uses at a time in two vectors (four lanes of
 * four uses transposed); else four scalar chains. */
static void ln_flush_sources(double* acc, const ln_source* s, int m, Py_ssize_t n)
{
    Py_ssize_t l;
    int j = 0;
#if defined(__AVX2__)
    for (; j + 8 <= m; j += 8) {
        const ln_source* t = s + j;
        Py_ssize_t top = n - n % 4;
        int i;
        __m256d a, b;
        double out[8];
        for (l = n - 1; l >= top; l--)          /* the lanes above a multiple of 4 */
            for (i = 0; i < 8; i++)
                acc[t[i].u] += ln_source_at(t + i, l);
        a = _mm256_set_pd(acc[t[3].u], acc[t[2].u], acc[t[1].u], acc[t[0].u]);
        b = _mm256_set_pd(acc[t[7].u], acc[t[6].u], acc[t[5].u], acc[t[4].u]);
        for (i = 0; i < 8 && t[i].g != NULL; i++)
            ;
        if (i == 8) {                           /* all products: the usual case */
            for (l = top - 4; l >= 0; l -= 4) {
                a = ln_add4(a, t, l, 1);
                b = ln_add4(b, t + 4, l, 1);
            }
        } else {
            for (l = top - 4; l >= 0; l -= 4) {
                a = ln_add4(a, t, l, 0);
                b = ln_add4(b, t + 4, l, 0);
            }
        }
        _mm256_storeu_pd(out, a);
        _mm256_storeu_pd(out + 4, b);
        for (i = 0; i < 8; i++)
            acc[t[i].u] = out[i];
    }
#endif
    for (; j + 4 <= m; j += 4) {
        const ln_source* t = s + j;
        double a0 = acc[t[0].u], a1 = acc[t[1].u], a2 = acc[t[2].u], a3 = acc[t[3].u];
        for (l = n - 1; l >= 0; l--) {
            a0 += ln_source_at(t, l); a1 += ln_source_at(t + 1, l);
            a2 += ln_source_at(t + 2, l); a3 += ln_source_at(t + 3, l);
        }
        acc[t[0].u] = a0; acc[t[1].u] = a1; acc[t[2].u] = a2; acc[t[3].u] = a3;
    }
    for (; j < m; j++) {
        double a = acc[s[j].u];
        for (l = n - 1; l >= 0; l--)
            a += ln_source_at(s + j, l);
        acc[s[j].u] = a;
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
 * seeds, and those a term sets first: ln_term.first); the contributions to
 * the parameters as ``mode`` says. */
static void ln_backward(const ln_instr* prog, Py_ssize_t n_ins, const ln_term* terms,
                        const double* V, double* G, const double* S, Py_ssize_t B, Py_ssize_t n,
                        double* C, int mode)
{
    Py_ssize_t i, l, k;
    for (i = n_ins - 1; i >= 0; i--) {
        const ln_instr* in = prog + i;
        const double* go = G + (Py_ssize_t)in->out * B;
#if defined(LN_DENSE)
        if (in->op == LN_DOT && mode == LN_DEFER && ln_dot_is_dense(in, terms)) {
            ln_dot_backward_dense(in, terms, G, S, B, n, C);
            continue;
        }
#endif
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
                if (t->kind == LN_C && t->first) {     /* w * x, c's adjoint set */
                    double* r = (ub >= 0 && mode != LN_DEFER) ? LN_ROW(ub) : NULL;
                    LN_LOOP(double g = 0.0 + go[l]; if (r != NULL) r[l] = g * xc[l];
                            gc_[l] = 0.0 + g * sb;)
                } else if (t->kind == LN_C && ub >= 0 && mode == LN_DEFER) {   /* w * x */
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
 * into acc, lane n-1 first (the lanes after these are in already). Each use
 * has its own entry in acc, so the uses are gathered (LN_SOURCES at a time,
 * the products apart from the rows of C) and summed side by side, whichever
 * instruction they come from. */
#define LN_SOURCES 64
#define LN_GATHER(X, G, U) { ln_source* q = (G) != NULL ? prods : rows;                \
                             int* m = (G) != NULL ? &n_prods : &n_rows;                \
                             q[*m].x = (X); q[*m].g = (G); q[*m].u = (U);              \
                             if (++*m == LN_SOURCES) { ln_flush_sources(acc, q, *m, n); *m = 0; } }

static void ln_flush_block(const ln_instr* prog, Py_ssize_t n_ins, const ln_term* terms,
                           const double* V, const double* G, Py_ssize_t B, Py_ssize_t n,
                           const double* C, double* acc)
{
    Py_ssize_t i, k;
    ln_source prods[LN_SOURCES], rows[LN_SOURCES];
    int n_prods = 0, n_rows = 0;
    for (i = n_ins - 1; i >= 0; i--) {
        const ln_instr* in = prog + i;
        if (in->op == LN_DOT) {
            const double* go = G + (Py_ssize_t)in->out * B;
            if (!(in->kind & LN_A) && in->ua >= 0)
                LN_GATHER(C + B * in->ua, NULL, in->ua)
            for (k = in->c - 1; k >= 0; k--) {
                const ln_term* t = terms + in->b + k;
                if (t->kind == LN_C && t->ub >= 0) {
                    LN_GATHER(V + (Py_ssize_t)t->c * B, go, t->ub)
                } else {
                    if (t->ub >= 0)
                        LN_GATHER(C + B * t->ub, NULL, t->ub)
                    if (t->uc >= 0)
                        LN_GATHER(C + B * t->uc, NULL, t->uc)
                }
            }
            continue;
        }
        if (in->ua >= 0)
            LN_GATHER(C + B * in->ua, NULL, in->ua)
        if (in->ub >= 0)
            LN_GATHER(C + B * in->ub, NULL, in->ub)
    }
    ln_flush_sources(acc, prods, n_prods, n);
    ln_flush_sources(acc, rows, n_rows, n);
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

/* A worker between shares: it spins while *posted is seen, at most rounds
 * times, before it sleeps (a sleeping core of this VM takes ~50 us to start
 * the next share; a training loop hands one every few us). */
static inline void ln_spin_while(const Py_ssize_t* posted, Py_ssize_t seen, long rounds)
{
    while (rounds-- > 0 && LN_ATOMIC_LOAD(posted) == seen)
        ;
}

static inline void ln_pass_turn(Py_ssize_t* turn, Py_ssize_t next)
{
    LN_ATOMIC_STORE(turn, next);
}

#endif
