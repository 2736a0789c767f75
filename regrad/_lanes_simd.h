/* Which build of the lane kernels runs (regrad/_lanes.h): the baseline one,
 * compiled with _lanes.pyx, or on x86-64 the AVX2 one (_lanes_avx2.c, built
 * only where setup.py defines REGRAD_LANES_AVX2), if the CPU and the system
 * support AVX2. Both give the same bits: neither is compiled with FMA. */
#ifndef REGRAD_LANES_SIMD_H
#define REGRAD_LANES_SIMD_H

#include "_lanes.h"

static const ln_kernels ln_baseline = LN_KERNELS;

#if defined(REGRAD_LANES_AVX2)
extern const ln_kernels regrad_ln_avx2;

#if defined(_MSC_VER)
#include <intrin.h>
#include <immintrin.h>
#endif

/* AVX2 in the CPU, and the YMM registers saved by the system (XGETBV) */
static int ln_cpu_has_avx2(void)
{
#if defined(_MSC_VER)
    int r[4];
    __cpuid(r, 0);
    if (r[0] < 7) return 0;
    __cpuid(r, 1);
    if (!(r[2] & (1 << 27)) || !(r[2] & (1 << 28))) return 0;   /* OSXSAVE, AVX */
    if ((_xgetbv(0) & 6) != 6) return 0;
    __cpuidex(r, 7, 0);
    return (r[1] & (1 << 5)) != 0;                              /* AVX2 */
#elif defined(__GNUC__) || defined(__clang__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
#else
    return 0;
#endif
}
#define LN_AVX2_BUILT 1
#define LN_AVX2_KERNELS (&regrad_ln_avx2)
#else
#define ln_cpu_has_avx2() 0
#define LN_AVX2_BUILT 0
#define LN_AVX2_KERNELS NULL
#endif

/* The compiler of this build, for regrad.build_info() */
#define LN_STR2(x) #x
#define LN_STR(x) LN_STR2(x)
#if defined(__clang__)
#define LN_COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define LN_COMPILER "GCC " __VERSION__
#elif defined(_MSC_VER)
#define LN_COMPILER "MSVC " LN_STR(_MSC_FULL_VER)
#else
#define LN_COMPILER "unknown C compiler"
#endif

#endif
