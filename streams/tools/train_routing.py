"""Train the section model of the router on the ANT corpus (``newsstreams train-routing``).

Deterministic: the corpus is read in file order, features are hashed with
CRC-32, and scikit-learn's logistic-loss SGD classifier (one-vs-rest, classes
weighted by their inverse frequency so that the small culture desk counts as
much as the large news desks) runs with a fixed seed. Hyper-parameters are chosen by leave-one-source-out on the training
sources only, never on the outlet being scored:

* cross-source table: for each outlet, the four others choose the
  hyper-parameters among themselves (each held out in turn), a model trained
  on all four scores the fifth;
* shipped model: the five outlets choose the hyper-parameters the same way,
  the model is trained on all of them, and its temperature is fitted on the
  cross-source predictions (each article scored by a model that never saw its
  outlet), so its probabilities hold for outlets it has not seen.

The corpus's six desks become five sections: ``internationalNews`` and
``middleEast`` are regional desks whose articles are mostly politics and
conflict, so both are the ``politics`` section (which the router's rules then
split into politics, conflict, crime and disaster); ``technology`` is
``science-technology``; the others keep their names.

Needs scikit-learn and scipy (``pip install -e '.[train]'``); the model it
writes needs numpy alone (``streams.routing.model``).
"""

from __future__ import annotations

import json
import lzma
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from streams.routing.model import DEFAULT_MODEL_PATH, FeatureConfig, Featurizer, SectionModel

DESK_TO_SECTION = {
    "internationalNews": "politics",
    "middleEast": "politics",
    "economy": "economy",
    "sport": "sport",
    "technology": "science-technology",
    "culture": "culture",
}
SECTIONS = ("politics", "economy", "culture", "sport", "science-technology")
SOURCES = ("Alarabia", "BBC", "CNN", "France24", "SkyNews")
GRID_ALPHA = (1e-5, 3e-5)
"""L2 penalty of the SGD classifier: the one hyper-parameter chosen by leave-one-source-out."""
EPOCHS = 10
SEED = 0
DEFAULT_FEATURES = FeatureConfig(char_ngrams=(3, 4))


def default_corpus() -> Path:
    """``../shared/data/ant/ant_v2.1.jsonl.xz`` beside the repository."""
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "ant" / "ant_v2.1.jsonl.xz"


@dataclass
class Corpus:
    sources: np.ndarray      # outlet per article
    labels: np.ndarray       # section index per article
    desks: np.ndarray        # the corpus's own label
    titles: list[str]
    bodies: list[str]


def read_corpus(path: str | os.PathLike, limit: int | None = None) -> Corpus:
    sources, labels, desks, titles, bodies = [], [], [], [], []
    with lzma.open(path, "rt", encoding="utf-8") as fh:
        for n, line in enumerate(fh):
            if limit is not None and n >= limit:
                break
            item = json.loads(line)
            section = DESK_TO_SECTION.get(item["category"])
            if section is None:
                continue
            sources.append(item["source"])
            labels.append(SECTIONS.index(section))
            desks.append(item["category"])
            titles.append(item.get("title") or "")
            bodies.append(item.get("body") or "")
    return Corpus(np.array(sources), np.array(labels), np.array(desks), titles, bodies)


def feature_matrix(corpus: Corpus, config: FeatureConfig, progress: Callable[[str], None] = lambda s: None):
    """CSR matrix of the corpus with the run-time featurizer."""
    from scipy import sparse

    featurizer = Featurizer(config)
    indptr = [0]
    indices: list[np.ndarray] = []
    data: list[np.ndarray] = []
    start = time.process_time()
    for i, (title, body) in enumerate(zip(corpus.titles, corpus.bodies)):
        buckets, values = featurizer.features(title, body)
        indices.append(buckets)
        data.append(values)
        indptr.append(indptr[-1] + len(buckets))
        if i and i % 5000 == 0:
            progress(f"featurised {i} articles")
    seconds = time.process_time() - start
    matrix = sparse.csr_matrix((np.concatenate(data), np.concatenate(indices), np.array(indptr)),
                               shape=(len(corpus.titles), config.buckets), dtype=np.float32)
    return matrix, seconds / max(1, len(corpus.titles))


def _fit(X, y, alpha: float):
    from sklearn.linear_model import SGDClassifier

    model = SGDClassifier(loss="log_loss", alpha=alpha, class_weight="balanced", max_iter=EPOCHS, tol=None,
                          random_state=SEED)
    model.fit(X, y)
    return model


def _logits(model, X) -> np.ndarray:
    return np.asarray(model.decision_function(X), dtype=np.float64)


def f1_table(gold: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """F1 per section present in ``gold``."""
    out = {}
    for k, section in enumerate(SECTIONS):
        support = int(np.sum(gold == k))
        if not support:
            continue
        tp = int(np.sum((gold == k) & (predicted == k)))
        out[section] = 2 * tp / (support + int(np.sum(predicted == k)))
    return out


def macro(table: dict[str, float]) -> float:
    return sum(table.values()) / len(table) if table else 0.0


def choose(X, corpus: Corpus, train_sources: Iterable[str], progress: Callable[[str], None]):
    """Hyper-parameters by leave-one-source-out on ``train_sources``: mean macro F1 over held-out sources."""
    train_sources = list(train_sources)
    best = None
    for alpha in GRID_ALPHA:
        scores = []
        for held in train_sources:
            train = np.isin(corpus.sources, [s for s in train_sources if s != held])
            test = corpus.sources == held
            model = _fit(X[train], corpus.labels[train], alpha)
            predicted = model.classes_[_logits(model, X[test]).argmax(1)]
            scores.append(macro(f1_table(corpus.labels[test], predicted)))
        mean = float(np.mean(scores))
        progress(f"  alpha={alpha:g}: mean held-out macro F1 {mean:.4f} over {train_sources}")
        if best is None or mean > best[0] + 1e-9:
            best = (mean, alpha)
    return best


def fit_temperature(logits: np.ndarray, gold: np.ndarray) -> float:
    """The temperature minimising the log loss of softmax(logits / T) (golden-section search on log T)."""
    def nll(log_t: float) -> float:
        z = logits / np.exp(log_t)
        z = z - z.max(1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        return float(-logp[np.arange(len(gold)), gold].mean())

    lo, hi = np.log(0.05), np.log(20.0)
    ratio = (np.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = nll(a), nll(b)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = nll(b)
    return float(np.exp((lo + hi) / 2))


def calibration_error(probabilities: np.ndarray, gold: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error of the top probability (equal-width bins)."""
    top = probabilities.max(1)
    right = probabilities.argmax(1) == gold
    error = 0.0
    for low in np.linspace(0, 1, bins, endpoint=False):
        inside = (top > low) & (top <= low + 1 / bins)
        if inside.any():
            error += inside.mean() * abs(right[inside].mean() - top[inside].mean())
    return float(error)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / temperature
    z = np.exp(z - z.max(1, keepdims=True))
    return z / z.sum(1, keepdims=True)


def routed_sections(corpus: Corpus, probabilities: np.ndarray | None, rules=None) -> np.ndarray:
    """Section index of each article's top category when routed by rules + these model probabilities.

    -1 for a top category in no section (health, other...). ``probabilities``
    None routes by the rules alone.
    """
    from streams.routing.rules_file import load_rules

    rules = rules or load_rules()
    section_of = rules.model.section_of() if rules.model is not None else {}
    out = np.full(len(corpus.titles), -1)
    for i, (title, body) in enumerate(zip(corpus.titles, corpus.bodies)):
        p = None if probabilities is None else dict(zip(SECTIONS, probabilities[i].tolist()))
        top = rules.route(title, body, [], probabilities=p, use_model=probabilities is not None)[0]["id"]
        section = section_of.get(top)
        if section in SECTIONS:
            out[i] = SECTIONS.index(section)
    return out


def per_source(corpus: Corpus, predicted: np.ndarray) -> dict:
    table = {}
    for source in SOURCES:
        rows = corpus.sources == source
        if rows.any():
            f1 = f1_table(corpus.labels[rows], predicted[rows])
            table[source] = {"f1": {k: round(v, 4) for k, v in f1.items()}, "macro_f1": round(macro(f1), 4)}
    pooled = f1_table(corpus.labels, predicted)
    table["pooled"] = {"f1": {k: round(v, 4) for k, v in pooled.items()}, "macro_f1": round(macro(pooled), 4)}
    return table


def train(corpus_path: str | os.PathLike, out: str | os.PathLike = DEFAULT_MODEL_PATH,
          config: FeatureConfig = DEFAULT_FEATURES, report: str | os.PathLike | None = None,
          progress: Callable[[str], None] = lambda s: None, limit: int | None = None) -> dict:
    """Cross-source table, then the shipped model; returns (and writes) the report."""
    corpus = read_corpus(corpus_path, limit)
    progress(f"read {len(corpus.titles)} articles from {corpus_path}")
    X, seconds = feature_matrix(corpus, config, progress)
    progress(f"features: {X.shape[1]} buckets, {X.nnz / X.shape[0]:.0f} per article, "
             f"{seconds * 1000:.2f} ms CPU per article")
    sources = [s for s in SOURCES if np.any(corpus.sources == s)]
    oof_logits = np.zeros((len(corpus.titles), len(SECTIONS)))
    cross: dict[str, dict] = {}
    for held in sources:
        train_sources = [s for s in sources if s != held]
        progress(f"{held}: choosing hyper-parameters on {train_sources}")
        _, alpha = choose(X, corpus, train_sources, progress)
        train_rows = np.isin(corpus.sources, train_sources)
        test = corpus.sources == held
        model = _fit(X[train_rows], corpus.labels[train_rows], alpha)
        logits = np.full((int(test.sum()), len(SECTIONS)), -1e9)
        logits[:, model.classes_] = _logits(model, X[test])
        oof_logits[test] = logits
        table = f1_table(corpus.labels[test], logits.argmax(1))
        cross[held] = {"alpha": alpha, "articles": int(test.sum()),
                       "f1": {k: round(v, 4) for k, v in table.items()}, "macro_f1": round(macro(table), 4)}
        progress(f"{held}: {cross[held]}")
    gold = corpus.labels
    pooled = f1_table(gold, oof_logits.argmax(1))
    temperature = fit_temperature(oof_logits, gold)
    progress(f"temperature {temperature:.3f}")
    progress("routing every article with the packaged rules, alone and with its cross-source model probabilities")
    rules_alone = per_source(corpus, routed_sections(corpus, None))
    combined = per_source(corpus, routed_sections(corpus, softmax(oof_logits, temperature)))
    progress(f"rules alone: {rules_alone['pooled']}; rules + model: {combined['pooled']}")
    progress("shipped model: choosing hyper-parameters on all outlets")
    _, alpha = choose(X, corpus, sources, progress)
    final = _fit(X, corpus.labels, alpha)
    weights = np.zeros((config.buckets, len(SECTIONS)), dtype=np.float32)
    bias = np.zeros(len(SECTIONS), dtype=np.float32)
    weights[:, final.classes_] = final.coef_.T
    bias[final.classes_] = final.intercept_
    if len(final.classes_) < len(SECTIONS):  # a section missing from a small corpus never wins
        bias[np.setdiff1d(np.arange(len(SECTIONS)), final.classes_)] = -1e4
    result = {
        "corpus": str(Path(corpus_path).name),
        "articles": len(corpus.titles),
        "sections": list(SECTIONS),
        "desk_to_section": DESK_TO_SECTION,
        "features": config.to_json(),
        "feature_ms_per_article": round(seconds * 1000, 3),
        "cross_source": cross,
        "cross_source_mean_macro_f1": round(float(np.mean([v["macro_f1"] for v in cross.values()])), 4),
        "cross_source_pooled": {"f1": {k: round(v, 4) for k, v in pooled.items()}, "macro_f1": round(macro(pooled), 4)},
        "routing_rules_alone": rules_alone,
        "routing_rules_and_model": combined,
        "calibration": {
            "temperature": round(temperature, 4),
            "ece_before": round(calibration_error(softmax(oof_logits), gold), 4),
            "ece_after": round(calibration_error(softmax(oof_logits, temperature), gold), 4),
        },
        "shipped": {"alpha": alpha, "epochs": EPOCHS, "seed": SEED, "class_weight": "balanced"},
    }
    model = SectionModel(SECTIONS, weights, bias, temperature, config,
                         meta={"trained_on": result["corpus"], "articles": result["articles"],
                               "alpha": alpha,
                               "cross_source_mean_macro_f1": result["cross_source_mean_macro_f1"]})
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    progress(f"model written to {out} ({Path(out).stat().st_size / 1e6:.2f} MB)")
    if report is not None:
        Path(report).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return result
