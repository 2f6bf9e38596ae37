"""Digests that identify values, not their last bits.

A problem's, a spec's or a sweep's digest names *what was asked for*: it is written into netlist
headers and results, and a sweep directory is matched to its plan by it. The same inputs must give
the same digest on every machine, yet numbers that were computed (a generated matrix, a grid built
with ``logspace``, a time derived from an eigenvalue) can differ in their last bits between CPUs,
BLAS/LAPACK builds and library versions. So every float is rounded to a stated precision before it
is hashed:

- arrays: the binary mantissa is rounded to :data:`MANTISSA_BITS` = 40 bits (relative precision
  2⁻⁴⁰ ≈ 9.1e-13, about 12 significant digits), then (mantissa, exponent) pairs are hashed;
- scalars inside JSON-like data (specs, sweep plans): written with :data:`SIG_DIGITS` = 12
  significant digits.

A perturbation of a few ulps (≈1e-16 relative) leaves the digest unchanged unless a value sits
within those few ulps of a rounding boundary — a chance of about 1e-4 per computed value; a change of
1e-9 relative or more always changes it. Values read from a file are hashed as read, so they are
never near that edge by accident.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import numpy as np

MANTISSA_BITS = 40
SIG_DIGITS = 12
#: hex digits kept of the SHA-256
DIGEST_LENGTH = 16


def quantise(a) -> tuple[np.ndarray, np.ndarray]:
    """Integer (mantissa, exponent) of ``a`` with the mantissa rounded to :data:`MANTISSA_BITS` bits.

    x = m·2^e with m ∈ [0.5, 1) (``np.frexp``); returns (rint(m·2^40), e) as int64 arrays. The
    scaling by a power of two is exact, so the rounding is the only loss. ±0 both map to (0, 0).
    A mantissa that rounds up to 2^40 exactly is renormalised so that equal values share one form.
    """
    x = np.asarray(a, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("cannot fingerprint non-finite values")
    m, e = np.frexp(x)
    q = np.rint(np.ldexp(m, MANTISSA_BITS)).astype(np.int64)
    e = e.astype(np.int64)
    top = np.abs(q) == (1 << MANTISSA_BITS)
    q = np.where(top, q // 2, q)
    e = np.where(top, e + 1, e)
    e = np.where(q == 0, 0, e)
    return q, e


def array_digest(*arrays) -> str:
    """SHA-256 (first :data:`DIGEST_LENGTH` hex digits) of the shapes and quantised values."""
    h = hashlib.sha256()
    for a in arrays:
        x = np.asarray(a, dtype=np.float64)
        q, e = quantise(x)
        h.update(repr(x.shape).encode())
        h.update(np.ascontiguousarray(q, dtype="<i8").tobytes())
        h.update(np.ascontiguousarray(e, dtype="<i8").tobytes())
    return h.hexdigest()[:DIGEST_LENGTH]


def canonical(obj: Any) -> Any:
    """JSON-ready copy of ``obj`` with every float written to :data:`SIG_DIGITS` significant digits.

    Booleans, integers, strings and None pass through; tuples become lists; dict keys must be strings.
    """
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        if not math.isfinite(x):
            return repr(x)
        return "f:" + format(x + 0.0, f".{SIG_DIGITS - 1}e")
    if isinstance(obj, dict):
        return {str(k): canonical(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [canonical(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return canonical(obj.tolist())
    raise TypeError(f"cannot fingerprint a {type(obj).__name__}")


def json_digest(obj: Any) -> str:
    """SHA-256 (first :data:`DIGEST_LENGTH` hex digits) of :func:`canonical` JSON of ``obj``."""
    canon = json.dumps(canonical(obj), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()[:DIGEST_LENGTH]
