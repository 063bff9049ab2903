"""The statistical tagger, its evaluation and its training script."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streams.entities.conll import read_conll
from streams.entities.ner import DEFAULT_MODEL, NerTagger, bio_spans, propagate
from streams.entities.tokens import fold_token, sentences, tokenize
from streams.tools.eval_ner import eval_ner, score
from streams.tools.train_ner import train_ner

REPO = Path(__file__).resolve().parents[1]
ANERCORP = REPO.parent / "shared" / "data" / "anercorp" / "train.conll"


class FixedTagger:
    """Answers from a table, so evaluation arithmetic can be checked by hand."""

    def __init__(self, answers: dict[tuple[str, ...], list[str]]) -> None:
        self.answers = answers

    def tag(self, tokens: list[str]) -> list[str]:
        return self.answers[tuple(tokens)]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------ tokenizer
def test_tokenize_splits_punctuation_and_keeps_clitics_and_offsets():
    text = "وقال بوتين لدى استقباله لـتشوي إن “اليوم”، في عام 2022. كيم جونج-أون 112.5"
    toks = tokenize(text)
    words = [t for t, _s, _e in toks]
    assert words == ["وقال", "بوتين", "لدى", "استقباله", "لـتشوي", "إن", "“", "اليوم", "”", "،",
                     "في", "عام", "2022", ".", "كيم", "جونج", "-", "أون", "112.5"]
    assert all(text[s:e] == t for t, s, e in toks)


def test_tokenize_keeps_harakat_inside_the_word():
    toks = tokenize("قالَ بُوتِينُ.")
    assert [t for t, _s, _e in toks] == ["قالَ", "بُوتِينُ", "."]


def test_sentences_end_at_full_stops_and_line_breaks():
    text = "قال بوتين. وصل لافروف\nثم غادر"
    toks = tokenize(text)
    spans = sentences(text, toks)
    assert [[toks[i][0] for i in range(a, b)] for a, b in spans] == [
        ["قال", "بوتين", "."], ["وصل", "لافروف"], ["ثم", "غادر"]]


# --------------------------------------------------------------------- tagger
def test_packaged_model_is_small_and_loads_once():
    assert DEFAULT_MODEL.is_file()
    assert DEFAULT_MODEL.stat().st_size < 25 * 1024 * 1024
    assert NerTagger.load() is NerTagger.load()
    assert set(NerTagger.load().labels) >= {"O", "B-PER", "I-PER", "B-LOC", "B-ORG", "B-MISC"}


def test_tagger_finds_people_and_places_in_a_news_sentence():
    tagger = NerTagger.load()
    tokens = [t for t, _s, _e in tokenize("وقال الرئيس الروسي فلاديمير بوتين في موسكو إن روسيا مستعدة للحوار .")]
    tags = tagger.tag(tokens)
    assert len(tags) == len(tokens)
    spans = {(" ".join(tokens[a:b]), t) for a, b, t in bio_spans(tags)}
    assert ("فلاديمير بوتين", "PER") in spans
    assert ("موسكو", "LOC") in spans
    assert ("روسيا", "LOC") in spans
    assert tagger.tag([]) == []


# ----------------------------------------------------------------- evaluation
def test_bio_spans_follow_conlleval():
    assert bio_spans(["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-LOC", "I-ORG"]) == [
        (0, 2, "PER"), (3, 5, "LOC"), (5, 6, "LOC"), (6, 7, "ORG")]


def test_eval_ner_scores_exact_span_and_type(tmp_path):
    # Gold has three entities; the tagger gets one right, one with the wrong
    # type, and misses one: P = 1/2, R = 1/3, F1 = 2PR/(P+R) = 0.4.
    conll = write(tmp_path / "tiny.conll", "\n".join([
        "قال O", "فلاديمير B-PERS", "بوتين I-PERS", "في O", "موسكو B-LOC", ". O", "",
        "أعلن O", "الكرملين B-ORG", ". O", "",
    ]) + "\n")
    tagger = FixedTagger({
        ("قال", "فلاديمير", "بوتين", "في", "موسكو", "."): ["O", "B-PER", "I-PER", "O", "B-ORG", "O"],
        ("أعلن", "الكرملين", "."): ["O", "O", "O"],
    })
    report, summary = eval_ner(conll, tagger=tagger)
    assert summary["micro_precision"] == pytest.approx(1 / 2)
    assert summary["micro_recall"] == pytest.approx(1 / 3)
    assert summary["micro_f1"] == pytest.approx(0.4)
    assert summary["per_type"]["PER"]["f1"] == pytest.approx(1.0)
    assert summary["per_type"]["LOC"]["recall"] == 0.0
    assert summary["per_type"]["ORG"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0,
                                          "correct": 0, "predicted": 1, "gold": 1}
    assert summary["sentences"] == 2 and summary["tokens"] == 9
    assert summary["tokens_per_second"] > 0
    assert "40.00%" in report and "micro" in report
    json.dumps(summary)  # the CLI prints it as its last line


def test_eval_ner_with_the_packaged_model(tmp_path):
    conll = write(tmp_path / "news.conll", "\n".join([
        "وقال O", "الرئيس O", "الروسي O", "فلاديمير B-PERS", "بوتين I-PERS", "في O", "موسكو B-LOC",
        "إن O", "روسيا B-LOC", "مستعدة O", ". O",
    ]) + "\n")
    _report, summary = eval_ner(conll)
    assert summary["micro_f1"] == pytest.approx(1.0)
    assert set(summary["per_type"]) == {"PER", "LOC"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("قال O\nبوتين\n", ":2: expected 'token TAG'"),
        ("قال O\nبوتين B-PERSON-X\n", ":2: tag 'B-PERSON-X'"),
        ("قال O\nبوتين PER\n", ":2: tag 'PER'"),
        ("\n\n", "no tokens"),
    ],
)
def test_malformed_conll_gives_line_and_reason(tmp_path, content, message):
    path = write(tmp_path / "bad.conll", content)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        eval_ner(path, tagger=FixedTagger({}))


def test_unreadable_conll_files_give_value_errors(tmp_path):
    path = tmp_path / "latin1.conll"
    path.write_bytes("caf\xe9 O\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1\.conll:1: not valid UTF-8"):
        read_conll(path)
    with pytest.raises(ValueError, match="cannot read"):
        read_conll(tmp_path / "missing.conll")


def test_score_rejects_misaligned_sequences():
    with pytest.raises(ValueError):
        score([["O"]], [["O", "O"]])


# ------------------------------------------------------------------- training
@pytest.mark.skipif(not ANERCORP.is_file(), reason="ANERcorp training file not present")
def test_train_ner_is_deterministic_on_a_slice(tmp_path):
    lines = ANERCORP.read_text(encoding="utf-8").split("\n")
    cut, blanks = 0, 0
    for cut, line in enumerate(lines):
        if not line.strip():
            blanks += 1
            if blanks == 150:
                break
    small = write(tmp_path / "slice.conll", "\n".join(lines[: cut + 1]) + "\n")
    first = train_ner(small, tmp_path / "a.crfsuite", seed=3, max_iterations=15)
    second = train_ner(small, tmp_path / "b.crfsuite", seed=3, max_iterations=15)
    assert first["dev_sentences"] == 15 and first["train_sentences"] == 135
    assert first["dev"] == second["dev"]
    assert (tmp_path / "a.crfsuite").read_bytes() == (tmp_path / "b.crfsuite").read_bytes()
    assert 0 < first["dev"]["micro_f1"] <= 1


# ---------------------------------------------------------------- propagation
def test_propagate_tags_repeats_of_a_name_in_nearby_sentences():
    folded = [["قال", "المدرب", "جوزيه", "."], ["ورفض", "جوزيه", "ذلك", "."], ["وقال", "للاهلي", "."],
              ["فاز", "الاهلي", "."], ["الوضع", "المالي", "."], ["زار", "مالي", "."]]
    tags = [["O", "O", "B-PER", "O"], ["O", "O", "O", "O"], ["O", "O", "O"],
            ["O", "B-ORG", "O"], ["O", "O", "O"], ["O", "B-LOC", "O"]]
    out = propagate(folded, tags, window=2)
    assert out[1] == ["O", "B-PER", "O", "O"]      # the repeat is tagged
    assert out[2] == ["O", "B-ORG", "O"]           # through the clitic (ل + الاهلي)
    assert out[4] == ["O", "O", "O"]               # `المالي` is not `مالي`
    assert out[0] == tags[0] and out[3] == tags[3]  # the tagger's own tags stay
    assert propagate(folded, tags, window=0)[1] == tags[1]  # too far: 0 sentences around


def test_propagate_tags_the_surname_of_a_person_named_in_full():
    folded = [["وقالت", "فايزه", "ابوالنجا", "."], ["واضافت", "ابوالنجا", "ان", "فايزه", "."]]
    tags = [["O", "B-PER", "I-PER", "O"], ["O", "O", "O", "O", "O"]]
    assert propagate(folded, tags)[1] == ["O", "B-PER", "O", "O", "O"]  # the surname, not the first name


def test_propagate_does_not_spread_a_mistaken_name_onto_prepositions():
    # `صالح على` (Saleh [said] that) mistaken for a person: its last word folds
    # like the name Ali, and every `على` (on) of the story would become a person.
    tokens = [["وقال", "صالح", "على", "هامش", "اللقاء", "."], ["وشدد", "على", "اهمية", "الحوار", "."],
              ["التقى", "علي", "صالح", "."]]
    folded = [[fold_token(t) for t in s] for s in tokens]
    tags = [["O", "B-PER", "I-PER", "O", "O", "O"], ["O"] * 5, ["O", "O", "O", "O"]]
    unguarded = propagate(folded, tags)
    assert unguarded[1][1] == "B-PER"  # what the guard is for
    guarded = propagate(folded, tags, tokens=tokens)
    assert guarded[1] == ["O"] * 5                      # the preposition stays a preposition
    assert guarded[2] == ["O", "B-PER", "O", "O"]       # the name Ali, written with ya, is still a repeat
    assert guarded[0] == tags[0]


def test_tag_document_keeps_names_consistent_and_window_zero_is_per_sentence():
    tagger = NerTagger.load()
    sents = [[t for t, _s, _e in tokenize(s)] for s in (
        "وقال الرئيس الروسي فلاديمير بوتين في موسكو إن روسيا مستعدة للحوار .",
        "ورد بوتين على الصحفيين .",
    )]
    alone = tagger.tag_document(sents, window=0)
    assert alone == [tagger.tag(s) for s in sents]
    together = tagger.tag_document(sents)
    assert ("بوتين", "PER") in {(" ".join(sents[1][a:b]), t) for a, b, t in bio_spans(together[1])}
