"""How the float32 quantiles of the truncated normal were fitted (stream
format 3, section 5; fastinit/_elementary.py, ``ndtri_central_f32`` and
``ndtri_band_f32``).

The central branch:

    Phi^-1(1/2 + q) ~= q * N(r) / D(r),   r = (1/2 - |q|) * (1/2 + |q|),

N and D of degree 4, D's constant term 1. Fitted for the relative error of N/D against Phi^-1(1/2 + q) / q (scipy's
ndtri, float64) on 6000 Chebyshev nodes of q**2 in [0, (1.0005 * 0.4775)**2],
by linearized least squares with Lawson reweighting (80 rounds), then rounded
to float32. The variable r vanishes at the quantile's singularity, so every
coefficient is positive and Horner's rule in float32 does not cancel.

The band, for lower-tail probabilities p in [BAND_LOW_F32, 1/2 - 0.4775]
(2.0047 to 3.0023 standard deviations):

    Phi^-1(p) ~= N(x) / D(x),   x = (p - BAND_LOW_F32) * BAND_SCALE_F32 in [0, 1],

N and D of degree 5, fitted the same way on [0.99 BAND_LOW_F32, 1.001 (1/2 -
0.4775)]. A variable from 0 up keeps every term of Horner's rule of one sign
where it matters; no logarithm.

Run ``python docs/truncated_central_fit.py`` to print the coefficients as the
float32 hex literals of fastinit/_elementary.py. The printed values are the
format's: a new fit is a new stream format version.
"""

import numpy as np
from scipy.special import ndtri

CENTRAL_LIMIT = 0.4775  # |q| beyond this (in float32) goes to the float64 tail path
DEGREE = 4


def rational_fit(v, g, degree, rounds):
    """N(v) / D(v) of the given degree, D's constant term 1, for the relative
    error against g on the nodes v: linearized least squares
    (N(v) - g (D(v) - 1) = g, rows scaled by 1 / (g D_previous)) with Lawson
    reweighting. Returns float32 coefficients, constant term first, and the
    float64 fit's largest relative error."""
    weight = np.ones(v.size)
    den = np.ones(v.size)
    powers = np.arange(degree + 1)
    for _ in range(rounds):
        a = np.hstack([v[:, None] ** powers, -g[:, None] * v[:, None] ** powers[1:]])
        a = a / (den * g)[:, None] * weight[:, None]
        coef, *_ = np.linalg.lstsq(a, weight / den, rcond=None)
        num = coef[: degree + 1]
        dcoef = np.concatenate([[1.0], coef[degree + 1:]])
        den = np.polyval(dcoef[::-1], v)
        err = np.polyval(num[::-1], v) / den / g - 1
        weight = weight * (1 + 0.5 * np.abs(err) / np.abs(err).max())
        weight /= weight.mean()
    return num.astype(np.float32), dcoef.astype(np.float32), np.abs(err).max()


def chebyshev_nodes(lo, hi, nodes):
    x = np.cos(np.pi * (np.arange(nodes) + 0.5) / nodes)
    return lo + (x + 1) / 2 * (hi - lo)


def fit(qmax=CENTRAL_LIMIT * 1.0005, degree=DEGREE, nodes=6000, rounds=80):
    s = chebyshev_nodes(0.0, qmax**2, nodes)
    q = np.sqrt(s)
    g = np.where(q > 1e-9, ndtri(0.5 + q) / np.maximum(q, 1e-300), np.sqrt(2 * np.pi))
    return rational_fit(0.25 - s, g, degree, rounds)


BAND_LOW_F32 = 0.00134  # Phi(-3.0023): an interval of +-3 standard deviations lies within
BAND_HIGH_F32 = 0.5 - CENTRAL_LIMIT
BAND_SCALE_F32 = 1 / (BAND_HIGH_F32 - BAND_LOW_F32)
BAND_DEGREE_F32 = 5


def fit_band(degree=BAND_DEGREE_F32, nodes=6000, rounds=60):
    p = chebyshev_nodes(0.99 * BAND_LOW_F32, 1.001 * BAND_HIGH_F32, nodes)
    return rational_fit((p - BAND_LOW_F32) * BAND_SCALE_F32, ndtri(p), degree, rounds)


if __name__ == "__main__":
    for name, (num, den, err) in (("central", fit()), ("band", fit_band())):
        print(f"{name}: max relative error of the float64 fit: {err:.2e}")
        print("  numerator, r**0 first:  ", [float(c).hex() for c in num])
        print("  denominator, r**0 first:", [float(c).hex() for c in den])
