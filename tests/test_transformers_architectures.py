"""initialize, empty_init and fast_init across transformers architectures, against the library's own init.

The oracle is transformers itself: each model is built twice with its own
initialization under two torch seeds. An element equal in both builds is
deterministic in the library's routine (zero biases, unit norms, zero padding
rows, computed buffers), and fastinit's result must hold the same value there;
ties must be the library's; and fastinit's result must not depend on torch's
generator (none of these architectures draws a buffer with torch's generator in
a constructor and leaves it to its routine, so that holds for every tensor).
A meta-device build initializes to the same bits as a normal build, or, where a
constructor computes a tensor the routine never writes (CLIP's logit_scale),
initialize refuses it and leaves the model as it was. Every architecture is
tiny (2 layers, width 16-64, vocabulary 100, 16-pixel images).
"""

import functools
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

transformers = pytest.importorskip("transformers")
accelerate = pytest.importorskip("accelerate")

from transformers.utils import logging as hf_logging  # noqa: E402

import fastinit.torch as ft  # noqa: E402

hf_logging.set_verbosity_error()

SEED = 3
V = 100  # vocabulary
TOKENS = dict(bos_token_id=2, eos_token_id=3)
LM = dict(vocab_size=V, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
          num_key_value_heads=2, max_position_embeddings=64, pad_token_id=0, **TOKENS)


def _text_tower():
    return dict(vocab_size=V, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                max_position_embeddings=32, **TOKENS)


def _vision_tower():
    return dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, image_size=16,
                patch_size=4, num_channels=3)


def _auto(config):
    return lambda: transformers.AutoModel.from_config(config)


def _cls(name, config):
    return lambda: getattr(transformers, name)(config)


# name -> () -> (constructor of the model, with no arguments)
ARCHITECTURES = {
    "mistral": lambda: _cls("MistralForCausalLM", transformers.MistralConfig(**LM, sliding_window=16)),
    "phi3": lambda: _cls("Phi3ForCausalLM", transformers.Phi3Config(**LM)),
    "mixtral": lambda: _cls("MixtralForCausalLM", transformers.MixtralConfig(**LM, num_local_experts=4,
                                                                             num_experts_per_tok=2)),
    "qwen2_moe": lambda: _cls("Qwen2MoeForCausalLM", transformers.Qwen2MoeConfig(
        **LM, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, shared_expert_intermediate_size=32)),
    "mamba": lambda: _cls("MambaForCausalLM", transformers.MambaConfig(
        vocab_size=V, hidden_size=32, state_size=4, num_hidden_layers=2, expand=2, conv_kernel=4, pad_token_id=0,
        **TOKENS)),
    "mamba2": lambda: _cls("Mamba2ForCausalLM", transformers.Mamba2Config(
        vocab_size=V, hidden_size=32, state_size=8, num_heads=4, head_dim=16, n_groups=1, expand=2,
        num_hidden_layers=2, conv_kernel=4, chunk_size=16, pad_token_id=1, **TOKENS)),
    "whisper": lambda: _cls("WhisperForConditionalGeneration", transformers.WhisperConfig(
        vocab_size=V, num_mel_bins=8, encoder_layers=2, decoder_layers=2, d_model=32, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, max_source_positions=16,
        max_target_positions=16, pad_token_id=1, decoder_start_token_id=2, suppress_tokens=[],
        begin_suppress_tokens=[], **TOKENS)),
    "gpt_neox": lambda: _cls("GPTNeoXForCausalLM", transformers.GPTNeoXConfig(
        vocab_size=V, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=64, **TOKENS)),
    "falcon": lambda: _cls("FalconForCausalLM", transformers.FalconConfig(
        vocab_size=V, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, **TOKENS)),
    "t5": lambda: _cls("T5ForConditionalGeneration", transformers.T5Config(
        vocab_size=V, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, relative_attention_num_buckets=8,
        pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)),
    "vit": lambda: _auto(transformers.ViTConfig(**_vision_tower())),
    "dinov2": lambda: _auto(transformers.Dinov2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, mlp_ratio=2, image_size=16, patch_size=4)),
    "swin": lambda: _auto(transformers.SwinConfig(
        image_size=16, patch_size=2, embed_dim=16, depths=[1, 1], num_heads=[2, 2], window_size=2)),
    "siglip": lambda: _auto(transformers.SiglipConfig(
        text_config=dict(_text_tower(), pad_token_id=1), vision_config=_vision_tower())),
    "convnext": lambda: _auto(transformers.ConvNextConfig(
        num_channels=3, patch_size=2, num_stages=2, hidden_sizes=[8, 16], depths=[1, 1], image_size=16)),
    "gemma": lambda: _cls("GemmaForCausalLM", transformers.GemmaConfig(**LM, head_dim=8)),
    "gemma2": lambda: _cls("Gemma2ForCausalLM", transformers.Gemma2Config(
        **LM, head_dim=8, sliding_window=16)),
    "bart": lambda: _cls("BartForConditionalGeneration", transformers.BartConfig(
        vocab_size=V, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64,
        pad_token_id=1, decoder_start_token_id=2, forced_eos_token_id=3, **TOKENS)),
    "roberta": lambda: _cls("RobertaForMaskedLM", transformers.RobertaConfig(
        vocab_size=V, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=64, pad_token_id=1, **TOKENS)),
    "deberta_v2": lambda: _cls("DebertaV2ForMaskedLM", transformers.DebertaV2Config(
        vocab_size=V, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=64, pad_token_id=0, relative_attention=True, position_buckets=8,
        pos_att_type=["p2c", "c2p"], **TOKENS)),
    "opt": lambda: _cls("OPTForCausalLM", transformers.OPTConfig(
        vocab_size=V, hidden_size=32, num_hidden_layers=2, ffn_dim=64, num_attention_heads=4,
        max_position_embeddings=64, word_embed_proj_dim=32, pad_token_id=1, **TOKENS)),
    "clip": lambda: _auto(transformers.CLIPConfig(
        text_config=dict(_text_tower(), pad_token_id=1), vision_config=_vision_tower(), projection_dim=16)),
    "gpt2": lambda: _cls("GPT2LMHeadModel", transformers.GPT2Config(
        vocab_size=V, n_embd=32, n_layer=2, n_head=4, n_positions=64, **TOKENS)),
    "llama": lambda: _cls("LlamaForCausalLM", transformers.LlamaConfig(**LM)),
}
NAMES = list(ARCHITECTURES)

#: Embedding rows that the library's init zeroes (padding_idx): (tensor name, row).
PADDING = {
    "mistral": [("model.embed_tokens.weight", 0)],
    "phi3": [("model.embed_tokens.weight", 0)],
    "mixtral": [("model.embed_tokens.weight", 0)],
    "qwen2_moe": [("model.embed_tokens.weight", 0)],
    "whisper": [("model.decoder.embed_tokens.weight", 1)],
    "gemma": [("model.embed_tokens.weight", 0)],
    "gemma2": [("model.embed_tokens.weight", 0)],
    "bart": [("model.shared.weight", 1)],
    "roberta": [("roberta.embeddings.word_embeddings.weight", 1), ("roberta.embeddings.position_embeddings.weight", 1)],
    "deberta_v2": [("deberta.embeddings.word_embeddings.weight", 0)],
    "opt": [("model.decoder.embed_tokens.weight", 1)],
    "llama": [("model.embed_tokens.weight", 0)],
}

#: Tied output heads: (head weight, embedding weight), one tensor in the library's build.
HEAD_TIES = {
    "mamba": ("lm_head.weight", "backbone.embeddings.weight"),
    "whisper": ("proj_out.weight", "model.decoder.embed_tokens.weight"),
    "falcon": ("lm_head.weight", "transformer.word_embeddings.weight"),
    "t5": ("lm_head.weight", "shared.weight"),
    "gemma": ("lm_head.weight", "model.embed_tokens.weight"),
    "gemma2": ("lm_head.weight", "model.embed_tokens.weight"),
    "bart": ("lm_head.weight", "model.shared.weight"),
    "roberta": ("lm_head.decoder.weight", "roberta.embeddings.word_embeddings.weight"),
    "deberta_v2": ("cls.predictions.decoder.weight", "deberta.embeddings.word_embeddings.weight"),
    "opt": ("lm_head.weight", "model.decoder.embed_tokens.weight"),
    "gpt2": ("lm_head.weight", "transformer.wte.weight"),
}

#: Architectures whose meta-device build initialize refuses, with the tensors it names: tensors that
#: a constructor computes and the model's routine does not write (CLIP's logit_scale).
META_REFUSALS = {"clip": ["logit_scale"]}
#: The same under accelerate.init_empty_weights() (parameters on meta, buffers real).
ACCELERATE_REFUSALS = {"clip": ["logit_scale"]}


def constructor(arch):
    return ARCHITECTURES[arch]()


def build(arch, torch_seed=0):
    torch.manual_seed(torch_seed)
    return constructor(arch)()


def tensors(model):
    """name -> tensor, every name of every parameter and buffer (tied places included)."""
    return {**dict(model.named_parameters(remove_duplicate=False)),
            **dict(model.named_buffers(remove_duplicate=False))}


def ties(model):
    """The groups (of two names or more) of places holding one tensor."""
    groups = {}
    for name, tensor in tensors(model).items():
        groups.setdefault(id(tensor), []).append(name)
    return sorted(sorted(g) for g in groups.values() if len(g) > 1)


def snapshot(model):
    return {name: t.detach().clone() for name, t in tensors(model).items()}


@functools.lru_cache(maxsize=None)
def library(arch):
    """(values under torch seed 0, values under torch seed 1, ties) of the library's own init."""
    a, b = build(arch, 0), build(arch, 1)
    assert ties(a) == ties(b)
    return snapshot(a), snapshot(b), ties(a)


@functools.lru_cache(maxsize=None)
def deterministic(arch):
    """name -> (library value, mask of the elements equal in both library builds)."""
    a, b, _ = library(arch)
    assert a.keys() == b.keys()
    out = {}
    for name in a:
        x, y = a[name], b[name]
        assert x.shape == y.shape and x.dtype == y.dtype, name
        out[name] = (x, (x == y) | (x.isnan() & y.isnan()) if x.is_floating_point() else x == y)
    return out


@functools.lru_cache(maxsize=None)
def initialized(arch, torch_seed=0):
    """initialize(normal build under torch_seed, seed=SEED): (values, ties)."""
    model = ft.initialize(build(arch, torch_seed), seed=SEED)
    return snapshot(model), ties(model)


def assert_library_deterministic(arch, values):
    """At every element deterministic in the library's init, ``values`` holds the library's value."""
    oracle = deterministic(arch)
    assert values.keys() == oracle.keys()
    for name, (expected, mask) in oracle.items():
        got = values[name]
        assert got.shape == expected.shape and got.dtype == expected.dtype, name
        bad = mask & (got != expected)
        if bad.any():
            index = tuple(int(i) for i in bad.nonzero()[0])
            raise AssertionError(f"{arch} {name}{list(index)}: {got[index].item()!r}, the library's "
                                 f"{expected[index].item()!r} ({int(bad.sum())} of {int(mask.sum())} "
                                 f"deterministic elements differ)")


def assert_random_drawn(arch, values):
    """Where the library draws at random, the values are not the library's (torch seed 0)."""
    a, _, _ = library(arch)
    drawn = 0
    for name, (expected, mask) in deterministic(arch).items():
        random = ~mask
        if random.any():
            drawn += 1
            assert not torch.equal(values[name][random], a[name][random]), name
    assert drawn


def assert_equal(actual, expected, what):
    assert actual.keys() == expected.keys(), what
    for name in expected:
        a, e = actual[name], expected[name]
        assert a.device.type == "cpu" and a.dtype == e.dtype and a.shape == e.shape, (what, name)
        assert torch.equal(a, e), (what, name)


def assert_head_tied(arch, model):
    if arch in HEAD_TIES:
        head, embedding = HEAD_TIES[arch]
        assert model.get_parameter(head) is model.get_parameter(embedding)


parametrize = pytest.mark.parametrize("arch", NAMES)


@parametrize
def test_library_oracle(arch):
    """The oracle itself: padding rows zero and head ties where the library has them."""
    oracle = deterministic(arch)
    for name, row in PADDING.get(arch, []):
        value, mask = oracle[name]
        assert mask[row].all() and not value[row].any(), name
        assert not mask.all(), name
    model = build(arch)
    assert_head_tied(arch, model)
    assert {p.dtype for p in model.parameters()} == {torch.float32}


@parametrize
def test_initialize_normal_build(arch):
    values, tied = initialized(arch, 0)
    assert tied == library(arch)[2]
    assert_library_deterministic(arch, values)
    assert_random_drawn(arch, values)
    for name, row in PADDING.get(arch, []):
        assert not values[name][row].any(), name
    other, other_tied = initialized(arch, 1)
    assert other_tied == tied
    assert_equal(other, values, "initialize under another torch seed")


@parametrize
def test_empty_init_then_initialize(arch):
    make = constructor(arch)
    torch.manual_seed(7)
    with ft.empty_init():
        model = make()
    ft.initialize(model, seed=SEED)
    assert ties(model) == library(arch)[2]
    assert_head_tied(arch, model)
    assert_equal(snapshot(model), initialized(arch)[0], "empty_init + initialize")


def _initialize_or_refuse(arch, model, refusals, what):
    """initialize(model); if ``arch`` is in ``refusals``, the RuntimeError naming its tensors and the model
    left as it was. Whether it refused."""
    before = {name: (t.is_meta, t.device.type, t.shape, t.dtype) for name, t in tensors(model).items()}
    tied = ties(model)
    try:
        ft.initialize(model, seed=SEED)
    except RuntimeError as error:
        message = str(error)
        assert arch in refusals, f"{arch}: {what}: unexpected refusal: {message}"
        assert "fastinit.torch.empty_init()" in message, message
        for name in refusals[arch]:
            assert name in message and before[name][0], (name, message)
        after = {name: (t.is_meta, t.device.type, t.shape, t.dtype) for name, t in tensors(model).items()}
        assert after == before, "the model is left as it was"
        assert ties(model) == tied
        return True
    assert arch not in refusals, f"{arch}: {what}: initialize did not refuse"
    return False


@parametrize
def test_meta_device_then_initialize(arch):
    make = constructor(arch)
    with torch.device("meta"):
        model = make()
    assert all(t.is_meta for t in tensors(model).values())
    if _initialize_or_refuse(arch, model, META_REFUSALS, "meta device"):
        assert all(t.is_meta for t in tensors(model).values())
    else:
        assert ties(model) == library(arch)[2]
        assert_head_tied(arch, model)
        assert_equal(snapshot(model), initialized(arch)[0], "meta + initialize")


@parametrize
def test_accelerate_init_empty_weights_then_initialize(arch):
    make = constructor(arch)
    torch.manual_seed(0)
    with accelerate.init_empty_weights():
        model = make()
    if not _initialize_or_refuse(arch, model, ACCELERATE_REFUSALS, "accelerate.init_empty_weights"):
        assert ties(model) == library(arch)[2]
        assert_head_tied(arch, model)
        assert_equal(snapshot(model), initialized(arch)[0], "init_empty_weights + initialize")


@parametrize
def test_fast_init_around_a_normal_build(arch):
    make = constructor(arch)
    results = []
    for torch_seed in (0, 1):
        torch.manual_seed(torch_seed)
        with ft.fast_init(seed=SEED):
            model = make()
        assert ties(model) == library(arch)[2]
        results.append(snapshot(model))
    assert_library_deterministic(arch, results[0])
    assert_random_drawn(arch, results[0])
    assert_equal(results[1], results[0], "fast_init under another torch seed")
