"""Train the CRF NER model on ANERcorp: ``python -m streams.tools.train_ner``.

The development split is the last ``dev_fraction`` of sentences (the corpus is
in document order, so this keeps whole stories out of training). Training is
deterministic: the same data, settings and seed give the same model and the
same scores. By default the written model is then refit on all sentences
(the development sentences included) with the same settings: the reported dev
scores are those of the model trained on the first 90 %, and the shipped model
is the refit one. ``--no-refit`` keeps the 90 % model instead.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import pycrfsuite

from streams.entities.conll import read_conll
from streams.tools.eval_ner import score
from streams.entities.features import sentence_features
from streams.entities.kb import KnowledgeBase
from streams.entities.lexicon import Lexicon
from streams.entities.ner import DEFAULT_MODEL, NerTagger, propagate
from streams.entities.tokens import fold_token

DEFAULT_TRAIN = Path(__file__).resolve().parents[3] / "shared" / "data" / "anercorp" / "train.conll"
DEFAULTS = {"c1": 0.02, "c2": 0.05, "max_iterations": 200, "min_freq": 1}


def _features(sentences, kb, lexicon=None):
    return [sentence_features(tokens, [fold_token(t) for t in tokens], kb, lexicon=lexicon)
            for tokens, _tags in sentences]


def _fit(xs, ys, model_path: Path, params: dict, order: list[int]) -> None:
    trainer = pycrfsuite.Trainer(verbose=False)
    for i in order:
        trainer.append(xs[i], ys[i])
    trainer.set_params({
        "c1": params["c1"],
        "c2": params["c2"],
        "max_iterations": params["max_iterations"],
        "feature.minfreq": params["min_freq"],
        "feature.possible_transitions": True,
    })
    model_path.parent.mkdir(parents=True, exist_ok=True)
    trainer.train(str(model_path))


def train_ner(
    train_path: str | Path,
    model_path: str | Path | None,
    *,
    seed: int = 0,
    dev_fraction: float = 0.1,
    c1: float = DEFAULTS["c1"],
    c2: float = DEFAULTS["c2"],
    max_iterations: int = DEFAULTS["max_iterations"],
    min_freq: int = DEFAULTS["min_freq"],
    refit: bool = True,
    kb: KnowledgeBase | None = None,
    lexicon: Lexicon | None = None,
) -> dict:
    """Train on the first sentences, score on the last ``dev_fraction``; return the scores.

    ``seed`` fixes the order in which sentences are given to the trainer (the
    L-BFGS optimum does not depend on it beyond rounding; the same seed gives
    the same model byte for byte). With ``refit`` (the default) the model
    written to ``model_path`` (default: the packaged model) is retrained on all
    sentences after the dev split is scored.
    """
    if not 0 <= dev_fraction < 1:
        raise ValueError("dev_fraction must be in [0, 1)")
    kb = kb if kb is not None else KnowledgeBase.packaged()
    lexicon = lexicon if lexicon is not None else Lexicon.default()
    sentences = read_conll(train_path)
    n_dev = int(round(len(sentences) * dev_fraction))
    n_train = len(sentences) - n_dev
    if n_train < 1:
        raise ValueError("no training sentences left after the dev split")
    params = {"c1": c1, "c2": c2, "max_iterations": max_iterations, "min_freq": min_freq}
    model_path = Path(model_path) if model_path is not None else DEFAULT_MODEL
    started = time.perf_counter()
    xs = _features(sentences, kb, lexicon)
    ys = [tags for _tokens, tags in sentences]
    order = list(range(n_train))
    random.Random(seed).shuffle(order)
    _fit(xs, ys, model_path, params, order)
    train_seconds = time.perf_counter() - started
    result: dict = {
        "train_sentences": n_train,
        "train_tokens": sum(len(ys[i]) for i in range(n_train)),
        "dev_sentences": n_dev,
        "dev_tokens": sum(len(ys[i]) for i in range(n_train, len(ys))),
        "seed": seed,
        "params": params,
        "train_seconds": round(train_seconds, 1),
    }
    if n_dev:
        tagger = NerTagger(model_path, kb, lexicon)
        t0 = time.perf_counter()
        pred = [tagger.tag_features(xs[i]) for i in range(n_train, len(xs))]
        tag_seconds = time.perf_counter() - t0
        dev = score(ys[n_train:], pred)
        result["dev"] = dev
        # As the extractor and eval_ner tag running text: names made
        # consistent across nearby sentences (``ner.propagate``).
        dev_folded = [[fold_token(t) for t in tokens] for tokens, _tags in sentences[n_train:]]
        dev_tokens = [tokens for tokens, _tags in sentences[n_train:]]
        result["dev_propagated"] = score(ys[n_train:], propagate(dev_folded, pred, tokens=dev_tokens))
        result["dev_crf_tokens_per_second"] = round(result["dev_tokens"] / max(tag_seconds, 1e-9))
    if refit and n_dev:
        order = list(range(len(sentences)))
        random.Random(seed).shuffle(order)
        _fit(xs, ys, model_path, params, order)
        result["refit_on_all"] = True
    result["model_bytes"] = model_path.stat().st_size
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", default=str(DEFAULT_TRAIN), help="CoNLL training file (ANERcorp)")
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="where to write the model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dev-fraction", type=float, default=0.1)
    parser.add_argument("--c1", type=float, default=DEFAULTS["c1"], help="L1 penalty (prunes features)")
    parser.add_argument("--c2", type=float, default=DEFAULTS["c2"], help="L2 penalty")
    parser.add_argument("--max-iterations", type=int, default=DEFAULTS["max_iterations"])
    parser.add_argument("--min-freq", type=int, default=DEFAULTS["min_freq"], help="drop rarer features")
    parser.add_argument("--refit", dest="refit", action="store_true", default=True,
                        help="retrain on all sentences after scoring dev (the default)")
    parser.add_argument("--no-refit", dest="refit", action="store_false",
                        help="keep the model trained without the dev sentences")
    args = parser.parse_args(argv)
    try:
        result = train_ner(
            args.train, args.model, seed=args.seed, dev_fraction=args.dev_fraction, c1=args.c1,
            c2=args.c2, max_iterations=args.max_iterations, min_freq=args.min_freq, refit=args.refit,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
