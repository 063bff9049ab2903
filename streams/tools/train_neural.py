"""Train the neural tagger of ``streams.entities.neural`` with torch (the ``train`` extra).

``python -m streams.tools.train_neural --model OUT.npz`` trains on the
first 90 % of the ANERcorp sentences, keeps the epoch with the best
development micro F1 (with name propagation, scored by the numpy tagger that
workers would run, so the exported weights are what is measured) and by
default trains again on all sentences for that many epochs (``--no-refit``
writes the best 90 % model instead). ``--set encoder=cnn --set output=softmax``
gives the convolutional variant. One thread and a fixed seed: the same data,
settings and seed give the same weights.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np

from streams.entities.conll import read_conll
from streams.tools.eval_ner import score
from streams.entities.features import gazetteer
from streams.entities.kb import KnowledgeBase
from streams.entities.ner import propagate
from streams.entities.neural import NeuralTagger, context_attributes, word_attributes, word_chars
from streams.entities.tokens import fold_token
from streams.tools.train_ner import DEFAULT_TRAIN

LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
SETTINGS = {
    "min_attribute_count": 2, "bag_dim": 64, "char_dim": 24, "char_filters": 48, "char_conv_width": 3,
    "encoder": "bilstm", "cnn_layers": 2, "output": "crf", "hidden": 96, "dropout": 0.5, "attribute_dropout": 0.0, "lr": 2e-3, "batch": 16, "max_epochs": 25, "patience": 4,
}


def _encode(sentences, kb):
    """Per sentence: folded tokens, token attributes, tag ids."""
    out = []
    for tokens, tags in sentences:
        folded = [fold_token(t) for t in tokens]
        context = context_attributes(tokens, gazetteer(kb, folded))
        attrs = [[*word_attributes(f, kb), *c] for f, c in zip(folded, context)]
        out.append((folded, attrs, [LABELS.index(t) if t in LABELS else 0 for t in tags]))
    return out


def _vocabularies(encoded, min_count: int):
    counts: Counter[str] = Counter(a for _f, attrs, _y in encoded for feats in attrs for a in feats)
    attributes = sorted(a for a, c in counts.items() if c >= min_count)
    chars = sorted({c for folded, _a, _y in encoded for f in folded for c in word_chars(f)})
    return attributes, ["<pad>", "<unk>", *chars]


class _Model:
    """Torch modules mirroring ``NeuralTagger``'s numpy forward pass."""

    def __init__(self, torch, n_attr: int, n_chars: int, s: dict) -> None:
        nn = torch.nn
        self.torch = torch
        self.bag = nn.EmbeddingBag(n_attr, s["bag_dim"], mode="sum")
        nn.init.uniform_(self.bag.weight, -0.1, 0.1)
        self.char_emb = nn.Embedding(n_chars, s["char_dim"], padding_idx=0)
        self.char_conv = nn.Conv1d(s["char_dim"], s["char_filters"], s["char_conv_width"],
                                   padding=s["char_conv_width"] // 2)
        d_in = s["bag_dim"] + s["char_filters"]
        self.encoder = s["encoder"]
        self.output = s["output"]
        if self.encoder == "cnn":  # width-3 convolutions, dilation 1, 2, 4...: no step loop at run time
            self.convs = nn.ModuleList([
                nn.Conv1d(d_in if i == 0 else 2 * s["hidden"], 2 * s["hidden"], 3, padding=2 ** i, dilation=2 ** i)
                for i in range(s["cnn_layers"])
            ])
            self.lstm = nn.ModuleList()
        else:
            self.convs = nn.ModuleList()
            self.lstm = nn.LSTM(d_in, s["hidden"], batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * s["hidden"], len(LABELS))
        self.drop = nn.Dropout(s["dropout"])
        k = len(LABELS)
        self.transitions = nn.Parameter(torch.zeros(k, k))
        self.start = nn.Parameter(torch.zeros(k))
        self.end = nn.Parameter(torch.zeros(k))
        self.modules = nn.ModuleList([self.bag, self.char_emb, self.char_conv, self.lstm, self.convs, self.out])

    def parameters(self):
        return [*self.modules.parameters(), self.transitions, self.start, self.end]

    def train(self, mode: bool) -> None:
        self.modules.train(mode)
        self.drop.train(mode)

    def emissions(self, batch):
        torch = self.torch
        attr_ids, attr_offsets, char_ids, char_mask, lengths = batch
        bag = self.bag(attr_ids, attr_offsets)  # (tokens, bag_dim)
        conv = self.char_conv(self.char_emb(char_ids).transpose(1, 2))  # (tokens, filters, chars)
        conv = conv.masked_fill(~char_mask[:, None, :], -1e4)
        chars = torch.relu(conv.max(dim=2).values)
        x = self.drop(torch.cat([bag, chars], dim=1))
        padded = torch.nn.utils.rnn.pad_sequence(list(torch.split(x, lengths.tolist())), batch_first=True)
        if self.encoder == "cnn":
            mask = (torch.arange(padded.shape[1])[None, :] < lengths[:, None]).float()[:, None, :]
            h = padded.transpose(1, 2)
            for conv in self.convs:
                h = torch.relu(conv(h)) * mask  # padding stays zero, as between sentences at run time
            return self.out(self.drop(h.transpose(1, 2)))
        packed = torch.nn.utils.rnn.pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False)
        h, _ = self.lstm(packed)
        h, _ = torch.nn.utils.rnn.pad_packed_sequence(h, batch_first=True)
        return self.out(self.drop(h))

    def nll(self, em, tags, mask):
        """Negative log-likelihood of the gold tags (linear-chain CRF, or per token)."""
        torch = self.torch
        if self.output == "softmax":
            logp = torch.log_softmax(em, dim=2).gather(2, tags[:, :, None]).squeeze(2)
            return -(logp * mask).sum()
        lengths = mask.sum(1).long()
        gold = self.start[tags[:, 0]] + em.gather(2, tags[:, :, None]).squeeze(2).mul(mask).sum(1)
        gold = gold + (self.transitions[tags[:, :-1], tags[:, 1:]] * mask[:, 1:]).sum(1)
        gold = gold + self.end[tags.gather(1, (lengths - 1)[:, None]).squeeze(1)]
        alpha = self.start + em[:, 0]
        for t in range(1, em.shape[1]):
            nxt = torch.logsumexp(alpha[:, :, None] + self.transitions[None], dim=1) + em[:, t]
            alpha = torch.where(mask[:, t, None].bool(), nxt, alpha)
        log_z = torch.logsumexp(alpha + self.end, dim=1)
        return (log_z - gold).sum()

    def export(self, path: Path, meta: dict) -> None:
        """Write the ``.npz`` that ``NeuralTagger`` reads (LSTM gates reordered i, f, o, g)."""
        h = meta["hidden"]

        def gates(a):
            a = a.detach().numpy()
            return np.concatenate([a[:h], a[h:2 * h], a[3 * h:], a[2 * h:3 * h]])

        arrays = {}
        for i, conv in enumerate(self.convs):
            arrays[f"conv{i}_w"] = conv.weight.detach().numpy()
            arrays[f"conv{i}_b"] = conv.bias.detach().numpy()
        lstm = self.lstm
        if self.encoder == "bilstm":
            arrays.update({
                "fwd_w_ih": gates(lstm.weight_ih_l0), "fwd_w_hh": gates(lstm.weight_hh_l0),
                "fwd_b": gates(lstm.bias_ih_l0 + lstm.bias_hh_l0),
                "bwd_w_ih": gates(lstm.weight_ih_l0_reverse), "bwd_w_hh": gates(lstm.weight_hh_l0_reverse),
                "bwd_b": gates(lstm.bias_ih_l0_reverse + lstm.bias_hh_l0_reverse),
            })
        arrays.update({
            "bag": self.bag.weight.detach().numpy().astype(np.float16),
            "char_emb": self.char_emb.weight.detach().numpy(),
            "char_conv_w": self.char_conv.weight.detach().numpy(),
            "char_conv_b": self.char_conv.bias.detach().numpy(),
            "out_w": self.out.weight.detach().numpy(), "out_b": self.out.bias.detach().numpy(),
            "transitions": self.transitions.detach().numpy(), "start": self.start.detach().numpy(),
            "end": self.end.detach().numpy(),
        })
        arrays = {k: (v if v.dtype == np.float16 else v.astype(np.float32)) for k, v in arrays.items()}
        meta_bytes = np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)
        _write_npz(path, {"meta": meta_bytes, **arrays})


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """A compressed ``.npz`` with fixed entry dates, so equal weights give equal bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, array in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
            zf.writestr(zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0)), buf.getvalue(),
                        compress_type=zipfile.ZIP_DEFLATED)


def _batch(torch, items, attr_index, char_index, drop: float = 0.0, rng: random.Random | None = None):
    """Tensors for a list of encoded sentences; ``drop`` forgets attributes at random (training only)."""
    attr_ids, offsets, char_rows, tags = [], [], [], []
    lengths = []
    for folded, attrs, y in items:
        lengths.append(len(folded))
        tags.append(torch.tensor(y))
        for f, feats in zip(folded, attrs):
            offsets.append(len(attr_ids))
            ids = [i for i in (attr_index.get(a) for a in feats) if i is not None]
            if drop and rng is not None:
                ids = [i for i in ids if rng.random() >= drop] or ids[:1]
            attr_ids.extend(ids)
            char_rows.append([char_index.get(c, 1) for c in word_chars(f)])
    width = max(len(r) for r in char_rows)
    chars = torch.zeros((len(char_rows), width), dtype=torch.long)
    for i, r in enumerate(char_rows):
        chars[i, : len(r)] = torch.tensor(r)
    tag_pad = torch.nn.utils.rnn.pad_sequence(tags, batch_first=True)
    mask = torch.zeros(tag_pad.shape, dtype=torch.float32)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
    return ((torch.tensor(attr_ids), torch.tensor(offsets), chars, chars != 0, torch.tensor(lengths)), tag_pad, mask)


def _fit(torch, encoded, settings, seed, epochs, dev_eval=None, log=None):
    """Train; with ``dev_eval`` keep the best epoch by its score and stop on patience."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    attributes, chars = _vocabularies(encoded, settings["min_attribute_count"])
    attr_index = {a: i for i, a in enumerate(attributes)}
    char_index = {c: i for i, c in enumerate(chars)}
    model = _Model(torch, len(attributes), len(chars), settings)
    optim = torch.optim.Adam(model.parameters(), lr=settings["lr"])
    order = sorted(range(len(encoded)), key=lambda i: (len(encoded[i][0]), i))
    size = settings["batch"]
    batches = [order[i:i + size] for i in range(0, len(order), size)]
    meta = {"labels": LABELS, "attributes": attributes, "chars": chars, **settings, "seed": seed}
    best = (-1.0, 0, None, b"")
    history = []
    for epoch in range(1, epochs + 1):
        model.train(True)
        rng.shuffle(batches)
        total = 0.0
        for idx in batches:
            inputs, tags, mask = _batch(torch, [encoded[i] for i in idx], attr_index, char_index,
                                        settings["attribute_dropout"], rng)
            loss = model.nll(model.emissions(inputs), tags, mask)
            optim.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optim.step()
            total += loss.item()
        model.train(False)
        entry = {"epoch": epoch, "loss": round(total, 1)}
        if dev_eval is not None:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "epoch.npz"
                model.export(path, meta)
                f1, detail = dev_eval(path)
                weights = path.read_bytes()
            entry["dev_f1"] = round(100 * f1, 2)
            if f1 > best[0]:
                best = (f1, epoch, detail, weights)
        history.append(entry)
        if log:
            print(json.dumps(entry), file=log, flush=True)
        if dev_eval is not None and epoch - best[1] >= settings["patience"]:
            break
    return model, meta, best, history


def train_neural(
    train_path: str | Path,
    model_path: str | Path,
    *,
    seed: int = 0,
    dev_fraction: float = 0.1,
    refit: bool = True,
    settings: dict | None = None,
    kb: KnowledgeBase | None = None,
    log=None,
) -> dict:
    """Train on the first sentences, pick the epoch on the last ``dev_fraction``; return the scores."""
    import torch

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    s = {**SETTINGS, **(settings or {})}
    kb = kb if kb is not None else KnowledgeBase.packaged()
    model_path = Path(model_path)
    sentences = read_conll(train_path)
    n_dev = int(round(len(sentences) * dev_fraction))
    n_train = len(sentences) - n_dev
    encoded = _encode(sentences, kb)
    dev_tokens = [tokens for tokens, _tags in sentences[n_train:]]
    dev_gold = [tags for _tokens, tags in sentences[n_train:]]
    dev_folded = [f for f, _a, _y in encoded[n_train:]]

    def dev_eval(path):
        tagger = NeuralTagger(path, kb)
        t0 = time.process_time()
        pred = tagger.tag_sentences(dev_tokens)
        cpu = time.process_time() - t0
        alone = score(dev_gold, pred)
        prop = score(dev_gold, propagate(dev_folded, pred, tokens=dev_tokens))
        return prop["micro_f1"], {"dev": alone, "dev_propagated": prop,
                                  "dev_tokens_per_cpu_second": round(sum(map(len, dev_tokens)) / cpu)}

    started = time.process_time()
    model, meta, best, history = _fit(torch, encoded[:n_train], s, seed, s["max_epochs"], dev_eval, log)
    result = {"settings": s, "seed": seed, "train_sentences": n_train, "dev_sentences": n_dev,
              "best_epoch": best[1], "history": history, **(best[2] or {}),
              "train_cpu_seconds": round(time.process_time() - started, 1)}
    if refit:
        _model, meta, _best, _h = _fit(torch, encoded, s, seed, best[1], None, log)
        _model.export(model_path, meta)
        result["refit_on_all"] = True
    else:
        model_path.parent.mkdir(parents=True, exist_ok=True)
        model_path.write_bytes(best[3])
    result["model_bytes"] = model_path.stat().st_size
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", default=str(DEFAULT_TRAIN))
    parser.add_argument("--model", required=True, help="where to write the .npz weights")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dev-fraction", type=float, default=0.1)
    parser.add_argument("--no-refit", dest="refit", action="store_false", default=True,
                        help="write the best epoch of the model trained without the dev sentences")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting, e.g. --set hidden=128")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in SETTINGS:
            print(f"error: unknown setting {key!r}", file=sys.stderr)
            return 2
        overrides[key] = type(SETTINGS[key])(value)
    result = train_neural(args.train, args.model, seed=args.seed, dev_fraction=args.dev_fraction,
                          refit=args.refit, settings=overrides, log=sys.stderr)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
