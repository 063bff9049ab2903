"""Entity-level NER evaluation: a name counts only with its exact span and type.

Token accuracy flatters a tagger (most tokens are `O`), so scores are over
whole entities, as in the CoNLL shared tasks and the published ANERcorp
results: precision = correct / predicted, recall = correct / gold.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from streams.entities.conll import read_conll
from streams.entities.ner import NerTagger, bio_spans


def _prf(correct: int, predicted: int, gold: int) -> dict:
    p = correct / predicted if predicted else 0.0
    r = correct / gold if gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f, "correct": correct, "predicted": predicted, "gold": gold}


def score(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict:
    """Per-type and micro precision/recall/F1 over sentences of BIO tags."""
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sentences but {len(pred)} predicted")
    correct: Counter[str] = Counter()
    n_gold: Counter[str] = Counter()
    n_pred: Counter[str] = Counter()
    for g_tags, p_tags in zip(gold, pred):
        if len(g_tags) != len(p_tags):
            raise ValueError("gold and predicted sentences differ in length")
        g_spans = set(bio_spans(g_tags))
        p_spans = set(bio_spans(p_tags))
        for s in g_spans:
            n_gold[s[2]] += 1
        for s in p_spans:
            n_pred[s[2]] += 1
        for s in g_spans & p_spans:
            correct[s[2]] += 1
    types = sorted(set(n_gold) | set(n_pred))
    per_type = {t: _prf(correct[t], n_pred[t], n_gold[t]) for t in types}
    micro = _prf(sum(correct.values()), sum(n_pred.values()), sum(n_gold.values()))
    return {
        "micro_precision": micro["precision"],
        "micro_recall": micro["recall"],
        "micro_f1": micro["f1"],
        "correct": micro["correct"],
        "predicted": micro["predicted"],
        "gold": micro["gold"],
        "per_type": per_type,
    }


def format_report(summary: dict, title: str = "") -> str:
    """A fixed-width table a person can read in a terminal."""
    lines = []
    if title:
        lines.append(title)
    lines.append(f"{'type':<6} {'prec':>7} {'recall':>7} {'f1':>7} {'gold':>6} {'pred':>6} {'ok':>6}")
    rows = list(summary["per_type"].items()) + [("micro", {
        "precision": summary["micro_precision"], "recall": summary["micro_recall"],
        "f1": summary["micro_f1"], "gold": summary["gold"], "predicted": summary["predicted"],
        "correct": summary["correct"]})]
    for name, s in rows:
        lines.append(
            f"{name:<6} {100 * s['precision']:>6.2f}% {100 * s['recall']:>6.2f}% {100 * s['f1']:>6.2f}%"
            f" {s['gold']:>6} {s['predicted']:>6} {s['correct']:>6}"
        )
    if "sentences" in summary:
        lines.append(
            f"{summary['sentences']} sentences, {summary['tokens']} tokens,"
            f" {summary['tokens_per_second']:,.0f} tokens/s tagging"
        )
    return "\n".join(lines)


def eval_ner(conll_path: str | Path, tagger=None) -> tuple[str, dict]:
    """Tag the tokens of a CoNLL file and score against its tags.

    The sentences are tagged in file order as running text (a tagger with
    ``tag_document`` makes names consistent across nearby sentences, as the
    extractor does within an article); a tagger with only ``tag`` tags each
    sentence alone.

    Returns a readable report and a summary dict with ``micro_f1``,
    ``micro_precision``, ``micro_recall``, ``per_type``, ``sentences``,
    ``tokens`` and ``tokens_per_second`` (tagging only, one core).
    """
    sentences = read_conll(conll_path)
    if tagger is None:
        tagger = NerTagger.load()
    gold = [tags for _tokens, tags in sentences]
    started = time.perf_counter()
    if hasattr(tagger, "tag_document"):
        # The file is read as running text: names found in one sentence also
        # count for their repeats in the sentences around it, as in an article.
        pred = tagger.tag_document([tokens for tokens, _tags in sentences])
    else:
        pred = [tagger.tag(tokens) for tokens, _tags in sentences]
    elapsed = time.perf_counter() - started
    n_tokens = sum(len(tokens) for tokens, _tags in sentences)
    summary = score(gold, pred)
    summary.update(
        sentences=len(sentences),
        tokens=n_tokens,
        tokens_per_second=n_tokens / max(elapsed, 1e-9),
    )
    return format_report(summary, f"NER evaluation of {conll_path}"), summary
