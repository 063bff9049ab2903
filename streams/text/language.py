"""Language of a text as an ISO 639-1 code, via py3langid."""

from __future__ import annotations

import re
import threading

UNDETERMINED = "und"
MIN_CONFIDENCE = 0.25
"""Below this (normalised) probability the guess is noise: short or mixed text."""
SAMPLE_CHARS = 600
"""The start of an article decides its language; classifying more only costs time."""

# py3langid also knows varieties and languages that have no two-letter code.
# Varieties are reported as their macrolanguage; the rest keep their ISO 639-3 code.
_TO_639_1 = {
    "arz": "ar", "ary": "ar", "uzs": "uz", "sdh": "ku", "gug": "gn", "kik": "ki",
    "fuv": "ff", "wuu": "zh", "yue": "zh", "hbo": "he", "grc": "el", "zxx": UNDETERMINED,
}

_lock = threading.Lock()
_identifier = None


def _model():
    """The model is loaded once per process (about a second), on first use."""
    global _identifier
    if _identifier is None:
        with _lock:
            if _identifier is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return _identifier


_LETTER_RE = re.compile(r"[^\W\d_]")


def _has_letters(text: str, wanted: int = 2) -> bool:
    for count, _ in enumerate(_LETTER_RE.finditer(text), 1):
        if count >= wanted:
            return True
    return False


def detect_language(text: str) -> str:
    """ISO 639-1 code of `text`, or "und" when it is empty or too ambiguous to tell."""
    sample = (text or "")[:SAMPLE_CHARS]
    if not _has_letters(sample):
        return UNDETERMINED
    language, confidence = _model().classify(sample)
    if confidence < MIN_CONFIDENCE:
        return UNDETERMINED
    return _TO_639_1.get(language, language)
