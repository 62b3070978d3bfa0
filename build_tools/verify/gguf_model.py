"""A tiny llama-architecture GGUF model with random weights, generated here (no download).

Ollama creates a model from it (``/api/create``) and llama.cpp loads and runs it, which proves
the build's runner, CPU backend and - where a GPU is used - CUDA kernels work. The text it
generates is nonsense, but deterministic: same seed, same file, same greedy completion.

Choices that keep every Ollama generation (v0.4 - v0.33) happy:

* SentencePiece vocabulary (``tokenizer.ggml.model = llama``) with ``<unk> <s> </s>``, all 256
  byte tokens ``<0x00>``..``<0xFF>`` (llama.cpp's SPM tokenizer falls back to them for unknown
  characters and throws if one is missing), then word pieces. No merges, no pre-tokenizer.
* The output rows of control and byte tokens are zero, so their logits are 0 while some word
  piece always scores higher: greedy decoding never emits ``</s>`` at once (an empty completion)
  nor half a UTF-8 sequence.
* F16 matrices, F32 norms, ``general.file_type = 1`` (MOSTLY_F16): a type every CPU and CUDA
  backend supports, and one Ollama's Go GGUF reader names.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

__all__ = ["TinyModel", "TinyModelSpec", "write_tiny_model"]

ARCHITECTURE = "llama"

# Word pieces after the letters: enough to make a readable-ish completion.
_WORDS = (
    *("the", "of", "and", "to", "in", "is", "it", "that", "for", "on", "with", "as", "was"),
    *("by", "at", "be", "this", "from", "or", "an", "are", "not", "but", "have", "one", "all"),
    *("can", "will", "gpu", "cuda", "model", "build", "tiny", "ollama", "test", "run", "token"),
    *("layer", "kernel", "arch", "code", "fast", "slow", "card", "light", "shade", "river"),
    *("stone", "cloud", "north"),
)


@dataclass(frozen=True, kw_only=True)
class TinyModelSpec:
    """Dimensions of the generated model. The defaults give a file of about 0.3 MB."""

    seed: int = 0
    n_layer: int = 2
    n_embd: int = 64
    n_head: int = 2
    n_head_kv: int = 2
    n_ff: int = 128
    context_length: int = 4096
    rms_eps: float = 1e-5
    rope_freq_base: float = 10000.0


@dataclass(frozen=True, kw_only=True)
class TinyModel:
    path: Path
    sha256: str  # hex digest, what /api/blobs and /api/create name the file by
    size: int
    vocab_size: int
    spec: TinyModelSpec


def vocabulary() -> tuple[list[str], list[float], list[int]]:
    """Tokens, scores and token types of the SentencePiece vocabulary."""
    tokens = ["<unk>", "<s>", "</s>"]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    tokens += [f"<0x{byte:02X}>" for byte in range(256)]
    types += [gguf.TokenType.BYTE] * 256
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    pieces = ["\u2581", *letters, *(f"\u2581{c}" for c in letters), *(f"\u2581{w}" for w in _WORDS)]
    tokens += pieces
    types += [gguf.TokenType.NORMAL] * len(pieces)
    # SPM merges the pair whose result scores highest: prefer longer pieces.
    scores = [0.0] * (3 + 256) + [float(len(p)) - i / 1000 for i, p in enumerate(pieces)]
    return tokens, scores, [int(t) for t in types]


def _tensors(spec: TinyModelSpec, n_vocab: int, silent: list[int]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(spec.seed)
    head_dim = spec.n_embd // spec.n_head
    kv_dim = head_dim * spec.n_head_kv

    def matrix(rows: int, cols: int) -> np.ndarray:
        # numpy shape (rows, cols) is GGUF/ggml ne = (cols, rows): a (cols -> rows) projection.
        values: np.ndarray = rng.standard_normal((rows, cols)) / np.sqrt(cols)
        return values.astype(np.float16)

    def norm() -> np.ndarray:
        return np.ones(spec.n_embd, dtype=np.float32)

    output = matrix(n_vocab, spec.n_embd)
    output[silent, :] = 0  # control and byte tokens never win the argmax (see module doc)
    tensors = {"token_embd.weight": matrix(n_vocab, spec.n_embd)}
    for layer in range(spec.n_layer):
        prefix = f"blk.{layer}"
        tensors |= {
            f"{prefix}.attn_norm.weight": norm(),
            f"{prefix}.attn_q.weight": matrix(spec.n_embd, spec.n_embd),
            f"{prefix}.attn_k.weight": matrix(kv_dim, spec.n_embd),
            f"{prefix}.attn_v.weight": matrix(kv_dim, spec.n_embd),
            f"{prefix}.attn_output.weight": matrix(spec.n_embd, spec.n_embd),
            f"{prefix}.ffn_norm.weight": norm(),
            f"{prefix}.ffn_gate.weight": matrix(spec.n_ff, spec.n_embd),
            f"{prefix}.ffn_down.weight": matrix(spec.n_embd, spec.n_ff),
            f"{prefix}.ffn_up.weight": matrix(spec.n_ff, spec.n_embd),
        }
    tensors |= {"output_norm.weight": norm(), "output.weight": output}
    return tensors


def _write_metadata(writer: gguf.GGUFWriter, spec: TinyModelSpec, n_vocab: int) -> None:
    writer.add_name(f"build-tools tiny llama (seed {spec.seed})")
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    writer.add_vocab_size(n_vocab)
    writer.add_context_length(spec.context_length)
    writer.add_embedding_length(spec.n_embd)
    writer.add_block_count(spec.n_layer)
    writer.add_feed_forward_length(spec.n_ff)
    writer.add_head_count(spec.n_head)
    writer.add_head_count_kv(spec.n_head_kv)
    writer.add_layer_norm_rms_eps(spec.rms_eps)
    writer.add_rope_dimension_count(spec.n_embd // spec.n_head)
    writer.add_rope_freq_base(spec.rope_freq_base)


def write_tiny_model(path: Path, spec: TinyModelSpec | None = None) -> TinyModel:
    """Write the model to ``path`` (overwriting it) and return what describes it."""
    spec = spec or TinyModelSpec()
    if spec.n_embd % spec.n_head or spec.n_head % spec.n_head_kv:
        raise ValueError("n_embd must divide by n_head, and n_head by n_head_kv")
    tokens, scores, types = vocabulary()
    silent = [i for i, t in enumerate(types) if t != gguf.TokenType.NORMAL]
    writer = gguf.GGUFWriter(path, ARCHITECTURE)
    _write_metadata(writer, spec, len(tokens))
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_add_bos_token(True)
    for name, tensor in _tensors(spec, len(tokens), silent).items():
        writer.add_tensor(name, tensor)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return TinyModel(
        path=path, sha256=digest, size=path.stat().st_size, vocab_size=len(tokens), spec=spec
    )
