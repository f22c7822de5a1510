"""Readers for the word-level formats (CoNLL-U, PAN-X / CoNLL-2002 columns).

How words become vectors (words joined by spaces, first sub-token) lives in `bench.wordvectors`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import conllu

from bench.textio import DataFormatError, read_lines

_UD_COLUMNS = 10
# Columns no UdSentence field reads stay conllu's raw strings: parsing FEATS, DEPS and MISC into
# dicts was about half the reading time, and conllu accepts any value in them anyway.
_RAW_COLUMNS = {name: (lambda line, i: line[i]) for name in ("lemma", "xpos", "feats", "deps", "misc")}


@dataclass(frozen=True)
class UdSentence:
    sent_id: str
    words: tuple[str, ...]
    upos: tuple[str, ...]
    heads: tuple[int, ...]  # 0 = root, else the 1-based index of the head word
    deprels: tuple[str, ...]
    text: str = ""  # the `# text` line, for the leakage guard
    text_en: str = ""  # PUD's `# text_en` English translation, for the leakage guard


@dataclass(frozen=True)
class TaggedSentence:
    words: tuple[str, ...]
    tags: tuple[str, ...]


def _validate_block(path: Path, lines: list[tuple[int, str]]) -> None:
    """Column count, word ids and head ranges of one sentence, with the offending line number."""
    words = []
    for number, line in lines:
        if line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != _UD_COLUMNS:
            raise DataFormatError(path, number, f"CoNLL-U line has {len(fields)} columns, expected {_UD_COLUMNS}")
        if fields[0].isdigit():
            words.append((number, int(fields[0]), fields[6]))
        elif "-" not in fields[0] and "." not in fields[0]:
            raise DataFormatError(path, number, f"invalid word id {fields[0]!r}")
    for expected, (number, word_id, head) in enumerate(words, 1):
        if word_id != expected:
            raise DataFormatError(path, number, f"word id {word_id} out of sequence (expected {expected})")
        if not head.isdigit() or int(head) > len(words):
            raise DataFormatError(path, number, f"head {head!r} out of range 0..{len(words)}")


def read_conllu(path: Path) -> list[UdSentence]:
    """Sentences of a CoNLL-U file; multiword-token ranges and empty nodes are skipped."""
    lines = read_lines(path, "CoNLL-U file", allow_empty=True)
    blocks, current = [], []
    for number, line in enumerate(lines, 1):
        if line.strip():
            current.append((number, line))
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    sentences = []
    for block in blocks:
        _validate_block(path, block)
        try:
            (parsed,) = conllu.parse("\n".join(line for _, line in block) + "\n\n", field_parsers=_RAW_COLUMNS)
        except Exception as error:  # conllu's own parse errors, with our line numbers
            raise DataFormatError(path, block[0][0], f"CoNLL-U sentence does not parse: {error}") from error
        words = [token for token in parsed if isinstance(token["id"], int)]
        if not words:
            raise DataFormatError(path, block[0][0], "sentence without words")
        sentences.append(UdSentence(
            sent_id=parsed.metadata.get("sent_id", f"{path.name}:{block[0][0]}"),
            words=tuple(t["form"] for t in words), upos=tuple(t["upos"] for t in words),
            heads=tuple(int(t["head"]) for t in words), deprels=tuple(t["deprel"] for t in words),
            text=parsed.metadata.get("text", ""), text_en=parsed.metadata.get("text_en", ""),
        ))
    return sentences


def read_tagged_columns(path: Path, scheme: str = "IOB2", separator: str | None = "\t", tag_column: int = -1,
                        types: Collection[str] | None = None) -> list[TaggedSentence]:
    """PAN-X (`token<TAB>tag`) or CoNLL-2002 (`token tag`) files; blank lines end sentences.

    Tags must be O, B-X or I-X, with X one of `types` when given (the dataset's entity types). A
    file with I- tags but no B- tag at all is IOB1, not IOB2, and is rejected. A single I- tag that
    continues no entity (CoNLL-2002 Spanish has one, where an entity crosses a sentence break) is
    kept as it is: strict IOB2 scoring does not count it as an entity.
    """
    if scheme != "IOB2":
        raise ValueError(f"unsupported tag scheme {scheme!r}: only IOB2 is implemented")
    sentences, words, tags = [], [], []
    for number, line in enumerate(read_lines(path, "tagged column file", allow_empty=True), 1):
        if not line.strip() or line.startswith("-DOCSTART-"):
            if words:
                sentences.append(TaggedSentence(tuple(words), tuple(tags)))
                words, tags = [], []
            continue
        fields = line.split(separator)
        if len(fields) < 2:
            raise DataFormatError(path, number, f"expected a token and a tag, got {line!r}")
        tag = fields[tag_column]
        if tag != "O" and (tag[:2] not in ("B-", "I-") or len(tag) < 3):
            raise DataFormatError(path, number, f"tag {tag!r} is not in the IOB2 scheme (O, B-X, I-X)")
        if types is not None and tag != "O" and tag[2:] not in types:
            raise DataFormatError(path, number, f"tag {tag!r}: entity type {tag[2:]!r} is not one of {sorted(types)}")
        words.append(fields[0])
        tags.append(tag)
    if words:
        sentences.append(TaggedSentence(tuple(words), tuple(tags)))
    if not sentences:
        raise DataFormatError(path, None, "no sentences")
    used = {t[:2] for sentence in sentences for t in sentence.tags}
    if "I-" in used and "B-" not in used:
        raise DataFormatError(path, None, "I- tags but no B- tag: this looks like IOB1, expected IOB2")
    return sentences
