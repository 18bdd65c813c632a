"""Sharded initialization: per-rank time and memory of ``fastinit.torch.initialize``
on an FSDP2-sharded transformers model, for 1 and 2 ranks, against one process
initializing the unsharded model.

    python bench/sharded_init.py                          # GPT-2 small (124M), float32, 1 and 2 ranks
    python bench/sharded_init.py --model llama-1b --dtype bfloat16 --rounds 2

Every rank is a process of a gloo process group on 127.0.0.1 with
``cores / ranks`` threads (so 2 ranks share this machine's cores as 2 machines
would not: the per-rank figures are an upper bound). Each round builds the
model on the meta device, shards it per decoder layer (``fully_shard``) and
times ``initialize`` alone; memory is the bytes of the rank's local shards
(and buffers) and its peak resident set growth over the rounds (the model of
a round is freed before the next). One warm-up round first.
Prints a Markdown table of medians.
"""

import argparse
import gc
import os
import socket
import statistics
import sys
import time

MODELS = ("gpt2", "llama-1b")


def _config(name):
    from transformers import GPT2Config, LlamaConfig

    if name == "gpt2":
        return GPT2Config()  # GPT-2 small: 124M parameters
    return LlamaConfig(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
                       num_key_value_heads=4, vocab_size=32000, max_position_embeddings=2048)


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss_bytes():
    """The resident set's high-water mark (VmHWM) since the last _reset_peak()."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))


def _reset_peak():
    """Start the high-water mark at the current resident set (Linux's clear_refs "5")."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    return _rss_bytes()


def _on_meta(config, dtype):
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config, dtype=dtype)


def _layers(model):
    inner = getattr(model, "transformer", None) or model.model
    return list(getattr(inner, "h", None) or inner.layers)


def _local_bytes(model):
    total = 0
    for tensor in [*model.parameters(), *model.buffers()]:
        local = tensor.to_local() if hasattr(tensor, "to_local") else tensor
        total += local.numel() * local.element_size()
    return total


def _timed_initialize(model):
    import fastinit.torch as ft

    gc.collect()
    start = time.perf_counter()
    ft.initialize(model, seed=0)
    return time.perf_counter() - start, _local_bytes(model)


def _warm():
    import torch

    import fastinit.torch as ft

    for n in (10, 100_000):  # load the cached kernels, start the threads
        ft.normal_(torch.empty(n), seed=0)
        ft.uniform_(torch.empty(n), seed=0)


def single_process(model_name, dtype_name, rounds):
    import torch

    _warm()
    config, dtype = _config(model_name), getattr(torch, dtype_name)
    runs, baseline = [], _reset_peak()
    for r in range(rounds + 1):
        model = _on_meta(config, dtype)
        result = _timed_initialize(model)
        del model
        if r:
            runs.append(result)
    return runs, _peak_rss_bytes() - baseline


def rank_main(rank, world_size, port, model_name, dtype_name, rounds, results):
    import torch
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    try:
        _warm()
        mesh = init_device_mesh("cpu", (world_size,))
        config, dtype = _config(model_name), getattr(torch, dtype_name)
        runs, baseline = [], _reset_peak()
        for r in range(rounds + 1):
            model = _on_meta(config, dtype)
            for layer in _layers(model):
                fully_shard(layer, mesh=mesh)
            fully_shard(model, mesh=mesh)
            dist.barrier()
            result = _timed_initialize(model)
            del model
            if r:
                runs.append(result)
        results.put((rank, (runs, _peak_rss_bytes() - baseline)))
    finally:
        dist.destroy_process_group()


def sharded(world_size, model_name, dtype_name, rounds):
    import multiprocessing

    cores = os.cpu_count() or 1
    threads = str(max(1, cores // world_size))
    saved = {k: os.environ.get(k) for k in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS")}
    os.environ.update(NUMBA_NUM_THREADS=threads, OMP_NUM_THREADS=threads)
    try:
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        ranks = [context.Process(target=rank_main, args=(rank, world_size, port, model_name, dtype_name, rounds,
                                                         results)) for rank in range(world_size)]
        for process in ranks:
            process.start()
        reports = dict(results.get(timeout=1800) for _ in ranks)
        for process in ranks:
            process.join()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return reports, threads


def _row(label, ranks, threads, report):
    runs, peak = report
    times = [t for t, _ in runs]
    local = statistics.median(b for _, b in runs) / 2**20
    return (f"| {label} | {ranks} | {threads} | {statistics.median(times):.3f} | "
            f"{', '.join(f'{t:.3f}' for t in times)} | {local:.0f} | {peak / 2**20:.0f} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=MODELS, default="gpt2")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--ranks", type=int, action="append", help="world sizes (default 1 and 2)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    import torch

    print(f"{args.model}, {args.dtype}, {args.rounds} rounds, torch {torch.__version__}, "
          f"{os.cpu_count()} cores\n")
    print("| initialize | ranks | threads per rank | median per rank (s) | all rounds (s) | "
          "parameters + buffers held per rank (MiB) | peak resident growth per rank (MiB) |")
    print("|---|---:|---:|---:|---|---:|---:|")
    report = single_process(args.model, args.dtype, args.rounds)
    print(_row("one process, unsharded", 1, torch.get_num_threads(), report), flush=True)
    for world_size in args.ranks or [1, 2]:
        reports, threads = sharded(world_size, args.model, args.dtype, args.rounds)
        slowest = max(reports.values(), key=lambda report: statistics.median(t for t, _ in report[0]))
        print(_row("FSDP2 per layer, slowest rank", world_size, threads, slowest), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
