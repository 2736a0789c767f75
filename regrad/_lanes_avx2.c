/* The lane kernels of regrad/_lanes.h once more, compiled for AVX2 (setup.py
 * passes -mavx2 or /arch:AVX2, never FMA), beside the baseline build in
 * _lanes.pyx; regrad/_lanes_simd.h chooses between them at import. */
#include <Python.h>
#if defined(_MSC_VER)
/* before Visual Studio 2022, /fp:precise let MSVC fuse a*b + c under /arch:AVX2 */
#pragma fp_contract(off)
#endif
#include "_lanes.h"

const ln_kernels regrad_ln_avx2 = LN_KERNELS;
