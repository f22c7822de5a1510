"""A transformers encoder: all requested layers from one forward pass, length-sorted batches."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Sequence

import numpy as np

from bench.encoders.base import TRANSFORMER_CAPABILITIES, Embeddings, check_finite
from bench.encoders.offline_e5 import FINGERPRINT_FILE
from bench.specs import EncodeSpec, Pooling, Requirement


def directory_fingerprint(model_dir: Path) -> str:
    """Hash of config, tokenizer and weights files (or the fingerprint recorded at build time)."""
    marker = model_dir / FINGERPRINT_FILE
    if marker.is_file():
        return json.loads(marker.read_text())["fingerprint"]
    digest = hashlib.sha256()
    patterns = ("config.json", "tokenizer.json", "tokenizer_config.json", "*.safetensors", "*.bin", "sentencepiece*.model")
    files = sorted({f for pattern in patterns for f in model_dir.glob(pattern) if f.is_file()})
    if not files:
        raise FileNotFoundError(f"{model_dir}: no config/weights files to fingerprint")
    for file in files:
        digest.update(file.name.encode())
        with open(file, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 22), b""):
                digest.update(chunk)
    return digest.hexdigest()


class TransformersEncoder:
    """Wraps a local transformers model directory (hub ids are resolved by `bench.encoders.sources`)."""

    def __init__(self, model_dir: str | Path, name: str | None = None, batch_size: int = 64,
                 device: str | None = None, threads: int | None = None):
        self.model_dir = Path(model_dir)
        self._name = name or self.model_dir.name
        self.batch_size = batch_size
        self.device = device
        self.threads = threads
        self._model = None
        self._tokenizer = None
        self._fingerprint: str | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = directory_fingerprint(self.model_dir)
        return self._fingerprint

    @property
    def num_layers(self) -> int:
        config = json.loads((self.model_dir / "config.json").read_text())
        return int(config["num_hidden_layers"])

    def capabilities(self, lang: str) -> frozenset[Requirement]:
        return TRANSFORMER_CAPABILITIES

    def space(self, lang: str) -> str:
        return self.fingerprint

    def weights(self) -> tuple[Path, str]:
        return self.model_dir, self.fingerprint

    def _load(self):
        if self._model is None:
            import torch
            from transformers import AutoModel, AutoTokenizer

            if self.threads:
                torch.set_num_threads(self.threads)
            device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            self._tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
            model = AutoModel.from_pretrained(self.model_dir, add_pooling_layer=False) \
                if _is_bert(self.model_dir) else AutoModel.from_pretrained(self.model_dir)
            self._model = model.to(device).eval()
            self.device = device
        return self._model, self._tokenizer

    def tokenize(self, texts: Sequence[str], spec: EncodeSpec) -> dict:
        _, tokenizer = self._load()
        return tokenizer(
            [spec.prefix + t for t in texts],
            truncation=True,
            max_length=spec.max_length,
            return_offsets_mapping=spec.keep_tokens,
            return_attention_mask=False,
            return_token_type_ids=False,
        )

    def length_sorted_batches(self, input_ids: list[list[int]]) -> list[np.ndarray]:
        order = np.argsort([-len(ids) for ids in input_ids], kind="stable")
        return [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]

    def pad(self, rows: list[list[int]]):
        import torch

        _, tokenizer = self._load()
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, : len(row)] = 1
        return ids.to(self.device), mask.to(self.device)

    def encode(self, texts: Sequence[str], lang: str, spec: EncodeSpec, progress: bool = False) -> Embeddings:
        import torch

        model, _ = self._load()
        texts = list(texts)
        if not texts:
            raise ValueError(f"nothing to encode for language {lang!r}")
        if max(spec.layers) > self.num_layers:
            raise ValueError(f"layer {max(spec.layers)} requested but {self.name} has {self.num_layers} layers")
        encoded = self.tokenize(texts, spec)
        input_ids = encoded["input_ids"]
        out_dtype = np.float16 if spec.dtype == "float16" else np.float32
        pooled = {layer: np.empty((len(texts), model.config.hidden_size), out_dtype) for layer in spec.layers}
        token_rows: dict[int, list] = {layer: [None] * len(texts) for layer in spec.layers}
        batches = self.length_sorted_batches(input_ids)
        if progress:
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc=f"encode {self.name} [{lang}]", unit="batch", leave=False)
        with torch.inference_mode():
            for batch in batches:
                ids, mask = self.pad([input_ids[i] for i in batch])
                hidden = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
                weights = mask.unsqueeze(-1).to(hidden[0].dtype)
                for layer in spec.layers:
                    states = hidden[layer]
                    if spec.pooling is Pooling.MEAN:
                        vectors = (states * weights).sum(1) / weights.sum(1)
                    else:
                        vectors = states[:, 0]
                    pooled[layer][batch] = vectors.float().cpu().numpy()
                    if spec.keep_tokens:
                        states_np = states.float().cpu().numpy().astype(out_dtype)
                        lengths = mask.sum(1).tolist()
                        for row, index in enumerate(batch):
                            token_rows[layer][index] = states_np[row, : lengths[row]]
        for layer in spec.layers:
            check_finite(pooled[layer], f"{self.name} layer {layer} [{lang}]")
        if not spec.keep_tokens:
            return Embeddings(pooled=pooled)
        lengths = np.array([len(ids) for ids in input_ids], dtype=np.int64)
        offsets = np.concatenate([np.asarray(o, dtype=np.int64).reshape(-1, 2) for o in encoded["offset_mapping"]])
        offsets = np.clip(offsets - len(spec.prefix), 0, None)
        offsets[offsets[:, 1] <= 0] = 0
        tokens = {layer: np.concatenate(token_rows[layer]) for layer in spec.layers}
        return Embeddings(pooled=pooled, tokens=tokens, lengths=lengths, offsets=offsets)


def _is_bert(model_dir: Path) -> bool:
    try:
        return json.loads((model_dir / "config.json").read_text()).get("model_type") == "bert"
    except (OSError, ValueError):
        return False
