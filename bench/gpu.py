"""fastinit on a real NVIDIA GPU: the same bits as the CPU, and throughput.

    python bench/gpu.py                          # 1e8 elements, every distribution and dtype
    python bench/gpu.py -n 10000000 --rounds 5 --output gpu.json
    python bench/gpu.py --simulate -n 3000       # Numba's CUDA simulator: the script's own check

Part 1 (bits): each case of tests/stream_cases.py (every distribution, the
truncated normal's regimes) in float32, float64, float16 and bfloat16 is
filled on the device (a Numba device array) and on the CPU (NumPy), and the
two are compared bit for bit: mismatches and the first differing index.

Part 2 (throughput, float32/float64): medians of ``--rounds`` timed fills
(CUDA events, after a warm-up that compiles the kernel), in G samples/s,
beside the device's own fill bandwidth (fastinit's constant kernel, and
``torch.empty(n, device="cuda").fill_(0)`` where torch has CUDA) and torch's
CUDA ``uniform_``/``normal_``/``trunc_normal_``, CuPy's and JAX's generators
where installed.

Part 3 (models, where torch has CUDA and transformers is installed): GPT-2
(124M) and a 4-layer Llama built on the meta device, then
``fastinit.torch.initialize(model, seed, device="cuda")``, compared tensor by
tensor with ``initialize`` on the CPU, and timed (median of ``--rounds``, with
the allocation) beside torch's own build on the GPU (``with
torch.device("cuda"): Model(config)``, torch's generator).

Prints Markdown tables; ``--output`` writes the figures as JSON. Exits 1 if any
case's bits differ.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=100_000_000, help="elements per fill (default 1e8)")
    parser.add_argument("--rounds", type=int, default=7, help="timed fills per case (default 7)")
    parser.add_argument("--seed", type=int, default=20261203)
    parser.add_argument("--output", help="write the figures as JSON here")
    parser.add_argument("--simulate", action="store_true", help="run in Numba's CUDA simulator (small -n)")
    return parser.parse_args()


def bits(a):
    import numpy as np
    a = np.asarray(a)
    return a.view(f"u{a.dtype.itemsize}")


def compare_bits(args):
    import numpy as np
    from numba import cuda

    from tests.stream_cases import CASES, DTYPES, fill
    rows = []
    offset = 2**34 - 777  # across the counter's 2**32 carry, inside a block
    for dtype in DTYPES:
        for label, distribution, arguments in CASES:
            device = cuda.device_array(args.n, dtype)
            fill(device, distribution, arguments, args.seed, offset)
            got = device.copy_to_host()
            expected = fill(np.empty(args.n, dtype), distribution, arguments, args.seed, offset)
            differ = np.flatnonzero(bits(got) != bits(expected))
            rows.append({"dtype": str(np.dtype(dtype)), "case": label, "n": args.n, "mismatches": int(differ.size),
                         "first": int(differ[0]) if differ.size else None})
            print(f"| {np.dtype(dtype)} | {label} | {args.n} | {differ.size} |"
                  f" {differ[0] if differ.size else ''} |", flush=True)
            del device
    return rows


def timed(function, rounds, synchronize):
    """Median and range of ``rounds`` calls, in seconds (after one warm-up call)."""
    function()
    synchronize()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        function()
        synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), max(times)


def throughput(args):
    import numpy as np
    from numba import cuda

    import fastinit
    rows = []
    sync = cuda.synchronize

    def add(library, dtype, what, function, synchronize=sync):
        try:
            median, low, high = timed(function, args.rounds, synchronize)
        except Exception as error:  # noqa: BLE001 - a library that cannot run here is reported, not fatal
            print(f"| {library} | {dtype} | {what} | failed: {type(error).__name__}: {error} |", flush=True)
            return
        rate = args.n / median / 1e9
        rows.append({"library": library, "dtype": dtype, "what": what, "g_per_s": rate,
                     "gb_per_s": rate * np.dtype(dtype).itemsize, "median_s": median, "min_s": low, "max_s": high})
        print(f"| {library} | {dtype} | {what} | {rate:.2f} | {rate * np.dtype(dtype).itemsize:.0f} |", flush=True)

    for dtype in ("float32", "float64"):
        d = cuda.device_array(args.n, dtype)
        add("fastinit", dtype, "constant (bandwidth)", lambda: fastinit.fill_constant(d, 0.0))
        add("fastinit", dtype, "uniform", lambda: fastinit.fill_uniform(d, -1.0, 1.0, seed=1))
        add("fastinit", dtype, "normal", lambda: fastinit.fill_normal(d, 0.0, 0.02, seed=2))
        add("fastinit", dtype, "truncated_normal", lambda: fastinit.fill_truncated_normal(d, 0.0, 0.02, -0.04, 0.04,
                                                                                         seed=3))
        d = None  # noqa: F841 - the array's memory back before the next dtype
    try:
        import torch
        if torch.cuda.is_available():
            for dtype in ("float32", "float64"):
                t = torch.empty(args.n, dtype=getattr(torch, dtype), device="cuda")
                tsync = torch.cuda.synchronize
                add("torch", dtype, "fill_ (bandwidth)", lambda: t.fill_(0), tsync)
                add("torch", dtype, "uniform", lambda: t.uniform_(-1, 1), tsync)
                add("torch", dtype, "normal", lambda: t.normal_(0, 0.02), tsync)
                add("torch", dtype, "truncated_normal", lambda: torch.nn.init.trunc_normal_(t, 0, 0.02, -0.04, 0.04),
                    tsync)
                del t
    except ImportError:
        print("| torch | | not installed | |")
    try:
        import cupy
        generator = cupy.random.default_rng(0)
        out = cupy.empty(args.n, cupy.float32)
        csync = cupy.cuda.runtime.deviceSynchronize
        add("cupy", "float32", "uniform", lambda: generator.random(args.n, dtype=cupy.float32, out=out), csync)
        add("cupy", "float32", "normal", lambda: generator.standard_normal(args.n, dtype=cupy.float32, out=out), csync)
    except ImportError:
        print("| cupy | | not installed | |")
    try:
        import jax
        if any(device.platform == "gpu" for device in jax.devices()):
            key = jax.random.key(0)
            uniform = jax.jit(lambda k: jax.random.uniform(k, (args.n,)))
            normal = jax.jit(lambda k: jax.random.normal(k, (args.n,)))
            box = {}
            add("jax", "float32", "uniform", lambda: box.update(x=uniform(key)),
                lambda: box["x"].block_until_ready())
            add("jax", "float32", "normal", lambda: box.update(x=normal(key)), lambda: box["x"].block_until_ready())
        else:
            print("| jax | | no GPU backend | |")
    except ImportError:
        print("| jax | | not installed | |")
    return rows


def models(args):
    """Part 3: transformers models initialized on the GPU against the CPU build, and timed."""
    try:
        import torch
        import transformers
    except ImportError:
        print("| (torch or transformers not installed) | | | |")
        return []
    if not torch.cuda.is_available():
        print("| (torch has no CUDA here) | | | |")
        return []
    import fastinit.torch as ft
    configs = {
        "gpt2 (124M)": (transformers.GPT2LMHeadModel, transformers.GPT2Config()),
        "llama (4 layers, 2048 wide)": (transformers.LlamaForCausalLM, transformers.LlamaConfig(
            num_hidden_layers=4, hidden_size=2048, intermediate_size=5632, num_attention_heads=16,
            num_key_value_heads=4, vocab_size=32000)),
    }
    rows = []
    for label, (model_class, config) in configs.items():
        def ours():
            with torch.device("meta"):
                model = model_class(config)
            return ft.initialize(model, 0, device="cuda")

        def theirs():
            with torch.device("cuda"):
                return model_class(config)

        gpu = ours()
        cpu = ft.initialize(model_class(config), 0)
        names = [name for name, a in cpu.state_dict().items()]
        differing = [name for name, a in cpu.state_dict().items() if not torch.equal(gpu.state_dict()[name].cpu(), a)]
        del gpu, cpu
        times = {}
        for what, build in (("fastinit", ours), ("torch", theirs)):
            samples = []
            for _ in range(args.rounds):
                torch.cuda.synchronize()
                start = time.perf_counter()
                model = build()
                torch.cuda.synchronize()
                samples.append(time.perf_counter() - start)
                del model
            times[what] = statistics.median(samples)
        ratio = times["fastinit"] / times["torch"]
        rows.append({"model": label, "tensors": len(names), "differing": differing, "seconds": times, "ratio": ratio})
        print(f"| {label} | {len(names) - len(differing)} of {len(names)} | {times['fastinit']:.3f} | "
              f"{times['torch']:.3f} | {ratio:.2f}x |", flush=True)
    return rows


def main():
    args = parse()
    if args.simulate:
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
    sys.path.insert(0, ROOT)
    from numba import cuda

    if not args.simulate and not cuda.is_available():
        print("no CUDA device: run with --simulate, or on a machine with an NVIDIA GPU", file=sys.stderr)
        return 2
    device = "Numba's CUDA simulator" if args.simulate else cuda.get_current_device().name
    device = device.decode() if isinstance(device, bytes) else device
    print(f"# fastinit on {device}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, host {platform.machine()}")
    print(f"\ncommand: python bench/gpu.py {' '.join(sys.argv[1:])}\n\n## Bits: device fill vs CPU fill\n")
    print("| dtype | case | n | mismatches | first |\n|---|---|---:|---:|---:|")
    compared = compare_bits(args)
    result = {"device": device, "n": args.n, "bits": compared}
    if not args.simulate:
        print("\n## Throughput (medians)\n\n| library | dtype | what | G samples/s | GB/s |\n|---|---|---|---:|---:|")
        result["throughput"] = throughput(args)
        print("\n## Models: initialize(device='cuda') vs the CPU build, and vs torch's own build on the GPU\n")
        print("| model | tensors equal to the CPU's | fastinit s | torch s | ratio |\n|---|---:|---:|---:|---:|")
        result["models"] = models(args)
    if args.output:
        with open(args.output, "w") as f:
            json.dump(result, f, indent=1)
    bad = [row for row in compared if row["mismatches"]]
    print(f"\n{len(compared) - len(bad)} of {len(compared)} cases equal the CPU bit for bit")
    models_differing = [row["model"] for row in result.get("models", ()) if row["differing"]]
    if models_differing:
        print(f"models with tensors that differ from the CPU build: {', '.join(models_differing)}")
    return 1 if bad or models_differing else 0


if __name__ == "__main__":
    sys.exit(main())
