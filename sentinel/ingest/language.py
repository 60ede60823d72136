"""The language of an article, identified at ingest (pure: text in, ISO 639-1 code out).

``identify_language(text)`` gives a two- or three-letter code (``en``, ``zh``, ``de``...) or
None when it cannot tell (too little text, or no language clearly ahead). Two steps:

1. a cheap English gate: ASCII text holding at least two distinct English marker words
   (function words and common market words that no other major language writes the same way)
   is English, decided in a few microseconds. Most English headlines stop here;
2. otherwise py3langid (a maintained fork of langid.py, BSD-3, model bundled in the wheel)
   restricted to :data:`LANGUAGES`, the major written languages of financial news, with
   normalised probabilities; its answer counts when its probability is at least
   :data:`MIN_PROBABILITY`, else the language stays unknown (None).

Restricting the candidate set matters on headlines: with all 142 of its languages py3langid
called 5.7% of 10,291 English headlines something else (Nigerian Pidgin, Latin, Bikol...);
restricted, 0.1% (15 of 14,408), while all 46 hand-written headlines in 14 other languages in
``tests/fixtures/language/headlines.tsv`` were named correctly (see docs/ingest.md).
An unknown language is treated like the model's own (its articles are classified as usual):
dropping an English headline costs more than classifying a foreign one.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

# Major written languages of financial news (ISO 639-1); py3langid chooses among these only.
LANGUAGES = (
    "en", "zh", "ja", "ko", "de", "fr", "es", "it", "pt", "ru", "ar", "nl", "tr", "pl", "hi",
    "sv", "da", "no", "fi", "cs", "el", "he", "th", "vi", "id", "uk", "ro", "hu", "fa", "bn",
    "ur", "ms",
)
MIN_PROBABILITY = 0.5
SAMPLE_CHARS = 300  # the title and the start of the summary say enough

# Words English writes and the other listed languages do not (as whole words): "of", "is",
# "over", "will", "as", "on" and "die" were left out on purpose (Dutch, German, Portuguese,
# French).
ENGLISH_MARKERS = frozenset((
    "the", "to", "and", "for", "with", "from", "after", "says", "said", "its", "are", "was",
    "were", "has", "have", "been", "than", "amid", "into", "this", "that", "these", "those",
    "their", "which", "while", "what", "why", "how", "who", "about", "against", "could",
    "would", "should", "more", "most", "first", "stocks", "stock", "shares", "share", "market",
    "markets", "profit", "profits", "quarter", "sales", "revenue", "earnings", "rises", "rise",
    "falls", "fall", "jumps", "slips", "gains", "loses", "up", "down", "high", "low", "new",
    "year", "billion", "million", "percent", "report", "reports", "deal", "deals", "bank",
    "banks", "rates", "investors", "price", "prices", "buy", "sell", "target", "hits", "sees",
    "plans", "gets", "posts", "sets", "cuts", "raises", "ends", "closes", "week", "month",
    "today", "stake", "futures", "oil", "crore", "lakh", "nifty", "sensex",
))
_WORD = re.compile(r"[a-z]+")
_LETTER = re.compile(r"[^\W\d_]")
_TYPOGRAPHY = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"',
                             "\u201d": '"', "\u2013": "-", "\u2014": "-",
                             "\u2026": ".", "\u00a0": " "})


def is_plainly_english(text: str) -> bool:
    """The cheap gate: ASCII (typographic quotes and dashes allowed), and at least two
    distinct English marker words."""
    if not text.isascii():
        text = text.translate(_TYPOGRAPHY)
        if not text.isascii():
            return False
    first = None
    for match in _WORD.finditer(text.lower()):
        word = match.group()
        if word in ENGLISH_MARKERS and word != first:
            if first is not None:
                return True
            first = word
    return False


@lru_cache(maxsize=1)
def _identifier() -> Any:
    """py3langid's model, loaded once per process (about a second) and restricted."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(LANGUAGES)
    return identifier


def identify_language(title: str | None, summary: str | None = None) -> str | None:
    """ISO 639-1 code of an article's language, or None when it cannot be told.

    The English gate reads the title, then the title with the start of the summary; py3langid
    reads the title when it has a dozen letters or more (its cost grows with the text: about
    100 us for a headline, 500 us for 300 characters), else the title with the summary.
    """
    title, summary = title or "", summary or ""
    if is_plainly_english(title[:SAMPLE_CHARS]):
        return "en"
    sample = f"{title}. {summary}"[:SAMPLE_CHARS] if summary else title[:SAMPLE_CHARS]
    if summary and is_plainly_english(sample):
        return "en"
    if len(_LETTER.findall(title, 0, 64)) >= 12:
        sample = title[:SAMPLE_CHARS]
    elif len(_LETTER.findall(sample, 0, 64)) < 3:
        return None
    language, probability = _identifier().classify(sample)
    return str(language) if probability >= MIN_PROBABILITY else None


def reads_language(language: str | None, languages: tuple[str, ...] | list[str]) -> bool:
    """Whether a model that reads ``languages`` can classify an article in ``language``
    (an unknown language counts as readable)."""
    return language is None or language in languages
