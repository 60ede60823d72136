"""The report's charts as PNG bytes (matplotlib's object API: Agg canvas, no pyplot state)."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from sentinel.report.data import BASELINE_DAYS, ReportData, Segment

NEGATIVE = "#c0392b"
EXPECTED = "#2c3e50"
ALERT = "#f39c12"
SENTIMENTS = ["negative", "neutral", "positive"]
CELL_COLOURS = {"negative": "Reds", "neutral": "Greys", "positive": "Greens"}


def png_bytes(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, facecolor="white")
    return buffer.getvalue()


def _empty(figure: Figure, message: str) -> bytes:
    figure.text(0.5, 0.5, message, ha="center", va="center", fontsize=13, color="#555555")
    return png_bytes(figure)


def alerts_of(segment: Segment, alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a for a in alerts
            if a["segment_kind"] == segment.kind
            and (segment.kind == "all" or a["segment_value"] == segment.value)]


def _mark_alert(axes: Any, alert: dict[str, Any], until: datetime) -> None:
    """Shade the time the alert was open; mark the detector's observed and expected."""
    bucket = alert["window_end"] - alert["window_start"]
    opened = min(alert["started_at"] - bucket, alert["window_start"])
    closed = min(alert["resolved_at"] or until, until)  # still open: up to the period's end
    axes.axvspan(opened, closed, color=ALERT, alpha=0.25, linewidth=0, zorder=0)
    middle = alert["window_start"] + bucket / 2
    axes.plot([middle], [alert["observed"]], marker="v", color=ALERT, markersize=9,
              markeredgecolor="black", linestyle="none")
    axes.plot([middle], [alert["expected"]], marker="o", markerfacecolor="white",
              markeredgecolor=ALERT, markersize=8, markeredgewidth=2, linestyle="none")


def legend_handles() -> list[Any]:
    return [
        Patch(color=NEGATIVE, alpha=0.85, label="negative articles per hour"),
        Line2D([], [], color=EXPECTED, linestyle="--",
               label=f"expected: median of the same hour, previous {BASELINE_DAYS} days"),
        Patch(color=ALERT, alpha=0.25, label="alert open"),
        Line2D([], [], marker="v", color=ALERT, markeredgecolor="black", linestyle="none",
               label="alert: observed"),
        Line2D([], [], marker="o", markerfacecolor="white", markeredgecolor=ALERT,
               markeredgewidth=2, linestyle="none", label="alert: expected (detector)"),
    ]


def plot_negative_volume(data: ReportData) -> bytes:
    """One panel per segment: negative articles per hour, the expected level, alerts shaded."""
    panels = len(data.segments)
    figure = Figure(figsize=(11, 1.2 + 2.2 * panels), layout="constrained")
    if data.hourly.empty or not panels:
        return _empty(figure, "No hours in this period")
    axes_list = figure.subplots(panels, 1, sharex=True, squeeze=False)[:, 0]
    for axes, segment in zip(axes_list, data.segments, strict=True):
        negative = data.hourly[(segment.label, "negative")]
        expected = data.hourly[(segment.label, "expected")]
        axes.bar(negative.index, negative.to_numpy(), width=1 / 24, align="edge", color=NEGATIVE,
                 alpha=0.85)
        axes.step(expected.index, expected.to_numpy(), where="post", color=EXPECTED,
                  linestyle="--", linewidth=1.2)
        alerts = alerts_of(segment, data.alerts)
        for alert in alerts:
            _mark_alert(axes, alert, data.until)
        axes.set_title(f"{segment.label}: {int(negative.sum())} negative"
                       + (f", {len(alerts)} alert{'s' * (len(alerts) != 1)}" if alerts else ""),
                       loc="left", fontsize=11)
        axes.set_ylim(0, max(1.0, axes.get_ylim()[1]))
        axes.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
        axes.grid(axis="y", alpha=0.3)
        axes.spines[["top", "right"]].set_visible(False)
    figure.legend(handles=legend_handles(), loc="outside upper center", ncols=3, fontsize=9,
                  frameon=False)
    last = axes_list[-1]
    last.xaxis.set_major_formatter(mdates.ConciseDateFormatter(last.xaxis.get_major_locator()))
    last.set_xlim(pd.Timestamp(data.since), pd.Timestamp(data.until))
    last.set_xlabel("UTC")
    return png_bytes(figure)


def plot_topic_sentiment(table: pd.DataFrame) -> bytes:
    """Topics (rows) x sentiment (columns), each cell shaded by the share of the topic's
    articles with that sentiment (reds for negative, greys neutral, greens positive)."""
    figure = Figure(figsize=(7.5, 1.4 + 0.42 * max(len(table), 1)), layout="constrained")
    if table.empty:
        return _empty(figure, "No classified articles in this period")
    shares = table.div(table.sum(axis=1), axis=0)
    colours = np.zeros((len(table), len(SENTIMENTS), 4))
    for column, sentiment in enumerate(SENTIMENTS):
        colours[:, column] = colormaps[CELL_COLOURS[sentiment]](
            0.08 + 0.8 * shares[sentiment].to_numpy())
    axes = figure.subplots()
    axes.imshow(colours, aspect="auto")
    axes.set_xticks(range(len(SENTIMENTS)), SENTIMENTS)
    axes.set_yticks(range(len(table)), list(table.index))
    axes.xaxis.tick_top()
    axes.tick_params(length=0)
    for row, topic in enumerate(table.index):
        for column, sentiment in enumerate(SENTIMENTS):
            share = shares.loc[topic, sentiment]
            axes.text(column, row, f"{table.loc[topic, sentiment]} ({share:.0%})", ha="center",
                      va="center", fontsize=9, color="white" if share > 0.55 else "black")
    axes.set_xlabel("count (share of the topic's classified articles)", fontsize=9)
    return png_bytes(figure)
