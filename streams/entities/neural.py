"""A neural name tagger (BiLSTM-CRF, or dilated CNN) run in numpy from exported weights.

The CRF of ``ner.py`` sees a fixed window of words; a bidirectional LSTM (or
stacked dilated convolutions, which run without a step loop) reads the
sentence, and a character CNN gives unseen names a shape learned from their
letters. Each token's input is the summed embeddings of its word-level CRF
attributes (word, stem, clitics, affixes, knowledge-base types) and of its
shape and gazetteer tags at -1/0/+1, plus the character CNN. Torch trains the
model (``streams.tools.train_neural``, the ``train`` extra); running it
needs only numpy, so workers and CI stay light.

Not the shipped tagger: alone it scores below the CRF on the development
split, and averaged with the CRF (``streams.entities.combined``) it is too
slow; see the model card. The weights file is a ``.npz`` with the
vocabularies stored beside the arrays.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from streams.entities.features import gazetteer, sentence_features, shape
from streams.entities.kb import KnowledgeBase
from streams.entities.lexicon import Lexicon
from streams.entities.tokens import fold_token

# CRF attribute names the network does not take from ``sentence_features``:
# neighbouring words are the LSTM's job, and the shape and gazetteer
# attributes around a token are made per token by ``context_attributes``.
_NOT_WORD_LEVEL = frozenset({
    "w-2", "w-1", "w+1", "w+2", "s-1", "s+1", "w-1w", "ww+1", "sh", "sh-1", "sh+1", "g", "g-1", "g+1", "g-1g",
})
_NO_LEXICON = Lexicon.empty()
MAX_WORD_CHARS = 20  # longer words keep their first and last letters only
BOW, EOW = "\u0002", "\u0003"


def word_attributes(folded: str, kb: KnowledgeBase) -> list[str]:
    """The CRF attributes that depend on the folded word alone (word, stem, affixes, KB types)."""
    # Without the word clusters and name lists: the networks were trained before them.
    feats = sentence_features([folded], [folded], kb, [""], lexicon=_NO_LEXICON)[0]
    return [a for a in feats if a.partition("=")[0] not in _NOT_WORD_LEVEL]


def context_attributes(tokens: Sequence[str], gaz: Sequence[str]) -> list[tuple[str, ...]]:
    """Per token: its shape and the knowledge-base phrase tags at -1, 0 and +1."""
    shapes = ["<s>", *(shape(t) for t in tokens), "</s>"]
    g = ["<s>", *(x or "O" for x in gaz), "</s>"]
    return [
        ("sh=" + shapes[i + 1], "sh-1=" + shapes[i], "sh+1=" + shapes[i + 2],
         "g=" + g[i + 1], "g-1=" + g[i], "g+1=" + g[i + 2], "g-1g=" + g[i] + "|" + g[i + 1])
        for i in range(len(tokens))
    ]


def word_chars(folded: str) -> str:
    """The letters the character CNN reads, with begin/end marks."""
    if len(folded) > MAX_WORD_CHARS:
        half = MAX_WORD_CHARS // 2
        folded = folded[:half] + folded[-half:]
    return BOW + folded + EOW


def allowed_transitions(labels: Sequence[str]) -> np.ndarray:
    """BIO validity: `I-X` only after `B-X` or `I-X` (also at sentence start: never)."""
    n = len(labels)
    ok = np.ones((n + 1, n), dtype=bool)  # row n: from the sentence start
    for j, to in enumerate(labels):
        if to.startswith("I-"):
            for i, frm in enumerate(labels):
                ok[i, j] = frm[2:] == to[2:] and frm != "O"
            ok[n, j] = False
    return ok


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)


class NeuralTagger:
    """BIO tags from a ``.npz`` exported by ``train_neural``; numpy only."""

    def __init__(self, model_path: str | Path, kb: KnowledgeBase | None = None) -> None:
        path = Path(model_path)
        if not path.is_file():
            raise FileNotFoundError(f"neural NER model not found: {path}")
        self.path = path
        self.kb = kb if kb is not None else KnowledgeBase.default()
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode("utf-8"))
            w = {k: data[k].astype(np.float32) for k in data.files if k != "meta"}
        self.meta = meta
        self.labels: list[str] = meta["labels"]
        self._attr_ids = {a: i for i, a in enumerate(meta["attributes"])}
        self._char_ids = {c: i for i, c in enumerate(meta["chars"])}  # 0 = padding, 1 = unknown
        self._bag = w["bag"]
        self._char_emb = w["char_emb"]
        k = self._char_conv_width = int(meta["char_conv_width"])
        # Conv1d weight (filters, channels, width) -> one matrix over stacked windows.
        conv = w["char_conv_w"]
        self._char_conv = conv.transpose(2, 1, 0).reshape(k * conv.shape[1], conv.shape[0])
        self._char_conv_b = w["char_conv_b"]
        self.encoder = meta.get("encoder", "bilstm")
        self.output = meta.get("output", "crf")
        h_size = self._hidden = int(meta["hidden"])
        if self.encoder == "bilstm":
            # Both directions run in one loop: weights stacked (2, ...). The sigmoid
            # gates (i, f, o) are pre-scaled by 1/2 so one tanh serves all four:
            # sigmoid(z) = (tanh(z / 2) + 1) / 2.
            scale = np.ones(4 * h_size, dtype=np.float32)
            scale[: 3 * h_size] = 0.5
            self._w_ih = [w[f"{d}_w_ih"].T * scale for d in ("fwd", "bwd")]
            self._b = [w[f"{d}_b"] * scale for d in ("fwd", "bwd")]
            self._w_hh = np.stack([w[f"{d}_w_hh"].T * scale for d in ("fwd", "bwd")])
        # Convolutions as one matrix over the stacked shifted inputs (t - d, t, t + d).
        self._convs = []
        for i in range(int(meta.get("cnn_layers", 0)) if self.encoder == "cnn" else 0):
            cw = w[f"conv{i}_w"]  # (out, in, 3)
            self._convs.append((2 ** i, cw.transpose(2, 1, 0).reshape(3 * cw.shape[1], cw.shape[0]),
                                w[f"conv{i}_b"]))
        self._out_w = w["out_w"].T.copy()
        self._out_b = w["out_b"]
        trans = w["transitions"].copy()
        start, end = w["start"].copy(), w["end"].copy()
        ok = allowed_transitions(self.labels)
        trans[~ok[:-1]] = -1e4
        start[~ok[-1]] = -1e4
        self._trans, self._start, self._end = trans, start, end
        self._char_cache: dict[str, np.ndarray] = {}
        self._word_cache: dict[str, np.ndarray] = {}
        self._cache_version = self.kb.version
        # An all-zero row stands for attributes the training data never had.
        self._zero_attr = len(self._bag)
        self._bag = np.concatenate([self._bag, np.zeros((1, self._bag.shape[1]), dtype=np.float32)])

    @classmethod
    def load(cls, path: str | Path) -> "NeuralTagger":
        """The tagger for a weights file, loaded once per process."""
        return _load(str(Path(path).resolve()))

    # --- encoding -----------------------------------------------------------------

    def _char_vector(self, folded: str) -> np.ndarray:
        vec = self._char_cache.get(folded)
        if vec is None:
            ids = [self._char_ids.get(c, 1) for c in word_chars(folded)]
            emb = self._char_emb[ids]
            k = self._char_conv_width
            pad = np.zeros((k // 2, emb.shape[1]), dtype=np.float32)
            padded = np.concatenate([pad, emb, pad])
            windows = np.concatenate([padded[j:j + len(ids)] for j in range(k)], axis=1)
            vec = np.maximum((windows @ self._char_conv + self._char_conv_b).max(axis=0), 0.0)
            if len(self._char_cache) > 50_000:
                self._char_cache.clear()
            self._char_cache[folded] = vec
        return vec

    def _word_vector(self, folded: str) -> np.ndarray:
        """Summed embeddings of the word-level attributes, then the character CNN."""
        entry = self._word_cache.get(folded)
        if entry is None:
            ids = [i for i in map(self._attr_ids.get, word_attributes(folded, self.kb)) if i is not None]
            bag = self._bag[ids].sum(axis=0) if ids else np.zeros(self._bag.shape[1], dtype=np.float32)
            entry = np.concatenate([bag, self._char_vector(folded)])
            if len(self._word_cache) > 50_000:
                self._word_cache.clear()
            self._word_cache[folded] = entry
        return entry

    def _inputs(self, tokens: Sequence[str], folded: Sequence[str], gaz: Sequence[str]) -> np.ndarray:
        """(n, input) rows: the word vectors plus the per-token context attributes."""
        if self._cache_version != self.kb.version:  # the KB types are part of a word's vector
            self._word_cache.clear()
            self._cache_version = self.kb.version
        rows = np.stack([self._word_vector(f) for f in folded])
        get = self._attr_ids.get
        ctx = [[get(a, self._zero_attr) for a in attrs] for attrs in context_attributes(tokens, gaz)]
        rows[:, : self._bag.shape[1]] += self._bag[ctx].sum(axis=1)
        return rows

    # --- network --------------------------------------------------------------------

    def _bilstm(self, inputs: list[np.ndarray], lengths: np.ndarray) -> np.ndarray:
        """Both LSTM directions over a batch of sentences: (B, T, 2H), zero past each end."""
        bsz, steps, h_size = len(inputs), int(lengths.max()), self._hidden
        flat = np.concatenate(inputs)
        # Backward direction: each sentence reversed, so both start at t = 0.
        proj = np.zeros((steps, 2, bsz, 4 * h_size), dtype=np.float32)  # time-major
        at = 0
        for b, n in enumerate(lengths):
            proj[:n, 0, b] = flat[at:at + n] @ self._w_ih[0]
            proj[:n, 1, b] = flat[at:at + n][::-1] @ self._w_ih[1]
            at += n
        proj[:, 0] += self._b[0]
        proj[:, 1] += self._b[1]
        w_hh = self._w_hh
        h = np.zeros((2, bsz, h_size), dtype=np.float32)
        c = np.zeros((2, bsz, h_size), dtype=np.float32)
        out = np.empty((steps, 2, bsz, h_size), dtype=np.float32)
        h3 = 3 * h_size
        z = np.empty((2, bsz, 4 * h_size), dtype=np.float32)
        for t in range(steps):
            np.matmul(h, w_hh, out=z)
            z += proj[t]
            np.tanh(z, out=z)
            gates = z[..., :h3]
            gates *= 0.5
            gates += 0.5  # i, f, o
            c *= gates[..., h_size:2 * h_size]
            c += gates[..., :h_size] * z[..., h3:]
            h = out[t]
            np.tanh(c, out=h)
            h *= gates[..., 2 * h_size:h3]
        both = np.zeros((bsz, steps, 2 * h_size), dtype=np.float32)
        for b, n in enumerate(lengths):
            both[b, :n, :h_size] = out[:n, 0, b]
            both[b, :n, h_size:] = out[:n, 1, b][::-1]
        return both

    def emissions(self, sentences: Sequence[Sequence[str]], folded: Sequence[Sequence[str]],
                  gaz: Sequence[Sequence[str]]) -> np.ndarray:
        """(B, T, labels) scores before the CRF layer for a batch of non-empty sentences."""
        lengths = np.array([len(t) for t in sentences])
        inputs = [self._inputs(t, f, g) for t, f, g in zip(sentences, folded, gaz)]
        hidden = self._cnn(inputs, lengths) if self.encoder == "cnn" else self._bilstm(inputs, lengths)
        return hidden @ self._out_w + self._out_b

    def _cnn(self, inputs: list[np.ndarray], lengths: np.ndarray) -> np.ndarray:
        """Dilated convolutions over a batch of sentences: (B, T, C), zero past each end.

        The sentences run as one sequence with zero rows between them (as many as
        the widest dilation), which is what zero padding gives each one alone.
        """
        gap = max(d for d, _w, _b in self._convs)
        dim = inputs[0].shape[1]
        starts = np.concatenate([[0], np.cumsum(lengths + gap)[:-1]]) + gap
        total = int(starts[-1] + lengths[-1] + gap)
        x = np.zeros((total, dim), dtype=np.float32)
        keep = np.zeros((total, 1), dtype=np.float32)
        for st, inp in zip(starts, inputs):
            x[st:st + len(inp)] = inp
            keep[st:st + len(inp)] = 1.0
        for dil, w, bias in self._convs:
            pad = np.zeros((dil, x.shape[1]), dtype=np.float32)
            padded = np.concatenate([pad, x, pad])
            stacked = np.concatenate([padded[:total], x, padded[2 * dil:]], axis=1)
            x = np.maximum(stacked @ w + bias, 0.0) * keep
        out = np.zeros((len(inputs), int(lengths.max()), x.shape[1]), dtype=np.float32)
        for b, (st, n) in enumerate(zip(starts, lengths)):
            out[b, :n] = x[st:st + n]
        return out

    def viterbi(self, scores: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """(B, T) best valid label ids under the CRF layer; positions past an end are junk."""
        bsz, steps, k = scores.shape
        best = self._start + scores[:, 0]
        back = np.empty((bsz, steps, k), dtype=np.int64)
        back[:, 0] = np.arange(k)
        identity = np.broadcast_to(np.arange(k), (bsz, k))
        for t in range(1, steps):
            cand = best[:, :, None] + self._trans
            live = (t < lengths)[:, None]
            back[:, t] = np.where(live, cand.argmax(axis=1), identity)
            best = np.where(live, cand.max(axis=1) + scores[:, t], best)
        path = np.empty((bsz, steps), dtype=np.int64)
        path[:, -1] = (best + self._end).argmax(axis=1)
        rows = np.arange(bsz)
        for t in range(steps - 1, 0, -1):
            path[:, t - 1] = back[rows, t, path[:, t]]
        return path

    def marginals(self, scores: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """(B, T, labels) posterior label probabilities (CRF layer, or per token)."""
        if self.output == "softmax":
            e = np.exp(scores - scores.max(axis=2, keepdims=True))
            return e / e.sum(axis=2, keepdims=True)
        bsz, steps, k = scores.shape
        trans = self._trans[None]
        alpha = np.empty_like(scores)
        beta = np.zeros_like(scores)
        alpha[:, 0] = self._start + scores[:, 0]
        for t in range(1, steps):
            alpha[:, t] = np.logaddexp.reduce(alpha[:, t - 1, :, None] + trans, axis=1) + scores[:, t]
        last = lengths - 1
        rows = np.arange(bsz)
        beta[rows, last] = self._end
        for t in range(steps - 2, -1, -1):
            step = np.logaddexp.reduce(trans + (scores[:, t + 1] + beta[:, t + 1])[:, None, :], axis=2)
            live = (t < last)[:, None]
            beta[:, t] = np.where(live, step, beta[:, t])
        log_z = np.logaddexp.reduce(alpha[rows, last] + self._end, axis=1)
        return np.exp(np.minimum(alpha + beta - log_z[:, None, None], 0.0))  # junk past an end stays finite

    def batches(self, lengths: Sequence[int], max_cells: int = 4096) -> list[list[int]]:
        """Indices of non-empty sentences grouped by length, each group padded to at most ``max_cells``."""
        order = sorted((i for i, n in enumerate(lengths) if n), key=lambda i: lengths[i])
        groups: list[list[int]] = []
        for i in order:
            if groups and lengths[i] * (len(groups[-1]) + 1) <= max_cells:
                groups[-1].append(i)
            else:
                groups.append([i])
        return groups

    def tag_parsed(self, sentences: Sequence[Sequence[str]], folded: Sequence[Sequence[str]],
                  gaz: Sequence[Sequence[str]]) -> list[list[str]]:
        """BIO tags for sentences given their folded tokens and KB phrase tags (``gazetteer``)."""
        out: list[list[str]] = [[] for _ in sentences]
        lengths = [len(t) for t in sentences]
        labels = self.labels
        for idx in self.batches(lengths):
            n = np.array([lengths[i] for i in idx])
            scores = self.emissions([sentences[i] for i in idx], [folded[i] for i in idx], [gaz[i] for i in idx])
            if self.output == "softmax":
                paths = scores.argmax(axis=2)  # `I-X` after anything but X reads as a new name
            else:
                paths = self.viterbi(scores, n)
            for row, i in enumerate(idx):
                out[i] = [labels[j] for j in paths[row, : lengths[i]]]
        return out

    def tag_sentences(self, sentences: Sequence[Sequence[str]]) -> list[list[str]]:
        """BIO tags for each sentence of tokens (no propagation)."""
        folded = [[fold_token(t) for t in s] for s in sentences]
        gaz = [gazetteer(self.kb, f) for f in folded]
        return self.tag_parsed(sentences, folded, gaz)


@lru_cache(maxsize=4)
def _load(path: str) -> NeuralTagger:
    return NeuralTagger(path)
