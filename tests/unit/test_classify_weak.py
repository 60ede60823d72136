"""The investor lexicon (weak supervision) and the headline text preparation."""

from __future__ import annotations

import pytest

from sentinel.classify.model import prepare_headline, prepare_text, text_preparer
from sentinel.classify.weak import relabel_neutral, weak_label


@pytest.mark.parametrize("text, label", [
    ("JSW Steel Q4 net profit up 29.88% at Rs 793.63 crore", "positive"),
    ("Era Infra bags Rs 329 crore contract; stock surges", "positive"),
    ("Tirupati Inks tanks 16 pc in debut trade", "negative"),
    ("Sell Sun TV with target price of Rs 330", "negative"),
    ("Bearish on Great Offshore", "negative"),
    ("Ciena upgraded to buy at Instinet", "positive"),
    ("2U downgraded to sector weight from overweight at KeyBanc Capital", "negative"),
    ("Triumph EPS beats by $0.03, beats on revenue", "positive"),
    ("Kesoram Industries Q3 net loss narrows at Rs 88 crore", "positive"),
    ("Nvidia hits record high on strong demand", "positive"),
])
def test_rules_read_headlines_as_an_investor_does(text: str, label: str) -> None:
    weak = weak_label(text)
    assert weak is not None and weak.label == label


@pytest.mark.parametrize("text", [
    "Hain Celestial EPS beats by $0.01, misses on revenue",  # both directions
    "Bank Nifty unlikely to rally in short term",  # hedged
    "Should The Recent Earnings Drop Worry You?",  # a question
    "Unemployment rises to 5%",  # bad when it goes up
    "Coronavirus cases surge in Indonesia",
    "LVMH to buy Tiffany for $16.2 billion",  # an acquisition, not a recommendation
    "Google declines to comment on the report",
    "Hero MotoCorp appoints Sanjay Jorapur as Chief HR Officer",  # no rule
])
def test_rules_abstain_when_unsure(text: str) -> None:
    assert weak_label(text) is None


def test_relabel_moves_only_neutral_rows() -> None:
    texts = ["Shares jump 10% after results", "Shares jump 10% after results",
             "Company names new CFO"]
    labels, moved = relabel_neutral(texts, ["neutral", "negative", "neutral"])
    assert labels == ["positive", "negative", "neutral"] and moved == 1


@pytest.mark.parametrize("tweet, headline", [
    ("$GTX: Garrett Motion withdraws FY 20 guidance https://t.co/FcJ3is9qU4",
     "Garrett Motion withdraws FY 20 guidance"),
    ("$WINMQ $UNIT - Windstream works to block Uniti https://t.co/x",
     "Windstream works to block Uniti"),
    ("Amazon sues over $10 billion cloud contract to Micro... #Microsoft #Stock… https://t.co/i",
     "Amazon sues over $10 billion cloud contract to Micro"),
    ("Stocks rally as Fed holds via @Reuters", "Stocks rally as Fed holds"),
    ("Buy $AAPL now, says @jim &amp; co", "Buy AAPL now, says jim & co"),
    ("JSW Steel Q4 net profit up 29.88% at Rs 793.63 crore",
     "JSW Steel Q4 net profit up 29.88% at Rs 793.63 crore"),
])
def test_headline_prep_removes_what_tweets_carry(tweet: str, headline: str) -> None:
    assert prepare_headline(tweet) == headline


def test_models_get_the_text_prep_they_were_trained_with() -> None:
    assert text_preparer({}) is prepare_text  # models before headline/2
    assert text_preparer({"text_prep": "headline/2"}) is prepare_headline
    from sentinel.classify.model import ModelError

    with pytest.raises(ModelError, match="text_prep 'nope/9' is unknown"):
        text_preparer({"text_prep": "nope/9"})
