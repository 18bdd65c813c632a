import numpy as np, time
from fastinit import _kernels as K
w = [np.uint64(v) for v in (1, 2, 1, 32)]
for name, p in (("uniform", K.Uniform(0.0, 1.0, 0.99)), ("normal", K.Normal(0.0, 1.0))):
    for n in [2**k for k in range(10, 20)]:
        o = np.empty(n, np.float32)
        res = {}
        for f in (K.fill_serial, K.fill_parallel):
            f(o, p, *w, np.uint64(0))
            reps = max(3, 2**22 // n)
            best = 1e9
            for _ in range(5):
                t = time.perf_counter()
                for _ in range(reps): f(o, p, *w, np.uint64(0))
                best = min(best, (time.perf_counter() - t) / reps)
            res[f.py_func.__name__] = best
        print(f"{name:8s} n=2^{n.bit_length()-1:2d} serial {res['fill_serial']*1e6:8.1f} us  parallel {res['fill_parallel']*1e6:8.1f} us  ratio {res['fill_serial']/res['fill_parallel']:.2f}")
