import numpy as np
import pytest

from bench.specs import EncodeSpec
from bench.textio import DataFormatError
from tasks._wordlevel import read_conllu, read_tagged_columns
from bench.wordvectors import first_subtokens, join_words

# hand-written fixture sentence (not real data): a multiword token "zum" = "zu" + "dem", one empty node
CONLLU = (
    "# sent_id = s1\n"
    "1\tIch\tich\tPRON\t_\t_\t2\tnsubj\t_\t_\n"
    "2\tgehe\tgehen\tVERB\t_\t_\t0\troot\t_\t_\n"
    "3-4\tzum\t_\t_\t_\t_\t_\t_\t_\t_\n"
    "3\tzu\tzu\tADP\t_\t_\t5\tcase\t_\t_\n"
    "4\tdem\tder\tDET\t_\t_\t5\tdet\t_\t_\n"
    "4.1\t_\t_\t_\t_\t_\t_\t_\t_\t_\n"
    "5\tHaus\tHaus\tNOUN\t_\t_\t2\tobl\t_\t_\n"
    "6\t.\t.\tPUNCT\t_\t_\t2\tpunct\t_\t_\n\n"
)


def test_conllu_skips_ranges_and_empty_nodes(tmp_path):
    path = tmp_path / "x.conllu"
    path.write_text(CONLLU)
    (sentence,) = read_conllu(path)
    assert sentence.words == ("Ich", "gehe", "zu", "dem", "Haus", ".")
    assert sentence.heads == (2, 0, 5, 5, 2, 2) and sentence.upos[2] == "ADP" and sentence.sent_id == "s1"


@pytest.mark.parametrize("broken, message", [
    (lambda t: t.replace("2\tgehe\tgehen\tVERB\t_\t_\t0\troot\t_\t_", "2\tgehe\tgehen\tVERB\t_\t0\troot\t_\t_"), r"x.conllu:3: CoNLL-U line has 9 columns"),
    (lambda t: t.replace("5\tHaus\tHaus\tNOUN\t_\t_\t2", "5\tHaus\tHaus\tNOUN\t_\t_\t9"), r"x.conllu:8: head '9' out of range 0..6"),
    (lambda t: t.replace("6\t.\t.", "7\t.\t."), r"x.conllu:9: word id 7 out of sequence"),
])
def test_malformed_conllu_names_file_and_line(tmp_path, broken, message):
    path = tmp_path / "x.conllu"
    path.write_text(broken(CONLLU))
    with pytest.raises(DataFormatError, match=message):
        read_conllu(path)


def test_tagged_columns_and_scheme_errors(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("Anna\tB-PER\nlebt\tO\nin\tO\nNew\tB-LOC\nYork\tI-LOC\n\nJa\tO\n")
    sentences = read_tagged_columns(path)
    assert [s.words for s in sentences] == [("Anna", "lebt", "in", "New", "York"), ("Ja",)]
    path.write_text("Anna\tPER\n")
    with pytest.raises(DataFormatError, match=r"t.tsv:1: tag 'PER' is not in the IOB2 scheme"):
        read_tagged_columns(path)
    path.write_text("Anna\tS-PER\n")
    with pytest.raises(DataFormatError, match=r"t.tsv:1: tag 'S-PER'"):
        read_tagged_columns(path)
    path.write_text("Anna\tI-PER\nlebt\tO\n")
    with pytest.raises(DataFormatError, match="IOB1"):
        read_tagged_columns(path)
    with pytest.raises(ValueError, match="only IOB2"):
        read_tagged_columns(path, scheme="IOBES")


def test_real_word_level_files_parse(data_dir):
    assert len(read_conllu(data_dir / "ud" / "en" / "dev.conllu")) == 2001
    assert len(read_conllu(data_dir / "ud" / "de" / "pud-test.conllu")) == 1000
    assert len(read_tagged_columns(data_dir / "ner" / "panx" / "hi" / "dev.tsv")) == 1000
    assert len(read_tagged_columns(data_dir / "ner" / "conll2002" / "es" / "esp.testb", separator=" ")) == 1517


def test_first_subtokens_on_hand_made_offsets():
    text, spans = join_words(("New", "York", "is", "big"))
    assert text == "New York is big" and spans.tolist() == [[0, 3], [4, 8], [9, 11], [12, 15]]
    # <s>, "▁New", "▁Yo", "rk", "▁is", "▁b", "ig", </s>; leading spaces belong to the next piece
    offsets = np.array([[0, 0], [0, 3], [3, 6], [6, 8], [8, 11], [11, 13], [13, 15], [0, 0]])
    assert first_subtokens(offsets, spans).tolist() == [1, 2, 4, 5]
    assert first_subtokens(offsets[:3], spans).tolist() == [1, 2, -1, -1]  # truncated words get -1


@pytest.mark.slow
def test_first_subtokens_with_the_real_tokenizer(e5):
    words = ("Saunders", "(", "St.", "Lawrence", "River", ")", "北京", "市")
    text, spans = join_words(words)
    out = e5.encode([text], "xx", EncodeSpec(layers=(8,), keep_tokens=True))
    index = first_subtokens(out.offsets, spans)
    assert (index > 0).all() and (np.diff(index) > 0).all()
    for (start, end), token in zip(spans, index):
        token_start, token_end = out.offsets[token]
        assert token_end > start and token_start < end
