"""Language codes: everything is normalised to the shortest standard tag (ISO 639-1 where one exists)."""

from __future__ import annotations

import functools

import langcodes

PIVOT = "en"


@functools.cache
def normalize_language(code: str) -> str:
    """'deu' -> 'de', 'cmn' -> 'zh', 'de' -> 'de'; raises on codes that are not languages."""
    try:
        tag = langcodes.standardize_tag(code, macro=True)
    except (ValueError, langcodes.tag_parser.LanguageTagError) as error:
        raise ValueError(f"not a language code: {code!r}") from error
    if not langcodes.Language.get(tag).is_valid():
        raise ValueError(f"not a language code: {code!r}")
    return tag


def language_of(code: str, where) -> str:
    """`normalize_language` for a code read from a file or folder name: an error names that path."""
    from bench.textio import DataFormatError

    try:
        return normalize_language(code)
    except ValueError:
        raise DataFormatError(where, None, f"{code!r} in the name is not a language code") from None
