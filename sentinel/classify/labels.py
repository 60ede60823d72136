"""Label maps for the two tasks, and the one place where user-supplied labels become names.

Every model head, report and database row speaks in *canonical names*:

- sentiment: ``negative``, ``neutral``, ``positive`` (in that order in the shipped model);
- topic: the 20 topic names of the Twitter Financial News topic dataset (ids 0-19 below).

Labels in a file can be canonical names, the dataset's own names (``Bearish``/``Bullish``/
``Neutral``), or integer ids. Integer ids are read with the dataset's published id order unless
``label_names`` says otherwise (``Bearish,Bullish,Neutral`` means id 0 -> Bearish -> negative, ...).
The sentiment aliases are fixed and documented: Bearish -> negative, Bullish -> positive,
Neutral -> neutral (case-insensitive).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sentinel.errors import SentinelError

SENTIMENT = "sentiment"
TOPIC = "topic"
TASKS = (SENTIMENT, TOPIC)

SENTIMENT_LABELS: tuple[str, ...] = ("negative", "neutral", "positive")

# zeroshot/twitter-financial-news-sentiment: 0 = Bearish, 1 = Bullish, 2 = Neutral.
SENTIMENT_DATASET_IDS: tuple[str, ...] = ("Bearish", "Bullish", "Neutral")

SENTIMENT_ALIASES: dict[str, str] = {
    "negative": "negative",
    "neutral": "neutral",
    "positive": "positive",
    "bearish": "negative",
    "bullish": "positive",
}

# zeroshot/twitter-financial-news-topic, ids 0-19 (see ../shared/datasets/README.md).
TOPIC_LABELS: tuple[str, ...] = (
    "Analyst Update",
    "Fed | Central Banks",
    "Company | Product News",
    "Treasuries | Corporate Debt",
    "Dividend",
    "Earnings",
    "Energy | Oil",
    "Financials",
    "Currencies",
    "General News | Opinion",
    "Gold | Metals | Materials",
    "IPO",
    "Legal | Regulation",
    "M&A | Investments",
    "Macro",
    "Markets",
    "Politics",
    "Personnel Change",
    "Stock Commentary",
    "Stock Movement",
)

TASK_LABELS: dict[str, tuple[str, ...]] = {SENTIMENT: SENTIMENT_LABELS, TOPIC: TOPIC_LABELS}
DATASET_IDS: dict[str, tuple[str, ...]] = {SENTIMENT: SENTIMENT_DATASET_IDS, TOPIC: TOPIC_LABELS}
_TOPICS_BY_LOWER = {label.lower(): label for label in TOPIC_LABELS}

# an explicit id -> label map for an external checkpoint (ids as ints, or as strings: JSON)
LabelMap = Mapping[int, str] | Mapping[str, str]


class LabelError(SentinelError):
    """A label (or label map) does not fit the task."""


def check_task(task: str) -> str:
    if task not in TASK_LABELS:
        raise LabelError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    return task


def canonical_label(task: str, value: object) -> str:
    """The canonical name for one label given as a name or alias (not an id)."""
    check_task(task)
    text = str(value).strip()
    if task == SENTIMENT:
        name = SENTIMENT_ALIASES.get(text.lower())
        if name is not None:
            return name
    else:
        name = _TOPICS_BY_LOWER.get(text.lower())
        if name is not None:
            return name
    known = ", ".join(TASK_LABELS[task])
    extra = " (or Bearish/Bullish/Neutral)" if task == SENTIMENT else ""
    raise LabelError(f"unknown {task} label {text!r}; expected one of: {known}{extra}")


def parse_label_names(spec: str | Sequence[str] | None) -> list[str] | None:
    """``"Bearish,Bullish,Neutral"`` -> ``["Bearish", "Bullish", "Neutral"]`` (id order)."""
    if spec is None:
        return None
    parts = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [p.strip() for p in parts if p.strip()]
    return names or None


def id_to_label(task: str, label_names: Sequence[str] | None = None) -> dict[int, str]:
    """Map integer ids to canonical names: ``label_names`` in id order, else the dataset order."""
    check_task(task)
    names = list(label_names) if label_names else list(DATASET_IDS[task])
    mapping = {i: canonical_label(task, name) for i, name in enumerate(names)}
    dupes = sorted({v for v in mapping.values() if list(mapping.values()).count(v) > 1})
    if dupes:
        raise LabelError(
            f"label names {names} map two ids to the same {task} label ({', '.join(dupes)}); "
            "give each id a different name"
        )
    return mapping


def normalise_labels(
    task: str, values: Iterable[object], label_names: Sequence[str] | None = None
) -> list[str]:
    """Turn a column of names, aliases or integer ids into canonical names.

    Raises ``LabelError`` naming the first unknown values and what was expected.
    """
    ids = id_to_label(task, label_names)
    out: list[str] = []
    unknown: list[str] = []
    for value in values:
        key = _as_int(value)
        if key is not None:
            name = ids.get(key)
            if name is None:
                unknown.append(repr(value))
                continue
            out.append(name)
            continue
        try:
            out.append(canonical_label(task, value))
        except LabelError:
            unknown.append(repr(value))
    if unknown:
        shown = ", ".join(sorted(set(unknown))[:8])
        raise LabelError(
            f"{len(unknown)} {task} label(s) not understood: {shown}. Expected integer ids "
            f"0..{len(ids) - 1} or names ({', '.join(TASK_LABELS[task])}"
            + (", Bearish/Bullish/Neutral" if task == SENTIMENT else "")
            + "); pass --label-names to say what each id means"
        )
    return out


def explicit_label_map(task: str, mapping: LabelMap, num_labels: int) -> list[str]:
    """Validate a user's id->label map for an external checkpoint; return names in id order.

    The map must cover ids 0..num_labels-1 exactly, and every name must be a label of ``task``
    (aliases allowed). Nothing is inferred from position.
    """
    check_task(task)
    try:
        by_id = {int(k): v for k, v in mapping.items()}
    except (TypeError, ValueError):
        raise LabelError(
            f"{task} label map keys must be integer ids, got {list(mapping)}"
        ) from None
    if sorted(by_id) != list(range(num_labels)):
        raise LabelError(
            f"{task} label map covers ids {sorted(by_id)} but the checkpoint has {num_labels} "
            f"outputs; give a name for every id 0..{num_labels - 1}"
        )
    names = [canonical_label(task, by_id[i]) for i in range(num_labels)]
    if len(set(names)) != len(names):
        raise LabelError(f"{task} label map {dict(by_id)} names the same label twice")
    return names


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    return None
