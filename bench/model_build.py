"""Building transformers models from their configs: torch's default init against
``fastinit.torch.fast_init`` and against meta device + ``fastinit.torch.initialize``.

    python bench/model_build.py                      # GPT-2 small (124M), float32, 5 rounds
    python bench/model_build.py --model llama-1b --dtype bfloat16 --dtype float32 --rounds 2

Each round builds the model once per method, in turn (interleaved, so the
machine's drift hits every method alike), in one process, after one warm-up
round; the model of the previous build is freed before the next. Prints a
Markdown table of medians and the speedups over torch's default.
"""

import argparse
import gc
import statistics
import time

import torch
from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig
from transformers.utils import logging as hf_logging

import fastinit.torch as ft

MODELS = {
    "gpt2": lambda: GPT2Config(),  # GPT-2 small: 124M parameters
    # a TinyLlama-shaped ~1.1B-parameter Llama
    "llama-1b": lambda: LlamaConfig(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                                    num_attention_heads=32, num_key_value_heads=4, vocab_size=32000,
                                    max_position_embeddings=2048),
}


def torch_default(config, dtype):
    return AutoModelForCausalLM.from_config(config, dtype=dtype)


def fast_init(config, dtype):
    with ft.fast_init(seed=0):
        return AutoModelForCausalLM.from_config(config, dtype=dtype)


def meta_initialize(config, dtype):
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    return ft.initialize(model, seed=0)


METHODS = {"torch default": torch_default, "fast_init": fast_init, "meta + initialize": meta_initialize}


def measure(config, dtype, rounds):
    times = {name: [] for name in METHODS}
    for r in range(rounds + 1):
        for name, build in METHODS.items():
            gc.collect()
            start = time.perf_counter()
            model = build(config, dtype)
            elapsed = time.perf_counter() - start
            del model
            if r:  # round 0 warms up
                times[name].append(elapsed)
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="gpt2")
    parser.add_argument("--dtype", action="append", choices=["float32", "bfloat16"])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    hf_logging.set_verbosity_error()
    for n in (10, 100_000):  # load the cached kernels, start the threads
        ft.normal_(torch.empty(n), seed=0)
        ft.uniform_(torch.empty(n), seed=0)
    config = MODELS[args.model]()
    print(f"{args.model}, {args.rounds} interleaved rounds, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads\n")
    print("| model | dtype | method | median (s) | all rounds (s) | speedup over torch default |")
    print("|---|---|---|---:|---|---:|")
    for dtype_name in args.dtype or ["float32"]:
        times = measure(config, getattr(torch, dtype_name), args.rounds)
        base = statistics.median(times["torch default"])
        for name, values in times.items():
            median = statistics.median(values)
            print(f"| {args.model} | {dtype_name} | {name} | {median:.3f} | "
                  f"{', '.join(f'{v:.3f}' for v in values)} | {base / median:.1f}x |")


if __name__ == "__main__":
    main()
