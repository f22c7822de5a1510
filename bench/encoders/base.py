"""The Encoder contract and the embeddings it returns."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from bench.specs import EncodeSpec, Requirement


@dataclass(frozen=True)
class Embeddings:
    """Vectors for N texts at each requested layer.

    `pooled[layer]` is [N, H]. With `EncodeSpec.keep_tokens`, `tokens[layer]` is [T, H] for all
    N texts' tokens concatenated (special tokens included), `lengths` [N] says how many belong to
    each text and `offsets` [T, 2] gives each token's character span in the original text
    (without the prefix); special and prefix tokens have the span (0, 0).
    """

    pooled: dict[int, np.ndarray]
    tokens: dict[int, np.ndarray] | None = None
    lengths: np.ndarray | None = None
    offsets: np.ndarray | None = None

    def __len__(self) -> int:
        return len(next(iter(self.pooled.values())))

    def layer(self, layer: int) -> np.ndarray:
        try:
            return self.pooled[layer]
        except KeyError:
            raise KeyError(f"layer {layer} was not encoded; have {sorted(self.pooled)}") from None

    def token_states(self, layer: int, index: int) -> np.ndarray:
        if self.tokens is None or self.lengths is None:
            raise ValueError("token states were not kept: encode with EncodeSpec(keep_tokens=True)")
        starts = np.concatenate([[0], np.cumsum(self.lengths)])
        return self.tokens[layer][starts[index] : starts[index + 1]]


@runtime_checkable
class Encoder(Protocol):
    """Anything that turns texts of one language into vectors.

    `fingerprint` changes whenever the vectors could change (weights, tokenizer, fitted map).
    `space(lang)` names the vector space of `lang` (independent encoders give languages different ones);
    `capabilities(lang)` says what it offers beyond pooled vectors for texts in `lang` (token states,
    trainable weights), so the plan can tell which cells cannot run before running them; `weights()`
    is the trainable model behind it (directory, fingerprint), or None.
    """

    @property
    def name(self) -> str: ...

    @property
    def fingerprint(self) -> str: ...

    @property
    def num_layers(self) -> int: ...

    def capabilities(self, lang: str) -> frozenset[Requirement]: ...

    def space(self, lang: str) -> str:
        """Which vector space texts in `lang` land in (the fingerprint of the model that encodes them):
        two languages are comparable without a fitted map only when their spaces are equal."""

    def weights(self) -> tuple[Path, str] | None: ...

    def encode(self, texts: Sequence[str], lang: str, spec: EncodeSpec, progress: bool = False) -> Embeddings:
        """`progress` asks for a progress bar on long encodes; encoders that cannot show one ignore it."""


TRANSFORMER_CAPABILITIES = frozenset({Requirement.TOKEN_STATES, Requirement.TRAINABLE_WEIGHTS})


def check_finite(array: np.ndarray, what: str) -> np.ndarray:
    """Fail loudly on NaN/inf vectors instead of letting them turn into silent scores."""
    if not np.isfinite(array).all():
        bad = np.unique(np.argwhere(~np.isfinite(array))[:, 0])[:5].tolist()
        raise ValueError(f"{what}: non-finite values in rows {bad} (of {len(array)})")
    return array


def trainable_model(encoder: Encoder) -> tuple[Path, str]:
    """(model directory, its fingerprint) behind `encoder`, through wrappers that leave vectors unchanged.

    The fine-tune protocol trains that model itself; a wrapper that changes vectors (a fitted
    mapping) has no weights to fine-tune, so it is refused with a clear error.
    """
    found = encoder.weights()
    if found is None:
        raise TypeError(f"{encoder.name}: the fine-tune protocol needs trainable encoder weights; an offline "
                        "mapping or a sentence-level encoder only gives frozen vectors (use the frozen protocol)")
    return found
