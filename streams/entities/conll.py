"""Read CoNLL `token TAG` files (ANERcorp and anything shaped like it).

A bad file must say where and what is wrong, because people point the
evaluation at files they made by hand: the error names the line and the fault.
"""

from __future__ import annotations

import re
from pathlib import Path

_TAG_RE = re.compile(r"^(?:O|[BI]-[A-Za-z]+)$")
_TYPE_MAP = {"PERS": "PER"}


def normalize_tag(tag: str) -> str:
    """`B-PERS` (ANERcorp) is `B-PER` everywhere else."""
    if tag == "O":
        return tag
    prefix, etype = tag[:2], tag[2:].upper()
    return prefix + _TYPE_MAP.get(etype, etype)


def read_conll(path: str | Path) -> list[tuple[list[str], list[str]]]:
    """Sentences as ``(tokens, tags)``; tags normalised (PERS -> PER).

    Blank lines end sentences; `-DOCSTART-` lines are skipped; extra middle
    columns (POS, chunk) are ignored: the token is the first column and the
    tag the last. Raises ValueError for an unreadable or malformed file.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read CoNLL file: {exc.strerror or exc}") from exc
    sentences: list[tuple[list[str], list[str]]] = []
    tokens: list[str] = []
    tags: list[str] = []
    for lineno, line_bytes in enumerate(raw.split(b"\n"), start=1):
        try:
            line = line_bytes.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path}:{lineno}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc
        if lineno == 1:
            line = line.lstrip("\ufeff")
        line = line.rstrip("\r")
        if not line.strip():
            if tokens:
                sentences.append((tokens, tags))
                tokens, tags = [], []
            continue
        fields = line.split()
        if fields[0] == "-DOCSTART-":
            continue
        if len(fields) < 2:
            raise ValueError(f"{path}:{lineno}: expected 'token TAG', got {line.strip()!r} (one column)")
        tag = fields[-1]
        if not _TAG_RE.match(tag):
            raise ValueError(
                f"{path}:{lineno}: tag {tag!r} is not O, B-TYPE or I-TYPE (line {line.strip()!r})"
            )
        tokens.append(fields[0])
        tags.append(normalize_tag(tag))
    if tokens:
        sentences.append((tokens, tags))
    if not sentences:
        raise ValueError(f"{path}: no tokens found (empty CoNLL file)")
    return sentences
