"""The orthogonal initializer's QR: Householder reflections in a fixed order of IEEE operations.

LAPACK's QR (``np.linalg.qr``, ``torch.linalg.qr``) is not one function: its
blocking, its BLAS kernels, their use of fused multiply-adds and their
threading depend on the library build and the CPU, so its last bits differ
between machines. This QR is unblocked Householder (LAPACK's ``dgeqr2`` and
``dorg2r``) with every operation written out and rounded on its own, so its
bits depend on the input matrix alone:

* reflector ``k`` of column ``x = A[k:, k]``: ``s = x_k*x_k + x_{k+1}*x_{k+1} + ...``
  summed in row order, ``norm = sqrt(s)``, ``beta = -norm`` if ``x_k >= 0`` else
  ``norm``, ``tau = (beta - x_k) / beta``, ``v_i = x_i / (x_k - beta)`` for
  ``i > k``, ``v_k = 1`` (``tau = 0``, ``beta = x_k`` where ``s`` equals
  ``x_k*x_k``: nothing to reflect); ``beta`` is ``R[k, k]``, and the
  transformed ``A[k, j]`` for ``j > k`` are the rest of row ``k`` of ``R``;
* applying it to a column ``y``: ``w = v_k y_k + v_{k+1} y_{k+1} + ...`` in row
  order, ``t = tau * w``, then ``y_i = y_i - v_i * t``;
* ``Q`` is the reflectors applied in reverse order to the first ``n`` columns
  of the identity; column ``k`` of the result is multiplied by ``-gain``
  where ``R[k, k] < 0``, else by ``gain`` (``R`` with a positive diagonal:
  ``Q`` is then Haar distributed).

Each column is transformed on its own, so the work is cut into chunks of
columns that stay in cache while a panel of reflectors passes over them, and
chunks run on parallel threads; neither changes a bit.
"""

import numba
import numpy as np

from ._jit import parallel_kernel

#: Reflectors applied to a chunk of columns before the next panel (cache reuse only).
PANEL = 32
#: Columns per chunk (a chunk of a 4096-row matrix is 512 KiB).
CHUNK = 16


@numba.njit(inline="always", error_model="numpy")
def _reflect(a, vt, tau, k, rows, first, last):
    """Apply reflector ``k`` (``vt[k]``, ``tau[k]``) to columns first..last-1
    of ``a`` (rows k..rows-1)."""
    width = last - first
    if width <= 0 or tau[k] == 0.0:
        return
    w = np.zeros(CHUNK)
    for i in range(k, rows):
        vi = vt[k, i]
        for j in range(width):
            w[j] += vi * a[i, first + j]
    for j in range(width):
        w[j] = tau[k] * w[j]
    for i in range(k, rows):
        vi = vt[k, i]
        for j in range(width):
            a[i, first + j] -= vi * w[j]


@numba.njit(inline="always", error_model="numpy")
def _householder(a, vt, tau, beta, k, rows):
    """Reflector k from column k of ``a`` (already transformed by reflectors 0..k-1)."""
    alpha = a[k, k]
    s = alpha * alpha
    for i in range(k + 1, rows):
        s += a[i, k] * a[i, k]
    vt[k, k] = 1.0
    if s == alpha * alpha:  # nothing below the diagonal (or too small to square)
        tau[k] = 0.0
        beta[k] = alpha
        for i in range(k + 1, rows):
            vt[k, i] = 0.0
        return
    norm = np.sqrt(s)
    b = -norm if alpha >= 0.0 else norm
    tau[k] = (b - alpha) / b
    beta[k] = b
    d = alpha - b
    for i in range(k + 1, rows):
        vt[k, i] = a[i, k] / d


@parallel_kernel
def _qr_in_place(a, r, gain, fix_signs):
    """Overwrite ``a`` (float64, C-contiguous, rows >= cols) with the Q of its
    QR times ``gain``; with ``fix_signs``, column k times ``-gain`` where
    R[k, k] < 0. ``r``: a (cols, cols) array that receives R, or an empty one."""
    rows, cols = a.shape
    vt = np.zeros((cols, rows))
    tau = np.zeros(cols)
    beta = np.zeros(cols)
    chunks = (cols + CHUNK - 1) // CHUNK
    for k0 in range(0, cols, PANEL):
        k1 = min(k0 + PANEL, cols)
        for k in range(k0, k1):  # the panel, column by column
            _householder(a, vt, tau, beta, k, rows)
            for first in range(k + 1, k1, CHUNK):
                _reflect(a, vt, tau, k, rows, first, min(first + CHUNK, k1))
        for c in numba.prange(chunks):  # the panel's reflectors on every later column
            first = max(c * CHUNK, k1)
            last = min(c * CHUNK + CHUNK, cols)
            for k in range(k0, k1):
                _reflect(a, vt, tau, k, rows, first, last)
    if r.shape[0] == cols:
        for i in range(cols):
            for j in range(cols):
                r[i, j] = beta[i] if i == j else (a[i, j] if j > i else 0.0)
    for i in range(rows):  # Q = H_0 ... H_{cols-1} [I; 0], accumulated from the last reflector
        for j in range(cols):
            a[i, j] = 1.0 if i == j else 0.0
    for c in numba.prange(chunks):
        first = c * CHUNK
        last = min(first + CHUNK, cols)
        for k in range(last - 1, -1, -1):
            _reflect(a, vt, tau, k, rows, max(k, first), last)
    for i in numba.prange(rows):
        for j in range(cols):
            a[i, j] *= -gain if fix_signs and beta[j] < 0.0 else gain


_NO_R = np.empty((0, 0))


def orthonormal_columns(a, gain):
    """Overwrite ``a`` (float64, C-contiguous, rows >= cols) with the Q of its
    QR times ``gain``, signs fixed so that R has a positive diagonal (Haar)."""
    _qr_in_place(a, _NO_R, float(gain), True)
    return a


def qr(a):
    """(Q, R) of a float64 matrix with rows >= cols (reduced, as
    ``numpy.linalg.qr``); ``a`` is not changed."""
    q = np.array(a, dtype=np.float64, order="C")
    r = np.empty((q.shape[1], q.shape[1]))
    _qr_in_place(q, r, 1.0, False)
    return q, r
