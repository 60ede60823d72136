"""The report's charts (matplotlib's object API, no pyplot state) as SVG: inline in the page
(sharp at any width, text the browser can read) and written next to it as files.

Every chart labels its axes with units; feed text in titles is plain text (no mathtext).
"""

from __future__ import annotations

import io
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

import matplotlib
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator, PercentFormatter

from sentinel.alerts.evidence import times
from sentinel.report.data import BASELINE_DAYS, AlertPanel, ReportData, Segment

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

NEGATIVE = "#c0392b"
EXPECTED = "#1f2933"
BAND = "#9fb3c8"
ALERT = "#f39c12"
SENTIMENTS = ["negative", "neutral", "positive"]
# a sequential scale per sentiment, cut before its darkest end (no black cells)
SCALES = {"negative": ("Reds", 0.04, 0.8), "neutral": ("Greys", 0.02, 0.5),
          "positive": ("Greens", 0.04, 0.75)}
RC: dict[RcKeyType, Any] = {"svg.fonttype": "none", "text.parse_math": False, "font.size": 10,
      "font.family": "sans-serif", "axes.titlesize": 11, "axes.labelsize": 9.5}
RC_NARROW: dict[RcKeyType, Any] = {"font.size": 11.5, "axes.titlesize": 12, "axes.labelsize": 11,
             "legend.fontsize": 10}
UTC_NAME = "time (UTC)"
NO_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}


@dataclass
class Chart:
    name: str               # file stem: <name>.svg
    description: str        # alt text
    svg: str                # inline <svg> element
    svg_narrow: str = ""    # the same chart laid out for a phone (inline <svg>)
    axis_labels: list[str] = field(default_factory=list)  # drawn, for the page and its tests


def scale(sentiment: str) -> ListedColormap:
    name, low, high = SCALES[sentiment]
    return ListedColormap(matplotlib.colormaps[name](np.linspace(low, high, 256)),
                          name=f"{sentiment}-share")


ChartT = TypeVar("ChartT", bound="Chart | None")


def _drawn(plot: Callable[..., ChartT]) -> Callable[..., ChartT]:
    """Draw a chart twice under the report's matplotlib settings (plain text, SVG text): wide
    for a desktop (the file written) and narrow for a phone."""
    @wraps(plot)
    def wrapper(*args: Any) -> ChartT:
        with matplotlib.rc_context(RC):
            wide = plot(*args, narrow=False)
        with matplotlib.rc_context({**RC, **RC_NARROW}):  # shown at about 0.8 of its size
            narrow = plot(*args, narrow=True)
        if wide is not None and narrow is not None:
            wide.svg_narrow = narrow.svg
        return wide
    return wrapper


def finish(figure: Figure, name: str, description: str, narrow: bool) -> Chart:
    labels = [label for axes in figure.axes for label in (axes.get_xlabel(), axes.get_ylabel())
              if label]
    svg = io.StringIO()
    salt = f"{name}-narrow" if narrow else name
    with matplotlib.rc_context({"svg.hashsalt": salt}):  # ids unique per chart, stable per run
        figure.savefig(svg, format="svg", facecolor="white", metadata=NO_METADATA)
    element = svg.getvalue()[svg.getvalue().index("<svg"):]
    # ids unique in a page holding several charts (matplotlib numbers them per figure)
    element = re.sub(r'\b(id="|url\(#|href="#)', rf"\g<1>{salt}-", element)
    element = re.sub(r"^<svg ", f'<svg role="img" class="chart-{salt}" ', element, count=1)
    return Chart(name=name, description=description, svg=element,
                 axis_labels=list(dict.fromkeys(labels)))


def per(width: timedelta) -> str:
    hours = width / timedelta(hours=1)
    if hours == 1:
        return "per hour"
    if hours == 24:
        return "per day"
    return f"per {hours:g} hours" if hours > 1 else f"per {width / timedelta(minutes=1):g} minutes"


def draw_series(axes: Any, frame: pd.DataFrame, width: timedelta) -> None:
    """Bars of observed negatives, the usual range (band) and the expected level (line)."""
    days = width / timedelta(days=1)
    x = mdates.date2num(frame.index.to_pydatetime())
    edges = np.append(x, x[-1] + days) if len(x) else x
    # one step patch, not a rectangle per bucket: the same picture, drawn in a fraction of the time
    axes.stairs(frame["observed"].to_numpy(), edges, fill=True, color=NEGATIVE, alpha=0.85,
                zorder=2)
    low, high = (np.append(frame[c].to_numpy(), frame[c].to_numpy()[-1:]) for c in ("low", "high"))
    axes.fill_between(edges, low, high, step="post", color=BAND, alpha=0.45, linewidth=0, zorder=1)
    expected = np.append(frame["expected"].to_numpy(), frame["expected"].to_numpy()[-1:])
    axes.step(edges, expected, where="post", color=EXPECTED, linestyle="--", linewidth=1.3,
              zorder=3)
    axes.grid(axis="y", alpha=0.3)
    axes.spines[["top", "right"]].set_visible(False)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))


def legend_handles(alert_label: str) -> list[Any]:
    return [
        Patch(color=NEGATIVE, alpha=0.85, label="negative articles (observed)"),
        Line2D([], [], color=EXPECTED, linestyle="--",
               label=f"expected: median of the same time, previous {BASELINE_DAYS} days"),
        Patch(color=BAND, alpha=0.45, label=f"usual range: lowest to highest of those "
                                            f"{BASELINE_DAYS} days"),
        Patch(color=ALERT, alpha=0.35, label=alert_label),
    ]


def _time_axis(axes: Any, span: timedelta, narrow: bool) -> None:
    if span <= timedelta(days=3):
        axes.xaxis.set_major_locator(mdates.HourLocator(byhour=[0, 12] if narrow
                                                        else range(0, 24, 6)))
        axes.xaxis.set_minor_locator(mdates.HourLocator(byhour=range(0, 24, 6 if narrow else 3)))
        axes.xaxis.set_major_formatter(mdates.DateFormatter("%a\n%H:%M" if narrow else "%a %H:%M"))
    elif span <= timedelta(days=16):
        axes.xaxis.set_major_locator(mdates.DayLocator(interval=2 if narrow else 1))
        axes.xaxis.set_minor_locator(mdates.HourLocator(byhour=[0, 12] if narrow else [6, 12, 18]))
        axes.xaxis.set_major_formatter(mdates.DateFormatter("%a\n%d %b" if narrow else "%a %d %b"))
    else:
        axes.xaxis.set_major_locator(mdates.AutoDateLocator(maxticks=5 if narrow else 10))
        axes.xaxis.set_major_formatter(mdates.DateFormatter("%b\n%Y" if narrow else "%d %b %Y"))
    axes.set_xlabel(UTC_NAME)


def _headroom(axes: Any, *values: float) -> None:
    top = max([1.0, *[v for v in values if np.isfinite(v)]])
    axes.set_ylim(0, top * 1.3 + 0.5)


def alerts_of(segment: Segment, alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a for a in alerts
            if a["segment_kind"] == segment.kind
            and (segment.kind == "all" or a["segment_value"] == segment.value)]


@_drawn
def plot_overview(data: ReportData, *, narrow: bool = False) -> Chart | None:
    """The period per segment (all news first): negatives per bucket against the usual level,
    with the buckets alerts fired on marked."""
    if not data.totals.get("classified") or not data.segments:
        return None
    panels = len(data.segments)
    figure = Figure(figsize=(4.6, 1.9 + 2.3 * panels) if narrow else (10, 1.0 + 2.2 * panels),
                    layout="constrained")
    axes_list = figure.subplots(panels, 1, sharex=True, squeeze=False)[:, 0]
    mark = max(data.bucket, (data.until - data.since) / 150)  # an alert stays visible
    for axes, segment in zip(axes_list, data.segments, strict=True):
        frame = data.overview[segment]
        draw_series(axes, frame, data.bucket)
        alerts = alerts_of(segment, data.alerts)
        for alert in alerts:
            left = mdates.date2num(alert["window_start"])
            axes.axvspan(left, mdates.date2num(alert["window_start"] + mark), color=ALERT,
                         alpha=0.45, linewidth=0, zorder=0)
            late = alert["window_start"] > data.since + 0.9 * (data.until - data.since)
            axes.annotate("alert", (left, 1), xycoords=("data", "axes fraction"),
                          xytext=(-2 if late else 2, -2), textcoords="offset points", va="top",
                          ha="right" if late else "left", fontsize=8, color="#8a5a00")
        title = f"{segment.label}: {int(frame['observed'].sum())} negative articles" + (
            f", {len(alerts)} alert{'s' * (len(alerts) != 1)}" if alerts else "")
        axes.set_title(textwrap.fill(title, 44) if narrow else title, loc="left")
        axes.set_ylabel(f"negative articles {per(data.bucket)}")
        _headroom(axes, frame["observed"].max(), frame["high"].max())
    last = axes_list[-1]
    last.set_xlim(mdates.date2num(data.since), mdates.date2num(data.until))
    _time_axis(last, data.until - data.since, narrow)
    figure.legend(handles=legend_handles("bucket an alert fired on"), loc="outside upper center",
                  ncols=1 if narrow else 2, fontsize=None if narrow else 8.5, frameon=False)
    return finish(figure, "overview", "Negative articles per bucket against the usual level for "
                  + ", ".join(s.label for s in data.segments), narrow)


@_drawn
def plot_alert(panel: AlertPanel, index: int, *, narrow: bool = False) -> Chart:
    """48 hours around the bucket the alert was notified for: observed vs expected, the usual
    range, the bucket marked with the alert's own numbers."""
    payload, frame = panel.payload, panel.series
    width = timedelta(minutes=int(payload.get("bucket_minutes") or 60))
    start = datetime.fromisoformat(payload["window_start"])
    figure = Figure(figsize=(4.6, 4.6) if narrow else (8.5, 3.4), layout="constrained")
    axes = figure.subplots()
    draw_series(axes, frame, width)
    axes.axvspan(mdates.date2num(start), mdates.date2num(start + width), color=ALERT, alpha=0.35,
                 linewidth=0, zorder=0)
    middle = mdates.date2num(start + width / 2)
    observed, expected = float(payload["observed"]), float(payload["expected"])
    axes.plot([middle], [observed], marker="v", color=ALERT, markeredgecolor="black",
              markersize=9, linestyle="none", zorder=4)
    axes.plot([middle], [expected], marker="o", markerfacecolor="white", markeredgecolor=ALERT,
              markeredgewidth=2, markersize=7, linestyle="none", zorder=4)
    _headroom(axes, frame["observed"].max(), frame["high"].max(), observed)
    note = (f"{observed:g} vs {expected:.1f} expected" if narrow else
            f"alert: {observed:g} observed vs {expected:.1f} expected ({times(payload['ratio'])})")
    axes.annotate(note, (middle, observed), xytext=(-10, 14),
                  textcoords="offset points", ha="right", fontsize=9, color="#7a4f00",
                  arrowprops={"arrowstyle": "-", "color": "#7a4f00", "linewidth": 0.8})
    first = mdates.date2num(frame.index[0].to_pydatetime())
    axes.set_xlim(first, mdates.date2num(frame.index[-1].to_pydatetime() + 2 * width))
    axes.set_ylabel(f"negative articles {per(width)}")
    _time_axis(axes, timedelta(hours=48), narrow)
    title = f"{panel.segment.label}: 48 hours around the alert"
    axes.set_title(textwrap.fill(title, 40) if narrow else title, loc="left")
    figure.legend(handles=legend_handles("the alert's window"), loc="outside upper center",
                  ncols=1 if narrow else 2, fontsize=None if narrow else 8, frameon=False)
    return finish(figure, f"alert-{index}", f"Negative articles {per(width)} for "
                  f"{panel.segment.label} in the 48 hours around its alert", narrow)


@_drawn
def plot_topic_sentiment(table: pd.DataFrame, *, narrow: bool = False) -> Chart | None:
    """Topics (rows) x sentiment (columns): each cell shaded by its share of the topic's
    articles on that sentiment's own sequential scale, with a colour bar per sentiment."""
    if table.empty:
        return None
    rows = len(table)
    figure = Figure(figsize=(4.6 if narrow else 7.5, 1.9 + 0.36 * rows), layout="constrained")
    grid = figure.add_gridspec(2, 3, height_ratios=[0.6 + 0.36 * rows, 0.16])
    axes = figure.add_subplot(grid[0, :])
    shares = table.div(table.sum(axis=1), axis=0)
    for column, sentiment in enumerate(SENTIMENTS):
        cmap = scale(sentiment)
        for row, topic in enumerate(table.index):
            share = float(shares.loc[topic, sentiment])
            colour = cmap(share)
            axes.add_patch(Rectangle((column - 0.5, row - 0.5), 1, 1, facecolor=colour,
                                     edgecolor="white", linewidth=1.5))
            light = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
            count = table.loc[topic, sentiment]
            axes.text(column, row, f"{count}\n{share:.0%}" if narrow else f"{count} ({share:.0%})",
                      ha="center", va="center", fontsize=8 if narrow else 9, linespacing=1.0,
                      color="white" if light < 0.5 else "#1f2933")
    axes.set_xlim(-0.5, 2.5)
    axes.set_ylim(rows - 0.5, -0.5)
    axes.set_xticks(range(len(SENTIMENTS)), SENTIMENTS)
    axes.set_yticks(range(rows), [textwrap.fill(str(t), 16) if narrow else str(t)
                                  for t in table.index], fontsize=9 if narrow else None)
    axes.xaxis.tick_top()
    axes.xaxis.set_label_position("top")
    axes.tick_params(length=0)
    axes.spines[:].set_visible(False)
    axes.set_xlabel("sentiment: articles (share of the topic)", fontsize=9 if narrow else None)
    axes.set_ylabel("topic", fontsize=9 if narrow else None)
    axes.tick_params(axis="x", labelsize=9 if narrow else None)
    for column, sentiment in enumerate(SENTIMENTS):
        bar = figure.colorbar(ScalarMappable(Normalize(0, 1), scale(sentiment)),
                              cax=figure.add_subplot(grid[1, column]), orientation="horizontal",
                              format=PercentFormatter(1.0, decimals=0))
        bar.set_ticks([0, 1] if narrow else [0, 0.5, 1])
        bar.ax.tick_params(labelsize=8)
        bar.set_label(f"share {sentiment}", fontsize=8.5)
    return finish(figure, "topic_sentiment", "Heatmap of topics against sentiment", narrow)
