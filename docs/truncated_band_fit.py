"""How the float64 band quantile of the truncated normal was fitted (stream
format 3, section 5; fastinit/_elementary.py, ``ndtri_band_f64``).

For lower-tail probabilities p in [BAND_LOW, 0.075], between AS 241's central
branch (p >= 0.075) and its logarithmic tail:

    Phi^-1(p) ~= N(x) / D(x),   x = (p - BAND_LOW) * BAND_SCALE in [0, 1],

N and D of degree 7, D's constant term 1. Fitted in 40-digit arithmetic
(mpmath) for relative error on 120 Chebyshev nodes of [0.99 BAND_LOW,
1.001 * 0.075], by linearized least squares with Lawson reweighting (12
rounds), then rounded to float64. A variable from 0 up keeps Horner's rule in
float64 within 1e-15 (centred on the band, it cancels to 5e-15). No
logarithm: the float64 elements of a +-2 standard deviation interval all
take one rational.

Run ``python docs/truncated_band_fit.py`` (about half a minute) to print the
coefficients as the float64 hex literals of fastinit/_elementary.py. The
printed values are the format's: a new fit is a new stream format version.
"""

import mpmath as mp

BAND_LOW = 0.0225  # p below this takes AS 241's logarithmic branch
BAND_HIGH = 0.075  # AS 241's central branch starts here
BAND_SCALE = 1 / (BAND_HIGH - BAND_LOW)  # float64 values: the kernel's own x
DEGREE = 7


def quantile(p):
    """Phi^-1(p), negative here."""
    return mp.sqrt(2) * mp.erfinv(2 * p - 1)


def fit(nodes=120, rounds=12, degree=DEGREE, digits=40):
    with mp.workdps(digits):
        lo, hi = mp.mpf(BAND_LOW) * mp.mpf("0.99"), mp.mpf(BAND_HIGH) * mp.mpf("1.001")
        ps = [(lo + hi) / 2 + (hi - lo) / 2 * mp.cos(mp.pi * (k + mp.mpf(1) / 2) / nodes) for k in range(nodes)]
        g = [quantile(p) for p in ps]
        x = [(p - mp.mpf(BAND_LOW)) * mp.mpf(BAND_SCALE) for p in ps]
        weight = [mp.mpf(1)] * nodes
        den = [mp.mpf(1)] * nodes
        for _ in range(rounds):
            a = mp.matrix(nodes, 2 * degree + 1)
            b = mp.matrix(nodes, 1)
            for i in range(nodes):
                scale = weight[i] / (den[i] * g[i])
                for j in range(degree + 1):
                    a[i, j] = x[i] ** j * scale
                for j in range(1, degree + 1):
                    a[i, degree + j] = -g[i] * x[i] ** j * scale
                b[i] = g[i] * scale
            c = mp.qr_solve(a, b)[0]
            num = [c[j] for j in range(degree + 1)]
            dcoef = [mp.mpf(1)] + [c[degree + j] for j in range(1, degree + 1)]
            err = []
            for i in range(nodes):
                den[i] = mp.polyval(dcoef[::-1], x[i])
                err.append(mp.polyval(num[::-1], x[i]) / den[i] / g[i] - 1)
            worst = max(abs(e) for e in err)
            weight = [weight[i] * (1 + abs(err[i]) / worst) for i in range(nodes)]
        return [float(v) for v in num], [float(v) for v in dcoef], float(worst)


if __name__ == "__main__":
    num, den, err = fit()
    print(f"max relative error of the fit on its nodes: {err:.2e}")
    print("numerator, x**0 first:  ", [v.hex() for v in num])
    print("denominator, x**0 first:", [v.hex() for v in den])
