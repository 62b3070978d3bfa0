"""The generated tiny model, read back with gguf.GGUFReader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest

from build_tools.verify.gguf_model import TinyModelSpec, vocabulary, write_tiny_model


def _value(reader: gguf.GGUFReader, key: str) -> Any:
    field = reader.get_field(key)
    assert field is not None, f"missing metadata key {key}"
    return field.contents()


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gguf") / "tiny.gguf"
    write_tiny_model(path)
    return path


def test_metadata_ollama_and_llama_cpp_need(model_path: Path) -> None:
    reader = gguf.GGUFReader(model_path)
    spec = TinyModelSpec()
    assert _value(reader, "general.architecture") == "llama"
    assert _value(reader, "general.file_type") == int(gguf.LlamaFileType.MOSTLY_F16)
    expected = {
        "llama.context_length": spec.context_length,
        "llama.embedding_length": 64,
        "llama.block_count": 2,
        "llama.feed_forward_length": 128,
        "llama.attention.head_count": 2,
        "llama.attention.head_count_kv": 2,
        "llama.rope.dimension_count": 32,
    }
    assert {key: _value(reader, key) for key in expected} == expected
    assert _value(reader, "llama.attention.layer_norm_rms_epsilon") == pytest.approx(1e-5)
    assert _value(reader, "tokenizer.ggml.model") == "llama"
    tokens = _value(reader, "tokenizer.ggml.tokens")
    assert _value(reader, "llama.vocab_size") == len(tokens)
    assert len(_value(reader, "tokenizer.ggml.scores")) == len(tokens)
    assert len(_value(reader, "tokenizer.ggml.token_type")) == len(tokens)
    ids = [_value(reader, f"tokenizer.ggml.{k}_token_id") for k in ("unknown", "bos", "eos")]
    assert [tokens[i] for i in ids] == ["<unk>", "<s>", "</s>"]


def test_vocabulary_is_spm_with_every_byte_token_and_unique_pieces() -> None:
    tokens, scores, types = vocabulary()
    assert len(set(tokens)) == len(tokens)
    assert [f"<0x{b:02X}>" for b in range(256)] == [
        t for t, k in zip(tokens, types, strict=True) if k == gguf.TokenType.BYTE
    ]
    assert "\u2581the" in tokens
    assert len(scores) == len(tokens)
    assert 300 < len(tokens) < 512


def test_tensor_names_shapes_and_types(model_path: Path) -> None:
    reader = gguf.GGUFReader(model_path)
    n_vocab = len(vocabulary()[0])
    tensors = {t.name: t for t in reader.tensors}
    # ggml order: ne[0] is the input dimension.
    shapes = {name: [int(n) for n in t.shape] for name, t in tensors.items()}
    assert shapes["token_embd.weight"] == [64, n_vocab]
    assert shapes["output.weight"] == [64, n_vocab]
    assert shapes["output_norm.weight"] == [64]
    for layer in (0, 1):
        blk = f"blk.{layer}"
        assert shapes[f"{blk}.attn_q.weight"] == [64, 64]
        assert shapes[f"{blk}.attn_k.weight"] == [64, 64]
        assert shapes[f"{blk}.attn_v.weight"] == [64, 64]
        assert shapes[f"{blk}.attn_output.weight"] == [64, 64]
        assert shapes[f"{blk}.ffn_gate.weight"] == [64, 128]
        assert shapes[f"{blk}.ffn_up.weight"] == [64, 128]
        assert shapes[f"{blk}.ffn_down.weight"] == [128, 64]
        assert shapes[f"{blk}.attn_norm.weight"] == [64]
        assert shapes[f"{blk}.ffn_norm.weight"] == [64]
    assert len(tensors) == 3 + 2 * 9
    assert tensors["blk.0.attn_q.weight"].tensor_type == gguf.GGMLQuantizationType.F16
    assert tensors["blk.0.attn_norm.weight"].tensor_type == gguf.GGMLQuantizationType.F32


def test_control_and_byte_tokens_can_never_win_greedy_decoding(model_path: Path) -> None:
    reader = gguf.GGUFReader(model_path)
    output = next(t for t in reader.tensors if t.name == "output.weight")
    rows = np.asarray(output.data).reshape(-1, 64)
    types = vocabulary()[2]
    silent = [i for i, k in enumerate(types) if k != gguf.TokenType.NORMAL]
    assert not rows[silent].any()
    assert rows[len(silent) :].any(axis=1).all()


def test_deterministic_per_seed(tmp_path: Path) -> None:
    a = write_tiny_model(tmp_path / "a.gguf")
    b = write_tiny_model(tmp_path / "b.gguf")
    c = write_tiny_model(tmp_path / "c.gguf", TinyModelSpec(seed=1))
    assert a.sha256 == b.sha256
    assert a.sha256 != c.sha256
    assert a.size == (tmp_path / "a.gguf").stat().st_size
    assert a.size < 400_000


def test_rejects_inconsistent_dimensions(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n_head"):
        write_tiny_model(tmp_path / "x.gguf", TinyModelSpec(n_embd=64, n_head=3))
