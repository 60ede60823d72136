"""Read labelled CSV or Parquet files into (text, canonical label) rows, with readable errors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sentinel.classify.labels import normalise_labels
from sentinel.errors import SentinelError

if TYPE_CHECKING:  # pandas is imported where a file is read
    import pandas as pd


class DataError(SentinelError):
    """A labelled file is missing, unreadable or lacks the expected columns."""


@dataclass(frozen=True)
class LabelledTexts:
    """One task's labelled texts; ``labels`` are canonical names. ``groups`` (optional) names a
    subset per row that evaluation also scores on its own (SEntFiN's selection/holdout halves)."""

    task: str
    texts: list[str]
    labels: list[str]
    source: str
    groups: list[str] | None = None

    def __len__(self) -> int:
        return len(self.texts)


def read_table(path: str | Path) -> pd.DataFrame:
    """A pandas DataFrame from ``.csv`` (real CSV parsing: quoted commas, embedded newlines)
    or ``.parquet``."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file; expected a labelled .csv or .parquet file")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".tsv", ".txt", ".parquet", ".pq"):
        raise DataError(f"{path}: unsupported file type {suffix!r}; use .csv or .parquet")
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", keep_default_na=False)
    except ImportError as exc:
        raise DataError(
            f"{path}: reading Parquet needs pyarrow ({exc}); pip install pyarrow"
        ) from None
    except Exception as exc:  # pandas raises many types; say which file and why
        raise DataError(f"{path}: cannot be read as {suffix[1:]}: {exc}") from None


def read_labelled(
    path: str | Path,
    task: str,
    *,
    text_col: str = "text",
    label_col: str = "label",
    label_names: Sequence[str] | None = None,
    limit: int | None = None,
) -> LabelledTexts:
    """Load one task's labelled texts; labels become canonical names (see ``labels``).

    A SEntFiN file (columns ``Title`` and ``Decisions``) is recognised and read as headline
    sentiment (:func:`read_sentfin`), whatever the column options say.
    """
    frame = read_table(path)
    if task == "sentiment" and set(frame.columns) >= SENTFIN_COLUMNS:
        data = sentfin_rows(frame, str(path))
        if limit is not None:
            return LabelledTexts(data.task, data.texts[:limit], data.labels[:limit],
                                 data.source, data.groups[:limit] if data.groups else None)
        return data
    missing = [c for c in (text_col, label_col) if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(repr(c) for c in missing)}; found "
            f"{', '.join(repr(str(c)) for c in frame.columns)}. Pass --text-col/--label-col "
            "to name the text and label columns"
        )
    if limit is not None:
        frame = frame.iloc[:limit]
    texts = ["" if t is None else str(t).strip() for t in frame[text_col].tolist()]
    empty = sum(1 for t in texts if not t)
    if empty:
        raise DataError(f"{path}: {empty} row(s) have an empty {text_col!r}; remove them")
    try:
        labels = normalise_labels(task, frame[label_col].tolist(), label_names)
    except SentinelError as exc:
        raise DataError(f"{path}: {exc}") from None
    if not texts:
        raise DataError(f"{path}: no rows")
    return LabelledTexts(task=task, texts=texts, labels=labels, source=str(path))


def datasets_dir(repo_root: str | Path | None = None) -> Path:
    """``$SENTINEL_DATASETS_DIR``, else ``<repo>/../shared/datasets`` (may not exist)."""
    import os

    env = os.environ.get("SENTINEL_DATASETS_DIR")
    if env:
        return Path(env)
    root = Path(repo_root) if repo_root else Path(__file__).resolve().parents[2]
    return (root / ".." / "shared" / "datasets").resolve()


SPLITS = {
    ("sentiment", "train"): "twitter-financial-news-sentiment/sent_train.csv",
    ("sentiment", "valid"): "twitter-financial-news-sentiment/sent_valid.csv",
    ("topic", "train"): "twitter-financial-news-topic/topic_train.csv",
    ("topic", "valid"): "twitter-financial-news-topic/topic_valid.csv",
}


# --- SEntFiN 1.0 (evaluation and model selection only; see its README) ------------------------

SENTFIN = "sentfin/SEntFiN-v1.0.csv"
SENTFIN_COLUMNS = frozenset({"Title", "Decisions"})
SENTFIN_HALVES = ("selection", "holdout")


def sentfin_half(title: str) -> str:
    """A fixed half of SEntFiN for each headline: the low bit of the first byte of the sha256
    of its text. Recipes are chosen on ``selection``; ``holdout`` is reported, never tuned on.
    (Repeated headlines fall in the same half.)"""
    import hashlib

    return SENTFIN_HALVES[hashlib.sha256(title.encode()).digest()[0] & 1]


def read_sentfin(path: str | Path) -> LabelledTexts:
    """SEntFiN's single-entity headlines as sentiment rows (label = that entity's sentiment),
    each tagged with its half (:func:`sentfin_half`). Multi-entity headlines are left out:
    their entities often disagree, and Sentinel gives a headline one sentiment."""
    return sentfin_rows(read_table(path), str(path))


def sentfin_rows(frame: pd.DataFrame, source: str) -> LabelledTexts:
    import json

    texts, labels, groups = [], [], []
    for number, (title, decisions) in enumerate(
            zip(frame["Title"].tolist(), frame["Decisions"].tolist(), strict=True), start=2):
        try:
            verdicts = json.loads(decisions)
        except (TypeError, ValueError):
            raise DataError(f"{source}: line {number}: Decisions is not a JSON object "
                            f"({str(decisions)[:60]!r}); expected e.g. {{\"MMTC\": \"neutral\"}}"
                            ) from None
        if len(verdicts) != 1:
            continue
        title = str(title).strip()
        texts.append(title)
        labels.append(str(next(iter(verdicts.values()))).strip().lower())
        groups.append(sentfin_half(title))
    try:
        labels = normalise_labels("sentiment", labels)
    except SentinelError as exc:
        raise DataError(f"{source}: {exc}") from None
    if not texts:
        raise DataError(f"{source}: no single-entity headlines")
    return LabelledTexts("sentiment", texts, labels, f"{source} (single-entity headlines)",
                         groups)
