"""Scenarios for tests/test_torch_distributed.py, run inside each rank of a real
gloo process group (127.0.0.1) that the test starts.

Each scenario builds a model on the meta device, shards it (FSDP2, tensor
parallelism or both), initializes it with fastinit, gathers every parameter
and buffer (``full_tensor()``) and compares it, bit for bit, with a
single-process ``initialize`` of the same unsharded model on the same rank. A
scenario returns a list of mismatch descriptions (empty: passed) or raises.
"""

import datetime
import os
import socket
import traceback

import torch
import torch.distributed as dist
import torch.nn as nn

import fastinit.torch as ft

SEED = 1234
COLLECTIVE_TIMEOUT_S = 60


# ---------------------------------------------------------------------------
# Models: dimensions chosen so that 2 and 4 ranks shard them unevenly
# ---------------------------------------------------------------------------
class Block(nn.Module):
    def __init__(self, width=10, hidden=22):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.up = nn.Linear(width, hidden)
        self.down = nn.Linear(hidden, width)

    def forward(self, x):
        return x + self.down(torch.relu(self.up(self.norm(x))))


class Net(nn.Module):
    """A small language-model-shaped net with its own init_weights (normal,
    truncated normal, xavier, zeros, and torch's reset_parameters)."""

    def __init__(self, vocab=13, width=10, hidden=22, layers=2):
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.blocks = nn.ModuleList(Block(width, hidden) for _ in range(layers))
        self.head = nn.Linear(width, 5, bias=False)

    def forward(self, tokens):
        x = self.embed(tokens)
        for block in self.blocks:
            x = block(x)
        return self.head(x)

    def init_weights(self):
        nn.init.normal_(self.embed.weight, std=0.02)
        for block in self.blocks:
            nn.init.trunc_normal_(block.up.weight, std=0.02)
            nn.init.zeros_(block.up.bias)
            nn.init.xavier_uniform_(block.down.weight)
            nn.init.zeros_(block.down.bias)
            block.norm.reset_parameters()
        self.head.reset_parameters()   # kaiming_uniform_


def mlp():
    """No init_weights: initialize runs every reset_parameters (kaiming + uniform bias)."""
    return nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3), nn.ReLU(), nn.Linear(3, 9))


def on_meta(build, dtype=None):
    with torch.device("meta"):
        model = build()
    return model.to(dtype) if dtype is not None else model


def reference(build, dtype=None):
    """The single-process, unsharded initialization."""
    return ft.initialize(on_meta(build), SEED, dtype=dtype)


def gathered(tensor):
    from torch.distributed.tensor import DTensor

    return tensor.full_tensor() if isinstance(tensor, DTensor) else tensor


def compare(model, expected):
    """Mismatches between the gathered model and the expected one."""
    problems = []
    want = dict([*expected.named_parameters(), *expected.named_buffers()])
    got = dict([*model.named_parameters(), *model.named_buffers()])
    if sorted(want) != sorted(got):
        problems.append(f"names differ: {sorted(set(want) ^ set(got))}")
    for name in sorted(set(want) & set(got)):
        a, b = gathered(got[name]).detach(), want[name].detach()
        if a.dtype != b.dtype or a.shape != b.shape:
            problems.append(f"{name}: {a.dtype} {tuple(a.shape)} != {b.dtype} {tuple(b.shape)}")
        elif not torch.equal(a.view(torch.uint8) if a.dtype == torch.bfloat16 else a,
                             b.view(torch.uint8) if b.dtype == torch.bfloat16 else b):
            problems.append(f"{name}: values differ (max |diff| {float((a.float() - b.float()).abs().max()):.3g})")
    return problems


def dtensor_names(model):
    from torch.distributed.tensor import DTensor

    return [name for name, p in model.named_parameters() if isinstance(p, DTensor)]


def placements_of(model):
    return {name: tuple(p.placements) for name, p in model.named_parameters() if hasattr(p, "placements")}


# ---------------------------------------------------------------------------
# Sharding recipes
# ---------------------------------------------------------------------------
def fsdp(model, mesh, units):
    from torch.distributed.fsdp import fully_shard

    for unit in units(model):
        fully_shard(unit, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def net_plan(sequence_parallel_norm=True):
    from torch.distributed.tensor import Replicate
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, SequenceParallel

    plan = {"embed": RowwiseParallel(input_layouts=Replicate()), "head": ColwiseParallel(output_layouts=Replicate())}
    for i in range(2):
        plan[f"blocks.{i}.up"] = ColwiseParallel()     # Shard(0) weight and bias
        plan[f"blocks.{i}.down"] = RowwiseParallel()   # Shard(1) weight, Replicate bias
        if sequence_parallel_norm:
            plan[f"blocks.{i}.norm"] = SequenceParallel()  # Replicate weight and bias
    return plan


def tensor_parallel(model, mesh, plan):
    from torch.distributed.tensor.parallel import parallelize_module

    return parallelize_module(model, mesh, plan)


def mesh_1d():
    from torch.distributed.device_mesh import init_device_mesh

    return init_device_mesh("cpu", (dist.get_world_size(),))


# ---------------------------------------------------------------------------
# Scenarios: name -> function returning a list of problems
# ---------------------------------------------------------------------------
def check_forward(model, expected, tokens=True):
    """The sharded model computes what the unsharded one does (to rounding:
    the reductions are split differently)."""
    x = torch.tensor([[1, 4, 2], [3, 0, 4]]) if tokens else torch.linspace(-1, 1, 10).reshape(2, 5)

    def run(m):
        out = m.eval()(x)  # eval: no dropout
        return gathered(getattr(out, "logits", out)).detach().float()

    got, want = run(model), run(expected)
    if not torch.isfinite(got).all():
        return ["forward gave non-finite values"]
    tolerance = 1e-2 if want.dtype != torch.float32 or next(expected.parameters()).dtype != torch.float32 else 1e-5
    if not torch.allclose(got, want, rtol=tolerance, atol=tolerance):
        return [f"forward differs from the unsharded model by {float((got - want).abs().max()):.3g}"]
    return []


def fsdp_per_layer(dtype=None, allocate="initialize"):
    mesh = mesh_1d()
    model = fsdp(on_meta(Net, dtype), mesh, lambda m: list(m.blocks))
    if allocate == "to_empty":
        model.to_empty(device="cpu")
    ft.initialize(model, SEED)
    expected = reference(Net, dtype)
    problems = compare(model, expected)
    if not dtensor_names(model):
        problems.append("no parameter was a DTensor")
    return problems + check_forward(model, expected)


def fsdp_default_init():
    mesh = mesh_1d()
    model = fsdp(on_meta(mlp), mesh, lambda m: [m[0], m[2], m[4]])
    ft.initialize(model, SEED)
    expected = reference(mlp)
    return compare(model, expected) + check_forward(model, expected, tokens=False)


def fsdp_dtype_argument():
    mesh = mesh_1d()
    model = fsdp(on_meta(Net), mesh, lambda m: list(m.blocks))
    ft.initialize(model, SEED, dtype=torch.bfloat16)
    return compare(model, reference(Net, torch.bfloat16))


def even_net():
    """Dimensions that 2 and 4 ranks divide: torch's tensor-parallel forward needs even shards."""
    return Net(vocab=12, width=8, hidden=16)


def tensor_parallel_plan(dtype=None, build=even_net, forward=True):
    from torch.distributed.tensor import Replicate, Shard

    mesh = mesh_1d()
    model = tensor_parallel(on_meta(build, dtype), mesh, net_plan(sequence_parallel_norm=False))
    ft.initialize(model, SEED)
    expected = reference(build, dtype)
    problems = compare(model, expected)
    placements = placements_of(model)
    for name, want in (("blocks.0.up.weight", (Shard(0),)), ("blocks.0.down.weight", (Shard(1),)),
                       ("blocks.0.down.bias", (Replicate(),)), ("embed.weight", (Shard(0),))):
        if placements.get(name) != want:
            problems.append(f"{name} is {placements.get(name)}, not {want}")
    return problems + (check_forward(model, expected) if forward else [])


def replicated_without_communication():
    """Replicated parameters are equal on every rank as filled: each rank's
    local shard is compared with the reference before any collective."""
    mesh = mesh_1d()
    model = tensor_parallel(on_meta(Net), mesh, net_plan())
    ft.initialize(model, SEED)
    expected = dict(reference(Net).named_parameters())
    problems = []
    from torch.distributed.tensor import Replicate

    count = 0
    for name, p in model.named_parameters():
        if hasattr(p, "placements") and all(isinstance(q, Replicate) for q in p.placements):
            count += 1
            if not torch.equal(p.to_local(), expected[name]):
                problems.append(f"{name}: local replica differs")
    return problems + ([] if count else ["no replicated parameter"])


def initialization_sends_nothing():
    """Ranks initialize one at a time while the others wait in a barrier: a
    collective inside initialize would not be matched (and would time out)."""
    mesh = mesh_1d()
    model = fsdp(on_meta(Net), mesh, lambda m: list(m.blocks))
    for turn in range(dist.get_world_size()):
        if dist.get_rank() == turn:
            ft.initialize(model, SEED)
        dist.barrier()
    return compare(model, reference(Net))


def two_dimensional():
    """FSDP x TP on a 2 x 2 mesh (4 ranks)."""
    from torch.distributed.device_mesh import init_device_mesh

    mesh = init_device_mesh("cpu", (2, 2), mesh_dim_names=("dp", "tp"))
    model = tensor_parallel(on_meta(Net), mesh["tp"], net_plan(sequence_parallel_norm=False))
    model = fsdp(model, mesh["dp"], lambda m: list(m.blocks))
    ft.initialize(model, SEED)
    problems = compare(model, reference(Net))
    if not any(len(p) == 2 for p in placements_of(model).values()):
        problems.append("no parameter on the 2-d mesh")
    return problems


def fast_init_on_shards():
    """fast_init: torch's reset_parameters on allocated DTensors, against the
    same calls on the unsharded model."""
    mesh = mesh_1d()
    model = fsdp(on_meta(mlp), mesh, lambda m: [m[0], m[2], m[4]])
    model.to_empty(device="cpu")
    single = on_meta(mlp).to_empty(device="cpu")
    for target in (model, single):
        with ft.fast_init(seed=SEED):
            for layer in (target[0], target[2], target[4]):
                layer.reset_parameters()
    return compare(model, single)


def partial_placement_raises():
    from torch.distributed.tensor import Partial, distribute_tensor

    mesh = mesh_1d()
    tensor = distribute_tensor(torch.zeros(8, 4), mesh, [Partial()])
    before = tensor.to_local().clone()
    try:
        with ft.fast_init(seed=SEED):
            nn.init.normal_(tensor)
    except ValueError as error:
        if "Partial" not in str(error):
            return [f"message does not name the placement: {error}"]
        return [] if torch.equal(tensor.to_local(), before) else ["the shard was written before the error"]
    return ["no error for a Partial placement"]


def drop_ins_on_shards():
    """fastinit.torch's drop-ins with seed= on row-, column- and 2-d-sharded
    DTensors equal the same call on the unsharded tensor."""
    from torch.distributed.tensor import Replicate, Shard, distribute_tensor

    mesh = mesh_1d()
    calls = {
        "uniform_": lambda t: ft.uniform_(t, -0.5, 0.25, seed=11),
        "normal_": lambda t: ft.normal_(t, 0.1, 0.02, seed=12),
        "trunc_normal_": lambda t: ft.trunc_normal_(t, std=0.5, a=-0.3, b=0.6, seed=13),
        "xavier_uniform_": lambda t: ft.xavier_uniform_(t, gain=1.5, seed=14),
        "kaiming_normal_": lambda t: ft.kaiming_normal_(t, mode="fan_out", seed=15),
    }
    problems = []
    for shape in ((13, 7), (6, 5, 3)):
        for placement in (Shard(0), Shard(1), Replicate()):
            for name, call in calls.items():
                for dtype in (torch.float32, torch.bfloat16):
                    plain = call(torch.empty(shape, dtype=dtype))
                    sharded = call(distribute_tensor(torch.zeros(shape, dtype=dtype), mesh, [placement]))
                    if not torch.equal(sharded.full_tensor().view(torch.int16 if dtype == torch.bfloat16 else dtype),
                                       plain.view(torch.int16 if dtype == torch.bfloat16 else dtype)):
                        problems.append(f"{name} {shape} {placement} {dtype}")
    try:
        ft.orthogonal_(distribute_tensor(torch.zeros(8, 4), mesh, [Shard(0)]), seed=1)
        problems.append("orthogonal_ of a DTensor did not raise")
    except TypeError as error:
        if "orthogonal_" not in str(error):
            problems.append(f"orthogonal_'s error does not name it: {error}")
    return problems


def part_of_a_sharded_parameter_raises():
    """A random fill of a slice of a DTensor parameter inside initialize: a clear error."""
    class Sliced(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.empty(8, 6))

        def reset_parameters(self):
            nn.init.normal_(self.weight[:2])

    from torch.distributed.tensor import Replicate, distribute_module, distribute_tensor

    mesh = mesh_1d()
    model = distribute_module(on_meta(Sliced), mesh,
                              lambda name, m, mesh: m.register_parameter(
                                  "weight", nn.Parameter(distribute_tensor(m.weight, mesh, [Replicate()]))))
    weight = model.weight
    try:
        ft.initialize(model, SEED)
    except ValueError as error:
        problems = [] if "weight" in str(error) and "part" in str(error) else [f"unclear error: {error}"]
        if not (model.weight is weight and weight.is_meta):  # all or nothing: the DTensor swapped back
            problems.append("the failed initialize left the sharded parameter allocated")
        return problems
    return ["no error for a fill of part of a sharded parameter"]


def _gpt2(dtype=None):
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(n_layer=2, n_embd=24, n_head=2, n_positions=16, vocab_size=51)
    return lambda: GPT2LMHeadModel(config)


def _llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(num_hidden_layers=2, hidden_size=24, intermediate_size=50, num_attention_heads=2,
                         num_key_value_heads=1, vocab_size=51, max_position_embeddings=16)
    return lambda: LlamaForCausalLM(config)


def transformers_model(kind, dtype=None):
    build = _gpt2() if kind == "gpt2" else _llama()
    layers = (lambda m: list(m.transformer.h)) if kind == "gpt2" else (lambda m: list(m.model.layers))
    mesh = mesh_1d()
    model = fsdp(on_meta(build, dtype), mesh, layers)
    ft.initialize(model, SEED)
    expected = reference(build, dtype)
    problems = compare(model, expected)
    if kind == "gpt2" and model.lm_head.weight is not model.transformer.wte.weight:
        problems.append("the tie of lm_head and wte was lost")
    return problems + check_forward(model, expected)


SCENARIOS = {
    "fsdp_per_layer_float32": lambda: fsdp_per_layer(),
    "fsdp_per_layer_bfloat16": lambda: fsdp_per_layer(torch.bfloat16),
    "fsdp_to_empty_then_initialize": lambda: fsdp_per_layer(allocate="to_empty"),
    "fsdp_default_init": fsdp_default_init,
    "fsdp_dtype_argument": fsdp_dtype_argument,
    "tensor_parallel_float32": lambda: tensor_parallel_plan(),
    "tensor_parallel_bfloat16": lambda: tensor_parallel_plan(torch.bfloat16),
    "tensor_parallel_uneven": lambda: tensor_parallel_plan(build=Net, forward=False),
    "replicated_without_communication": replicated_without_communication,
    "initialization_sends_nothing": initialization_sends_nothing,
    "fast_init_on_shards": fast_init_on_shards,
    "partial_placement_raises": partial_placement_raises,
    "drop_ins_on_shards": drop_ins_on_shards,
    "part_of_a_sharded_parameter_raises": part_of_a_sharded_parameter_raises,
    "gpt2_fsdp_per_layer_float32": lambda: transformers_model("gpt2"),
    "gpt2_fsdp_per_layer_bfloat16": lambda: transformers_model("gpt2", torch.bfloat16),
    "llama_fsdp_per_layer_float32": lambda: transformers_model("llama"),
    "llama_fsdp_per_layer_bfloat16": lambda: transformers_model("llama", torch.bfloat16),
    "two_dimensional": two_dimensional,
}

#: Scenarios per world size (the 2-d mesh needs 4 ranks).
BY_WORLD_SIZE = {
    2: [name for name in SCENARIOS if name != "two_dimensional"],
    4: ["fsdp_per_layer_float32", "fsdp_per_layer_bfloat16", "fsdp_default_init", "tensor_parallel_float32",
        "tensor_parallel_bfloat16", "tensor_parallel_uneven", "replicated_without_communication",
        "initialization_sends_nothing", "drop_ins_on_shards", "partial_placement_raises",
        "llama_fsdp_per_layer_float32", "gpt2_fsdp_per_layer_bfloat16", "two_dimensional"],
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(rank, world_size, port, names, results):
    """One rank: run the scenarios, put {name: problems or traceback} on ``results``."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    # a collective that waits longer than this raises (a rank that failed early) instead of hanging
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size,
                            timeout=datetime.timedelta(seconds=COLLECTIVE_TIMEOUT_S))
    report = {}
    try:
        for name in names:
            try:
                report[name] = SCENARIOS[name]()
            except Exception:  # noqa: BLE001 - reported to the test, which fails on it
                report[name] = [f"raised:\n{traceback.format_exc()[-3000:]}"]
            dist.barrier()
    finally:
        results.put((rank, report))
        dist.destroy_process_group()
