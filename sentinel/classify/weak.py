"""Weak supervision: a small lexicon of rules that reads a headline the way an investor does.

The Twitter Financial News sentiment labels often call factual price-move and earnings news
*neutral* ("Q1 net up 50%", "shares tank 16%"); an investor, Sentinel's user, calls it good or
bad news for the stock. These rules find such headlines by their wording, with a direction:

- **move**: a price, share, index or result going up (rises, jumps, surges, soars, rallies,
  climbs, gains, "up 5%", a record or 52-week high) or down (falls, drops, tanks, plunges,
  slumps, tumbles, sinks, slides, "down 5%", a 52-week low);
- **results**: earnings that beat or miss, a loss that narrows or widens;
- **rating**: upgrades and downgrades, price targets raised or cut, "buy"/"sell"/"avoid"
  recommendations, outperform/underperform, overweight/underweight, bullish/bearish on.

A headline where both directions fire ("EPS beats by $0.01, misses on revenue"), where a
negation or hedge comes first ("not bullish", "unlikely to rally"), or whose subject is
something that is bad when it rises (unemployment, inflation, losses, debt, virus cases,
yields...) gets no rule label: the rules abstain rather than guess.

Training uses them in two ways (``sentinel train --weak-labels``): a sentiment training row
labelled *neutral* whose text a rule labels is moved to the rule's label (human positive and
negative labels are never changed), and texts of the *topic* training file that a rule labels
become extra sentiment rows. Each rule's effect was measured on TFNS validation and on the
selection half of SEntFiN (see the model card); nothing here was fitted to either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

VERSION = "investor-lexicon/1"

_UP_VERBS = (r"rise|rises|rising|rose|gain|gains|gained|jump|jumps|jumped|surge|surges|surged|"
             r"soar|soars|soared|rall(?:y|ies|ied)|climb|climbs|climbed|zoom|zooms|zoomed|"
             r"spurt|spurts|spurted|rebound|rebounds|rebounded|skyrocket(?:s|ed)?|"
             r"rocket(?:s|ed)?|leap|leaps|leapt")
# verbs that name a move only when a number follows ("net profit grows 20%")
_UP_BY = r"(?:grows|grew|increases|increased|improves|improved|advances|advanced|doubles)"
_DOWN_BY = r"(?:shrinks|shrank|decreases|decreased|contracts|contracted|halves)"
_DOWN_VERBS = (r"fall|falls|falling|fell|drop|drops|dropped|tank|tanks|tanked|plunge|plunges|"
               r"plunged|slump|slumps|slumped|tumble|tumbles|tumbled|sink|sinks|sank|slide|"
               r"slides|slid|decline(?! to)|declines(?! to)|declined(?! to)|slip|slips|slipped|"
               r"crash|crashes|crashed|plummet(?:s|ed)?|sheds(?! light)|dip|dips|dipped|skid|"
               r"skids|skidded|nosedives?|nosedived|weakens|weakened|sags?|sagged")
_NUMBER = r"(?:over |about |nearly |almost |around |by |more than )?[\d.,]+"

RULES: dict[str, tuple[str, re.Pattern[str]]] = {
    "move_up": ("positive", re.compile(
        rf"\b(?:{_UP_VERBS})\b|\b{_UP_BY} {_NUMBER}|\bup {_NUMBER}|"
        r"\b(?:record|all-time|lifetime|52-week|\d+-year|multi-year|\d+-month) highs?\b|"
        r"\bupper circuit\b|\bin (?:the )?green\b", re.I)),
    "move_down": ("negative", re.compile(
        rf"\b(?:{_DOWN_VERBS})\b|\b{_DOWN_BY} {_NUMBER}|\bdown {_NUMBER}|"
        r"\b(?:record|all-time|52-week|\d+-year|multi-year|\d+-month) lows?\b|"
        r"\blower circuit\b|\bin (?:the )?red\b|\bsell-?off\b",
        re.I)),
    "results_beat": ("positive", re.compile(
        r"\bbeats?\b|\btops? (?:estimates|expectations|forecasts?|views?)\b|"
        r"\bloss(?:es)? (?:narrows?|narrowed|shrinks?|shrank|shrunk)\b", re.I)),
    "results_miss": ("negative", re.compile(
        r"\bmiss(?:es|ed)?\b|\bfalls? short\b|\bloss(?:es)? (?:widens?|widened|deepens?|"
        r"deepened)\b|\bprofit warning\b|\bwarns?\b", re.I)),
    "rating_up": ("positive", re.compile(
        r"\bupgrade[sd]?\b|\b(?:target|guidance|outlook|forecast|dividend) (?:raised|increased|"
        r"hiked|lifted)\b|\b(?:raises?|lifts?|hikes?|boosts?|increases?) (?:\w+ )?(?:price "
        r"target|target|guidance|outlook|forecast|dividend)\b|^(?:buy|accumulate)\b|"
        r"\b(?:is a|a|rated|rates|reiterates?|maintains?|initiates?(?: at)?|upgraded to)"
        r" (?:strong )?(?:buy|outperform|overweight)\b|\b(?:bullish|optimistic) on\b|"
        r"\bbuy on dips\b|\bbuy (?:rating|call)\b", re.I)),
    "rating_down": ("negative", re.compile(
        r"\bdowngrade[sd]?\b|\b(?:target|guidance|outlook|forecast|dividend) (?:cut|lowered|"
        r"reduced|slashed)\b|\b(?:cuts?|lowers?|slashes|reduces?) (?:\w+ )?(?:price target|"
        r"target|guidance|outlook|forecast|dividend)\b|^(?:sell|avoid|exit)\b|"
        r"\b(?:is a|a|rated|rates|reiterates?|maintains?|initiates?(?: at)?|downgraded to)"
        r" (?:strong )?(?:sell|underperform|underweight)\b|\b(?:bearish|cautious|negative) "
        r"on\b|\bunderperform\b|\bunderweight\b", re.I)),
}

# Abstain: the headline hedges or negates, or its subject is bad news when it goes up.
HEDGE = re.compile(
    r"\b(?:not|no|never|unlikely|fails? to|failed to|despite|even as|but|however|although|"
    r"if|whether|can|could|may|might|should|would|will\?)\b|\?", re.I)
BAD_WHEN_UP = re.compile(
    r"\b(?:unemployment|jobless|inflation|deficit|debt|losses|loss|costs?|expenses|layoffs?|"
    r"job cuts|claims|defaults?|delinquenc\w*|bankruptc\w*|virus|coronavirus|covid\w*|cases|"
    r"deaths|infections|outbreak|yields?|rates?|tariffs?|taxe?s?|volatility|vix|fears?|"
    r"worries|concerns?|risks?|short interest|shorts?|npas?|bad loans|provisions|imports|"
    r"prices|price of|crude|oil|fuel|petrol|diesel)\b", re.I)
MOVE_RULES = frozenset({"move_up", "move_down"})


@dataclass(frozen=True)
class WeakLabel:
    label: str  # positive or negative
    rules: tuple[str, ...]  # the rules that fired (all agreeing)


def weak_label(text: str) -> WeakLabel | None:
    """The investor's reading of a headline by the lexicon, or None (no rule, or abstain)."""
    fired = [name for name, (_, pattern) in RULES.items() if pattern.search(text)]
    if not fired:
        return None
    if HEDGE.search(text):
        return None
    if BAD_WHEN_UP.search(text):
        fired = [name for name in fired if name not in MOVE_RULES]
    labels = {RULES[name][0] for name in fired}
    if len(labels) != 1:
        return None
    return WeakLabel(labels.pop(), tuple(fired))


def relabel_neutral(texts: Iterable[str], labels: Iterable[str]) -> tuple[list[str], int]:
    """Labels with each *neutral* row that a rule reads moved to the rule's label; returns the
    new labels and how many moved. Positive and negative labels are kept as they are."""
    out, moved = [], 0
    for text, label in zip(texts, labels, strict=True):
        if label == "neutral":
            weak = weak_label(text)
            if weak is not None:
                out.append(weak.label)
                moved += 1
                continue
        out.append(label)
    return out, moved
