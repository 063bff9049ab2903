"""Build ``not_trending.json``: the names that may not produce trending mention records.

Run ``newsstreams build-trend-filter`` again whenever the tagger
(``streams/entities/model/ner.crfsuite``) is retrained: the file records the
model's sha256, and a test fails when the two no longer match. This module is
a tool; workers only read the file it writes (``streams.trending.not_trending``).

What is measured
----------------
The project's own tagger and linker (``EntityExtractor.default().extract``,
capped like the enrich stage) run over every article body of the ANT corpus
(30,043 Arabic news articles of 2018 from five outlets and six sections; no
subsample, the run takes a few minutes on two cores). Each distinct entity of
an article is one mention record, as ``streams.pipeline.mentions_of`` would
emit. Names are compared by ``trend_key`` (the folded whole name).
ANERcorp's training file (newswire of 2007, gold BIO tags) is the reference
for what annotators call a name.

Rule (a): persistent names
--------------------------
A name the tagger found (not a knowledge-base entity) is filtered when both

1. every outlet uses it: in each of the five outlets, at least
   ``min_outlet_share`` of the articles mention it; and
2. it was already one of the most frequent names of news eleven years
   earlier: ANERcorp annotates the same whole name at least
   ``min_reference_names`` times.

Why both, and why not the share in every section: measured on ANT, spread
alone cannot tell `الله` from the news. The minimum share over outlets and
sections ranks the United States (5.5 %), Russia, Egypt (0.9 %) far above
`الله` (0.26 %, its lowest section being technology), and among the tagger's
own names `الله` sits beside Facebook and Twitter (0.27 %, 0.26 %); `الإسلام`
(1 technology article in 2,647) falls below hundreds of real names. What
does set them apart is persistence: the 2018 news names spread over all
outlets (Facebook, Twitter, Mohamed Salah, Barcelona, Mike Pompeo) are absent
or rare in ANERcorp, while `دولار` (107), `الإسلام` (67) and `الله` (55) are
among its most frequent names. Sections are kept out of the condition
because they are topical desks: sport and technology rarely carry religion,
as they rarely carry politics. Knowledge-base entities are never candidates:
they are the curated news actors (countries, capitals, people,
organisations), which persist and spread exactly like `الله` (Lebanon,
Israel, the UN, Iraq lead ANERcorp's names).

``min_reference_names`` sits in the largest gap of the distribution: among
the tagger's names that pass condition 1, ANERcorp counts run 107, 67, 55,
then 29 (`الجزيرة`, Al Jazeera), 24, 24, ...; 40 is the geometric middle of
55 and 29. ``min_outlet_share`` (1 in 400 articles, about 7 articles of the
smallest outlet) only has to drop names of 2007 that 2018 no longer uses
(`أينشتاين`: 43 in ANERcorp, 8 ANT articles); the command prints the
nearest names on both sides so a re-run can be checked by eye.

Rule (b): names made of function words
--------------------------------------
A tagged entity whose every word is a function word is filtered (`على`,
`وفي`). Function words are the ``function_word_rank`` words (tokens with a
letter) found in the most ANT articles, kept when ANERcorp has seen them at
least ``min_reference_words`` times and tags at most ``max_tagged_share`` of
those as part of a name: that keeps `على` (1 of 1,446) and drops `محمد`,
`المتحدة`, `الأول` (9 %). The head of the distribution is mostly function
words, with a few frequent verbs and nouns that are no names either (`قال`,
`الحكومة`). Pronouns and particles too rare to reach the head are added
from ``CLOSED_CLASS``, a short hand list, each kept only if ANERcorp tags it
at most ``max_tagged_share`` of the times it sees it.

The output records the rule's parameters, the corpora's sizes and sha256,
the tagger model's sha256, every filtered form with its statistics, the
closest names kept, and the share of ANT's mention records removed. It holds
derived counts only, never the corpus text. The ANT corpus is by A.
Chouigui, O. Ben Khiroun and B. Elayeb, "An Arabic Multi-source News
Corpus: Experimenting on Single-document Extractive Summarization", Arabian
Journal for Science and Engineering 46(8), 2021 (https://antcorpus.github.io).
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from streams.trending.not_trending import DATA_FILE, SCHEMA, TrendFilter, trend_key

# the data file ships beside the filter that reads it, in streams/trending/
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "trending" / DATA_FILE

CLOSED_CLASS = (
    # pronouns
    "أنا", "نحن", "أنت", "أنتم", "هم", "هن", "هما",
    # demonstratives and relatives
    "تلك", "هؤلاء", "أولئك", "اللذين", "اللتين", "اللواتي",
    # particles, conjunctions, prepositions, interrogatives
    "ثم", "بل", "إذ", "لن", "لقد", "سوف", "هل", "كيف", "ماذا", "لماذا", "أين", "متى", "لدى", "عند",
)
"""Closed-class words too rare in news to reach the head of the frequency list."""


class CorpusError(ValueError):
    """An input that cannot be read as expected (the message names the file and line), or an output
    that cannot be written: something the user can fix."""


@dataclass(frozen=True)
class Params:
    """The rule's parameters (see the module docstring for how each was chosen)."""

    min_outlet_share: float = 0.0025
    min_reference_names: int = 40
    function_word_rank: int = 100
    min_reference_words: int = 10
    max_tagged_share: float = 0.02


@dataclass(frozen=True)
class Record:
    """One mention record: one distinct entity of one article."""

    key: str
    entity_id: str
    type: str
    name: str
    mentions: int

    @property
    def from_kb(self) -> bool:
        """Names the tagger found have ids `type:x-...` (``streams.entities.extract.unknown_id``)."""
        return ":x-" not in self.entity_id


@dataclass(frozen=True)
class ArticleStats:
    """What one article contributes: its outlet and section, mention records and words."""

    source: str
    section: str
    records: tuple[Record, ...]
    words: frozenset[str]


@dataclass
class Reference:
    """ANERcorp counts by ``trend_key``: whole annotated names, word occurrences, tagged ones."""

    tokens: int = 0
    names: Counter = field(default_factory=Counter)
    words: Counter = field(default_factory=Counter)
    tagged_words: Counter = field(default_factory=Counter)

    @classmethod
    def from_sentences(cls, sentences: Iterable[tuple[Sequence[str], Sequence[str]]]) -> "Reference":
        from streams.entities.ner import bio_spans

        ref = cls()
        for tokens, tags in sentences:
            ref.tokens += len(tokens)
            for token, tag in zip(tokens, tags):
                word = _word_key(token)
                ref.words[word] += 1
                if tag != "O":
                    ref.tagged_words[word] += 1
            for start, end, _etype in bio_spans(list(tags)):
                ref.names[trend_key(" ".join(tokens[start:end]))] += 1
        return ref

    def tagged_share(self, word: str) -> float:
        seen = self.words[word]
        return self.tagged_words[word] / seen if seen else 0.0


@lru_cache(maxsize=1 << 19)
def _word_key(token: str) -> str:
    """``trend_key`` of one token, cached for a whole corpus's vocabulary."""
    return trend_key(token)


def _has_letter(word: str) -> bool:
    return any(ch.isalpha() for ch in word)


# ---------------------------------------------------------------- the rule (pure)

def decide(articles: Iterable[ArticleStats], reference: Reference, params: Params = Params()) -> dict:
    """Apply rules (a) and (b) to per-article statistics; the document to write, minus provenance.

    Pure: no files, no model. ``build_filter`` feeds it the tagged ANT corpus;
    tests feed it a few synthetic articles.
    """
    outlets: Counter = Counter()
    sections: Counter = Counter()
    word_articles: Counter = Counter()
    all_records: list[Record] = []
    by_key: dict[str, dict] = defaultdict(lambda: {
        "articles": 0, "mention_records": 0, "mentions": 0, "outlets": Counter(), "sections": Counter(),
        "names": Counter(), "types": Counter(),
    })
    for article in articles:
        outlets[article.source] += 1
        sections[article.section] += 1
        word_articles.update(w for w in article.words if _has_letter(w))
        seen: set[str] = set()
        for record in article.records:
            all_records.append(record)
            if record.from_kb or not record.key:
                continue
            stats = by_key[record.key]
            stats["mention_records"] += 1
            stats["mentions"] += record.mentions
            stats["names"][record.name] += 1
            stats["types"][record.type] += 1
            if record.key not in seen:
                seen.add(record.key)
                stats["articles"] += 1
                stats["outlets"][article.source] += 1
                stats["sections"][article.section] += 1
    if not outlets:
        raise CorpusError("the corpus has no articles")

    def min_share(counts: Counter, totals: Counter) -> float:
        return min(counts[group] / size for group, size in totals.items())

    # Rule (a): persistent names.
    rows = []
    for key, stats in by_key.items():
        outlet_min = min_share(stats["outlets"], outlets)
        rows.append((key, outlet_min, reference.names[key]))
    persistent = sorted(
        key for key, outlet_min, ref_names in rows
        if outlet_min >= params.min_outlet_share and ref_names >= params.min_reference_names
    )

    # Rule (b): function words.
    head = sorted(word_articles.items(), key=lambda item: (-item[1], item[0]))[:params.function_word_rank]
    function_words = {
        word for word, _n in head
        if reference.words[word] >= params.min_reference_words
        and reference.tagged_share(word) <= params.max_tagged_share
    }
    function_words |= {
        key for key in map(trend_key, CLOSED_CLASS) if reference.tagged_share(key) <= params.max_tagged_share
    }

    rule = TrendFilter(frozenset(persistent), frozenset(function_words))
    removed = sum(1 for record in all_records if rule.blocks_name(record.name))

    def describe(key: str, why: str) -> dict:
        stats = by_key[key]
        return {
            "form": key,
            "rule": why,
            "names": [name for name, _n in stats["names"].most_common(3)],
            "types": dict(stats["types"].most_common()),
            "articles": stats["articles"],
            "mention_records": stats["mention_records"],
            "mentions": stats["mentions"],
            "min_outlet_share": _share(min_share(stats["outlets"], outlets)),
            "min_section_share": _share(min_share(stats["sections"], sections)),
            "outlet_shares": {o: _share(stats["outlets"][o] / n) for o, n in sorted(outlets.items())},
            "section_shares": {s: _share(stats["sections"][s] / n) for s, n in sorted(sections.items())},
            "reference_names": reference.names[key],
        }

    filtered = [describe(key, "persistent") for key in persistent]
    filtered += [
        describe(key, "function words") for key in by_key
        if key not in rule.filtered_forms and rule.blocks_name(key)
    ]
    filtered.sort(key=lambda item: (-item["mention_records"], item["form"]))

    kept = [row for row in rows if row[0] not in rule.filtered_forms]
    by_spread = sorted(kept, key=lambda row: (-row[1], row[0]))[:10]
    by_reference = sorted((r for r in kept if r[1] >= params.min_outlet_share), key=lambda row: (-row[2], row[0]))[:10]
    return {
        "schema": SCHEMA,
        "rule": {
            **asdict(params),
            "closed_class": list(CLOSED_CLASS),
            "key": "streams.trending.not_trending.trend_key of the whole entity name",
        },
        "counts": {
            "articles": sum(outlets.values()),
            "outlets": dict(sorted(outlets.items())),
            "sections": dict(sorted(sections.items())),
            "mention_records": len(all_records),
            "tagger_mention_records": sum(s["mention_records"] for s in by_key.values()),
            "removed_mention_records": removed,
            "removed_share": _share(removed / len(all_records)) if all_records else 0.0,
            "reference_tokens": reference.tokens,
        },
        "filtered_forms": persistent,
        "function_words": sorted(function_words),
        "filtered": filtered,
        "closest_kept": {
            "by_min_outlet_share": [describe(row[0], "kept") for row in by_spread],
            "by_reference_names": [describe(row[0], "kept") for row in by_reference],
        },
    }


def _share(value: float) -> float:
    return round(value, 6)


# ---------------------------------------------------------------- corpus, model, files

def read_corpus(path: Path) -> Iterator[dict]:
    """Articles of an lzma-compressed JSON Lines file with `source`, `category` and `body`."""
    try:
        with lzma.open(path, "rt", encoding="utf-8") as lines:
            for lineno, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    article = json.loads(line)
                except ValueError as exc:
                    raise CorpusError(f"{path}:{lineno}: not JSON: {exc}") from None
                if not isinstance(article, dict) or not all(
                    isinstance(article.get(f), str) for f in ("source", "category", "body")
                ):
                    raise CorpusError(f"{path}:{lineno}: expected an object with string source, category and body")
                yield article
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise CorpusError(f"{path}: cannot read as xz-compressed JSON Lines: {exc}") from None


def article_stats(article: dict, extractor=None) -> ArticleStats:
    """Mention records and folded words of one article, as the enrich stage would see them."""
    from streams.entities.extract import EntityExtractor
    from streams.entities.tokens import tokenize
    from streams.pipeline import MAX_ENTITIES

    extractor = extractor or EntityExtractor.default()
    body = article["body"]
    records = tuple(
        Record(trend_key(e["name"]), e["id"], e["type"], e["name"], e["mentions"])
        for e in extractor.extract(body)[:MAX_ENTITIES]
    )
    words = frozenset(_word_key(token) for token, _s, _e in tokenize(body))
    return ArticleStats(article["source"], article["category"], records, words)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_sha256() -> str:
    """sha256 of the tagger model the packaged extractor loads."""
    from streams.entities.ner import DEFAULT_MODEL

    return _sha256(DEFAULT_MODEL)


def _tag_corpus(corpus: Path, jobs: int) -> Iterator[ArticleStats]:
    articles = read_corpus(corpus)
    if jobs <= 1:
        yield from (article_stats(a) for a in articles)
        return
    import multiprocessing

    # Each process loads the model once; results come back in corpus order, so
    # the output does not depend on the number of processes.
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        yield from pool.imap(article_stats, articles, chunksize=32)


def build_filter(corpus: Path, conll: Path, out: Path | None, *, jobs: int | None = None,
                 params: Params = Params(), progress=None) -> dict:
    """Tag the corpus, apply the rule, write ``out`` (unless None) and return the document."""
    from streams.entities.conll import read_conll

    for path, what in ((corpus, "ANT corpus"), (conll, "ANERcorp CoNLL file")):
        if not Path(path).is_file():
            raise CorpusError(f"no such file: {path} (the {what})")
    try:
        reference = Reference.from_sentences(read_conll(conll))
    except ValueError as exc:
        raise CorpusError(str(exc)) from None
    jobs = jobs or os.cpu_count() or 1

    def counted(stream: Iterator[ArticleStats]) -> Iterator[ArticleStats]:
        for n, item in enumerate(stream, start=1):
            if progress and n % 1000 == 0:
                progress(n)
            yield item

    document = decide(counted(_tag_corpus(Path(corpus), jobs)), reference, params)
    document["computed_from"] = {
        "command": "newsstreams build-trend-filter",
        "corpus": {"file": Path(corpus).name, "sha256": _sha256(Path(corpus))},
        "reference": {"file": Path(conll).name, "sha256": _sha256(Path(conll))},
        "tagger_model": {"file": "streams/entities/model/ner.crfsuite", "sha256": model_sha256()},
        "credit": "ANT Corpus: A. Chouigui, O. Ben Khiroun and B. Elayeb, \"An Arabic Multi-source News "
                  "Corpus: Experimenting on Single-document Extractive Summarization\", Arabian Journal "
                  "for Science and Engineering 46(8), 2021, https://antcorpus.github.io. ANERcorp: "
                  "Y. Benajiba, P. Rosso and J. M. Benedi, CICLing 2007 (CC BY-SA 4.0).",
    }
    if out is not None:
        try:
            Path(out).write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        except OSError as exc:
            raise CorpusError(f"cannot write {out}: {exc.strerror or exc}") from None
    return document


def report_lines(document: dict) -> list[str]:
    """What a re-run should be checked against by eye: filtered forms and the closest kept names."""
    counts = document["counts"]
    lines = [
        f"articles {counts['articles']}  mention records {counts['mention_records']}  "
        f"removed {counts['removed_mention_records']} ({100 * counts['removed_share']:.2f} %)",
        "",
        f"{'form':<24} {'rule':<15} {'articles':>8} {'records':>8} {'min outlet':>10} {'min section':>11} {'ANERcorp':>8}",
    ]

    def row(item: dict) -> str:
        return (f"{item['form']:<24} {item['rule']:<15} {item['articles']:>8} {item['mention_records']:>8} "
                f"{100 * item['min_outlet_share']:>9.2f}% {100 * item['min_section_share']:>10.2f}% "
                f"{item['reference_names']:>8}")

    lines += [row(item) for item in document["filtered"][:40]]
    for title, items in (("closest kept, by min outlet share", document["closest_kept"]["by_min_outlet_share"]),
                         ("closest kept, by ANERcorp names", document["closest_kept"]["by_reference_names"])):
        lines += ["", title] + [row(item) for item in items]
    lines += ["", f"function words ({len(document['function_words'])}): " + " ".join(document["function_words"])]
    return lines


def document_summary(document: dict) -> dict:
    counts = document["counts"]
    return {
        "filtered_forms": len(document["filtered_forms"]),
        "function_words": len(document["function_words"]),
        "removed_mention_records": counts["removed_mention_records"],
        "removed_share": counts["removed_share"],
        "mention_records": counts["mention_records"],
        "articles": counts["articles"],
    }

