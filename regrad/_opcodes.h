/* The op codes, for every compiled module. Written by doc/make_ops.py from
 * regrad/ops.py (each operator's code and arity): edit that, then run
 * `python doc/make_ops.py`; regrad._core refuses to import if it was built
 * from another table.
 *
 * RG_BINARY_OPS(X) and RG_UNARY_OPS(X) are X(code, prefix) for each operator
 * of two and of one input, prefix##_value and the others being its functions
 * in _opdefs.h: every switch on the op code (_opdefs.h, _lanes.h) is one of
 * these lists, so none misses an operator. */
#ifndef REGRAD_OPCODES_H
#define REGRAD_OPCODES_H

enum rg_opcode {
    RG_LEAF = 0,
    RG_ADD = 1,
    RG_SUB = 2,
    RG_MUL = 3,
    RG_DIV = 4,
    RG_NEG = 5,
    RG_POW = 6,
    RG_EXP = 7,
    RG_LOG = 8,
    RG_SQRT = 9,
    RG_SIN = 10,
    RG_COS = 11,
    RG_TANH = 12,
    RG_RELU = 13,
    RG_SIGMOID = 14,
    RG_ABS = 15,
    RG_N_OPS = 16
};

#define RG_BINARY_OPS(X) \
    X(RG_ADD, rg_add) \
    X(RG_SUB, rg_sub) \
    X(RG_MUL, rg_mul) \
    X(RG_DIV, rg_div)

#define RG_UNARY_OPS(X) \
    X(RG_NEG, rg_neg) \
    X(RG_POW, rg_pow) \
    X(RG_EXP, rg_exp) \
    X(RG_LOG, rg_log) \
    X(RG_SQRT, rg_sqrt) \
    X(RG_SIN, rg_sin) \
    X(RG_COS, rg_cos) \
    X(RG_TANH, rg_tanh) \
    X(RG_RELU, rg_relu) \
    X(RG_SIGMOID, rg_sigmoid) \
    X(RG_ABS, rg_abs)

#endif
