"""AlignFreeze: contrastive realignment with the lower half of the encoder frozen.

Bakos et al. (2025), "AlignFreeze: Navigating the Impact of Realignment on the Layers of Multilingual
Models Across Diverse Languages", NAACL. Realignment (here `contrastive-align`, Wu & Dredze 2020) can
hurt transfer by disturbing the lower layers; freezing half of the layers keeps what they hold. The
default freezes blocks 1-6 of the offline encoder's 12 (and, at our CPU budget, the embedding matrix,
which the authors' code leaves trainable). Everything else is `methods/contrastive_align.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.registry import method
from bench.specs import Category, MethodSpec
from methods.contrastive_align import SPEC, ContrastiveAlign


@method(MethodSpec(
    name="align-freeze",
    category=Category.C,
    version="1",
    citation="Bakos et al. 2025 (NAACL); objective of Wu & Dredze 2020 (EMNLP)",
    summary="contrastive word realignment with the lower half of the layers frozen",
    **SPEC,
))
@dataclass
class AlignFreeze(ContrastiveAlign):
    freeze_layers: int = 6
