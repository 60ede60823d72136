"""Language identification and mojibake repair at normalisation (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from sentinel.ingest.language import identify_language, is_plainly_english, reads_language
from sentinel.ingest.normalize import NormalizeContext, normalize_entry
from sentinel.ingest.repair import repair_mojibake

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "language" / "headlines.tsv"
FOREIGN = [line.rstrip("\n").split("\t") for line in FIXTURE.read_text().splitlines(True)
           if line.strip() and not line.startswith("#")]
ENGLISH = [
    "Fed holds rates steady, signals cuts later",
    "America may soon be in recession, according to a famous rule",
    "JSW Steel Q4 net profit up 29.88% at Rs 793.63 crore",
    "Why fear is spreading in financial markets",
    "Nvidia shares jump after earnings beat estimates",
    "Sell Sun TV with target price of Rs 330",
    "Corporate America faces a trillion-dollar debt reckoning",
    "Bearish on Great Offshore",
]


@pytest.mark.parametrize("code, text", FOREIGN)
def test_foreign_headlines_are_named(code: str, text: str) -> None:
    assert identify_language(text) == code


@pytest.mark.parametrize("text", ENGLISH)
def test_english_headlines_are_never_called_foreign(text: str) -> None:
    assert identify_language(text) in ("en", None)


def test_the_english_gate_lets_only_plain_english_through() -> None:
    assert is_plainly_english("Apple shares rise after the results")
    assert not is_plainly_english("Le CAC 40 termine en forte baisse")
    assert not any(is_plainly_english(text) for _, text in FOREIGN)


def test_too_little_text_is_unknown_and_unknown_is_readable() -> None:
    assert identify_language("$$ 12") is None and identify_language("") is None
    assert reads_language(None, ("en",)) and reads_language("en", ("en",))
    assert not reads_language("zh", ("en",))


def test_mojibake_is_repaired_and_clean_text_left_alone() -> None:
    assert repair_mojibake("Americaâ€™s debt") == ("America’s debt", True)
    assert repair_mojibake("naÃ¯ve rÃ©sumÃ©") == ("naïve résumé", True)
    for clean in ("Société Générale résumé", "美联储维持利率不变", "plain ascii", None):
        assert repair_mojibake(clean) == (clean, False)


def test_normalize_records_the_repair_and_the_language() -> None:
    ctx = NormalizeContext(scope="feed-1", fetched_at=datetime(2026, 11, 29, tzinfo=UTC))
    english = normalize_entry({"title": "Americaâ€™s banks face a debt reckoning",
                               "id": "a-1"}, ctx)
    assert english is not None
    assert english.title == "America’s banks face a debt reckoning"
    assert "mojibake_repaired" in english.flags and english.language == "en"
    chinese = normalize_entry({"title": "沪指收跌1.2%，银行板块领跌", "id": "z-1"}, ctx)
    assert chinese is not None and chinese.language == "zh" and chinese.flags == ["date_missing"]
