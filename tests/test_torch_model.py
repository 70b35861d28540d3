"""The torch engine's model against Hugging Face's own Qwen2 and Llama implementations (tiny random
configs on the CPU): same logits for a whole prompt, and the same logits when the prompt is fed in
pieces through the KV cache (a cached prefix, a suffix, then single-token decode steps)."""

import pytest
import torch
from transformers.models.llama import LlamaConfig, LlamaForCausalLM
from transformers.models.qwen2 import Qwen2Config, Qwen2ForCausalLM

from inference.torch_engine.model import NAMED, ModelArgs, Transformer

TINY = dict(vocab_size=256, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            intermediate_size=128, max_position_embeddings=256, rms_norm_eps=1e-6)  # fmt: skip


def hf_and_ours(kind: str, tie: bool = False, rope_scaling: dict | None = None):
    torch.manual_seed(0)
    if kind == "qwen2":
        hf = Qwen2ForCausalLM(Qwen2Config(**TINY, rope_theta=10_000.0, tie_word_embeddings=tie,
                                          rope_scaling=rope_scaling))  # fmt: skip
    else:
        hf = LlamaForCausalLM(LlamaConfig(**TINY, rope_theta=500_000.0, tie_word_embeddings=tie))
    hf.eval()
    ours = Transformer(ModelArgs.from_hf_config(hf.config.to_dict()))
    ours.load_hf_state_dict(hf.state_dict())
    ours.setup_caches(64)
    return hf, ours.eval()


@pytest.mark.parametrize("kind, tie", [("qwen2", False), ("qwen2", True), ("llama", False)])
def test_whole_prompt_logits_match_hugging_face(kind, tie):
    hf, ours = hf_and_ours(kind, tie)
    tokens = torch.randint(0, 256, (1, 37))
    with torch.no_grad():
        expected = hf(tokens).logits
        got = ours(tokens, torch.arange(37))
    assert torch.allclose(got, expected, atol=1e-4, rtol=1e-4), (got - expected).abs().max()


def test_yarn_rope_scaling_matches_hugging_face_and_changes_the_logits():
    """Qwen2.5's documented YaRN (factor 4) over an original window of 32 positions, on a 100-token prompt:
    the same logits as transformers' YaRN; different logits from plain RoPE (the scaling does something)."""
    yarn = {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32}
    hf, ours = hf_and_ours("qwen2", rope_scaling=yarn)
    assert (ours.args.yarn_factor, ours.args.original_max_tokens) == (4.0, 32)
    ours.setup_caches(128)
    tokens = torch.randint(0, 256, (1, 100))
    with torch.no_grad():
        expected = hf(tokens).logits
        got = ours(tokens, torch.arange(100))
        ours.set_yarn(0.0, 0)
        plain = ours(tokens, torch.arange(100))
        ours.set_yarn(4.0, 32)
        again = ours(tokens, torch.arange(100))
    assert torch.allclose(got, expected, atol=1e-4, rtol=1e-4), (got - expected).abs().max()
    # plain RoPE is off by far more than our YaRN is (random tiny weights give small logits)
    assert (plain - expected).abs().max() > max(1e-3, 50 * (got - expected).abs().max())
    assert torch.equal(again, got)


def test_prompt_in_pieces_through_the_cache_matches_the_whole_prompt():
    hf, ours = hf_and_ours("qwen2")
    tokens = torch.randint(0, 256, (1, 40))
    with torch.no_grad():
        whole = hf(tokens).logits
        prefix = ours(tokens[:, :24], torch.arange(24))  # a cached prefix …
        suffix = ours(tokens[:, 24:33], torch.arange(24, 33))  # … a turn's suffix …
        steps = [ours(tokens[:, i : i + 1], torch.tensor([i])) for i in range(33, 40)]  # … and decode steps
    pieces = torch.cat([prefix, suffix, *steps], dim=1)
    assert torch.allclose(pieces, whole, atol=1e-4, rtol=1e-4), (pieces - whole).abs().max()


def test_a_prompt_longer_than_the_cache_is_refused():
    _, ours = hf_and_ours("qwen2")
    with pytest.raises(ValueError, match="past the cache"):
        ours(torch.zeros(1, 65, dtype=torch.long), torch.arange(65))


def test_weights_that_do_not_fit_the_config_are_refused():
    hf, _ = hf_and_ours("qwen2")
    smaller = Transformer(ModelArgs.from_hf_config({**hf.config.to_dict(), "num_hidden_layers": 1}))
    with pytest.raises((ValueError, RuntimeError)):
        smaller.load_hf_state_dict(hf.state_dict())


def test_the_8b_config_has_the_benchmark_shape():
    args = NAMED["llama-3-8b"]
    assert (args.n_layers, args.n_heads, args.n_kv_heads, args.head_dim) == (32, 32, 8, 128)


def test_a_hugging_face_safetensors_directory_loads_with_the_same_logits(tmp_path):
    from inference.torch_engine.weights import from_hf

    hf, _ = hf_and_ours("qwen2", tie=True)
    hf.save_pretrained(tmp_path, safe_serialization=True)
    loaded = from_hf(tmp_path, dtype=torch.float32, device="cpu")
    loaded.setup_caches(64)
    tokens = torch.randint(0, 256, (1, 20))
    with torch.no_grad():
        assert torch.allclose(loaded(tokens, torch.arange(20)), hf(tokens).logits, atol=1e-4, rtol=1e-4)


def test_the_packaged_gguf_reads_as_transformers_reads_it():
    """Our gguf-package reader of the packaged Qwen2.5-Coder-0.5B-Instruct gives transformers' config and
    weights (transformers dequantizes through the same package; it is the reference here)."""
    from inference.server.model_files import ModelFileError, resolve_model_path
    from inference.torch_engine.weights import read_gguf

    try:
        path = resolve_model_path()
    except ModelFileError as error:
        pytest.skip(f"packaged model not installed: {error}")
    from transformers import AutoConfig, AutoModelForCausalLM

    config, state = read_gguf(path)
    hf_config = AutoConfig.from_pretrained(path.parent, gguf_file=path.name).to_dict()
    for key in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                "intermediate_size", "max_position_embeddings", "rope_theta"):  # fmt: skip
        assert config[key] == hf_config[key], key
    hf_state = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32).state_dict()
    assert set(state) == set(hf_state)
    for name, tensor in state.items():
        assert torch.equal(tensor, hf_state[name]), name
    args = ModelArgs.from_hf_config(config)
    assert (args.n_layers, args.n_heads, args.n_kv_heads, args.head_dim) == (24, 14, 2, 64)
