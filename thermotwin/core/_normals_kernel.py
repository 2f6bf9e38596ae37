"""The numba kernel behind :mod:`thermotwin.core.fast_normals` (imported lazily: it imports numba).

PCG64 as numpy's pcg64.h (state ← state·MULT + inc mod 2¹²⁸, then the XSL-RR output of the new
state) feeding numpy's float64 ziggurat (``random_standard_normal`` in numpy's distributions.c):
the same operations in the same order, so the same bits.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

MULT_HI = np.uint64(0x2360ED051FC65DA4)
MULT_LO = np.uint64(0x4385DF649FCCF645)
_ONE, _ZERO = np.uint64(1), np.uint64(0)
_S8, _S11, _S58, _S63, _S64 = np.uint64(8), np.uint64(11), np.uint64(58), np.uint64(63), np.uint64(64)
_M8 = np.uint64(0xFF)
_M52 = np.uint64(0x000FFFFFFFFFFFFF)
ZIGGURAT_NOR_R = 3.6541528853610087963519472518
ZIGGURAT_NOR_INV_R = 0.27366123732975827203338247596
_TO_UNIT = 1.0 / 9007199254740992.0          # next_double: (next64 >> 11) · 2⁻⁵³


@intrinsic
def mulhi(typingctx, a, b):
    """The high 64 bits of a 64×64-bit product: one ``mul`` instruction (LLVM i128), not four."""
    def codegen(context, builder, signature, args):
        i128 = ir.IntType(128)
        p = builder.mul(builder.zext(args[0], i128), builder.zext(args[1], i128))
        return builder.trunc(builder.lshr(p, ir.Constant(i128, 64)), ir.IntType(64))
    return types.uint64(types.uint64, types.uint64), codegen


@numba.njit(inline="always")
def pcg64_step(s_hi, s_lo, i_hi, i_lo):
    """(new state hi, lo, 64-bit output of the new state)."""
    hi = mulhi(s_lo, MULT_LO) + s_hi * MULT_LO + s_lo * MULT_HI
    lo = s_lo * MULT_LO
    lo2 = lo + i_lo
    hi = hi + i_hi + (_ONE if lo2 < lo else _ZERO)
    v = hi ^ lo2
    rot = hi >> _S58
    return hi, lo2, (v >> rot) | (v << ((_S64 - rot) & _S63))


@numba.njit(cache=True, nogil=True)
def fill(st, ki, wi, fi, out):
    """out[:] ← standard normals; st = [state hi, state lo, inc hi, inc lo] (uint64), state updated."""
    s_hi, s_lo, i_hi, i_lo = st[0], st[1], st[2], st[3]
    for k in range(out.size):
        while True:
            s_hi, s_lo, r = pcg64_step(s_hi, s_lo, i_hi, i_lo)
            idx = np.intp(r & _M8)
            r = r >> _S8
            sign = r & _ONE
            rabs = (r >> _ONE) & _M52
            # numpy negates x when the sign bit is set; the product by ±1.0 is the same number
            # without a 50 % unpredictable branch
            x = np.float64(rabs) * wi[idx] * (1.0 - 2.0 * np.float64(sign))
            if rabs < ki[idx]:
                break                                   # 99.3 % of draws
            if idx == 0:                                # the tail beyond r
                while True:
                    s_hi, s_lo, r1 = pcg64_step(s_hi, s_lo, i_hi, i_lo)
                    xx = -ZIGGURAT_NOR_INV_R * np.log1p(-(np.float64(r1 >> _S11) * _TO_UNIT))
                    s_hi, s_lo, r2 = pcg64_step(s_hi, s_lo, i_hi, i_lo)
                    yy = -np.log1p(-(np.float64(r2 >> _S11) * _TO_UNIT))
                    if yy + yy > xx * xx:
                        break
                x = -(ZIGGURAT_NOR_R + xx) if ((rabs >> _S8) & _ONE) == _ONE else ZIGGURAT_NOR_R + xx
                break
            s_hi, s_lo, r1 = pcg64_step(s_hi, s_lo, i_hi, i_lo)   # the wedge
            if (fi[idx - 1] - fi[idx]) * (np.float64(r1 >> _S11) * _TO_UNIT) + fi[idx] < np.exp(-0.5 * x * x):
                break
        out[k] = x
    st[0] = s_hi
    st[1] = s_lo
