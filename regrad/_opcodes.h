/* The op codes, for every compiled module: each operator's ``code`` in
 * regrad/ops.py, which is the table (regrad._core refuses to import if the two
 * disagree, and tests/test_ops.py reads this enum). _core.pxd declares it as
 * OpCode; the lanes (_lanes.h) switch on it and number their fused codes from
 * RG_N_OPS. */
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

#endif
