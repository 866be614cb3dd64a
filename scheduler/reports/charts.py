"""The report's charts (matplotlib, Agg, no pyplot: no global state shared between worker threads), as base64
PNGs for the HTML page, each with alt text that carries its figures. matplotlib is imported on first use: a
worker that never renders HTML never loads it.

Readable by everyone: the Okabe-Ito colour-blind-safe palette, each bar labelled with its figure, each platform
named on its own panel (direct labels: no legend to cover the bars), one shared scale across the platforms'
panels and across the two weeks a report compares, and no chart at all where there is nothing to draw.
"""

from __future__ import annotations

import base64
import io
import math
import textwrap
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from content_calendar.model import PLATFORM_NAMES
from scheduler.reports.model import MentionFigures

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision deficiency,
# and each at least 3:1 against white (WCAG's contrast for graphics).
OKABE_ITO = {"blue": "#0072B2", "vermillion": "#D55E00", "bluish green": "#009E73", "reddish purple": "#CC79A7"}
COLOURS = {"bluesky": OKABE_ITO["blue"], "mastodon": OKABE_ITO["vermillion"]}
GAINED = OKABE_ITO["bluish green"]
TEXT = "#333333"


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(width: float, height: float) -> Figure:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=150, layout="constrained")
    FigureCanvasAgg(figure)  # its own canvas: renderer extents can be measured (covered_bars)
    return figure


def nice_ceiling(value: int) -> int:
    """A round top for a scale: 1, 2, 5, 10, 20, 50... at or above `value`."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def mentions_scale(*weeks: MentionFigures) -> int:
    """The top of the mentions scale: the busiest platform-day of the weeks given, rounded up."""
    return nice_ceiling(max((max(counts, default=0) for w in weeks for counts in w.per_day.values()), default=0))


def mentions_figure(mentions: MentionFigures, scale: int) -> Figure | None:
    """Mentions per day, one panel a platform (named on the panel), bars labelled with their counts."""
    if mentions.total == 0:
        return None
    platforms = [p for p in mentions.platforms if any(mentions.per_day.get(p, ()))] or mentions.platforms
    figure = _figure(4.4, 0.6 + 1.45 * len(platforms))
    panels = figure.subplots(len(platforms), 1, sharex=True, squeeze=False)[:, 0]
    labels = [f"{d:%a}\n{d:%-d}" for d in mentions.days]
    for axes, platform in zip(panels, platforms, strict=True):
        counts = mentions.per_day.get(platform, [0] * 7)
        bars = axes.bar(range(7), counts, 0.7, color=COLOURS.get(platform, GAINED))
        axes.bar_label(bars, labels=[str(c) if c else "" for c in counts], padding=1, fontsize=7, color=TEXT)
        axes.set_ylim(0, scale * 1.22)  # head room for the figures above the bars and the panel's name
        axes.set_yticks([0, scale])
        axes.tick_params(labelsize=7)
        axes.text(0.0, 1.0, PLATFORM_NAMES.get(platform, platform), transform=axes.transAxes, ha="left",
                  va="bottom", fontsize=8, fontweight="bold", color=TEXT)  # fmt: skip
        axes.spines[["top", "right"]].set_visible(False)
    panels[-1].set_xticks(range(7), labels)
    figure.suptitle("Hashtag mentions per day", fontsize=9, color=TEXT)
    return figure


def mentions_alt(mentions: MentionFigures) -> str:
    days = [f"{d:%a}" for d in mentions.days]
    parts = [
        f"{PLATFORM_NAMES.get(p, p)}: "
        + ", ".join(f"{day} {n}" for day, n in zip(days, mentions.per_day[p], strict=True))
        for p in mentions.platforms
    ]
    return f"Bar chart of hashtag mentions per day, {mentions.total} in all. " + "; ".join(parts) + "."


def mentions_chart(mentions: MentionFigures, scale: int | None = None) -> tuple[str | None, str]:
    """(base64 PNG or None when there were no mentions, its alt text)."""
    figure = mentions_figure(mentions, scale or mentions_scale(mentions))
    return (_png(figure) if figure is not None else None), mentions_alt(mentions)


def growth_figure(gains: Sequence[tuple[str, int]]) -> Figure | None:
    """Engagement gained by the posts that gained most, as labelled horizontal bars (posts by their words)."""
    if not gains:
        return None
    figure = _figure(4.4, 0.5 + 0.42 * len(gains))
    axes = figure.subplots()
    names = ["\n".join(textwrap.wrap(name, 30)[:2]) for name, _ in reversed(gains)]
    values = [value for _, value in reversed(gains)]
    bars = axes.barh(range(len(gains)), values, 0.65, color=GAINED)
    axes.bar_label(bars, labels=[str(v) for v in values], padding=2, fontsize=7, color=TEXT)
    axes.set_yticks(range(len(gains)), names, fontsize=7)
    axes.set_xlim(0, max(values) * 1.18)
    axes.set_xticks([])
    axes.spines[["top", "right", "bottom"]].set_visible(False)
    axes.set_title("Engagement gained this week", fontsize=9, color=TEXT, loc="left")
    return figure


def growth_chart(gains: Sequence[tuple[str, int]]) -> tuple[str | None, str]:
    figure = growth_figure(gains)
    alt = "Bar chart of engagement gained this week: " + "; ".join(f"{name}: {value}" for name, value in gains) + "."
    return (_png(figure) if figure is not None else None), alt


TREND = (("Posts that went out", OKABE_ITO["blue"]), ("Engagement gained", GAINED),
         ("Hashtag mentions", OKABE_ITO["vermillion"]))  # fmt: skip


def trend_figure(mondays: Sequence[date], series: Sequence[Sequence[int]]) -> Figure | None:
    """The campaign week by week: one panel a figure (posts that went out, engagement gained, hashtag mentions),
    each named on its panel, one bar a week labelled with its figure; None when every figure is nothing."""
    if not mondays or not any(any(values) for values in series):
        return None
    figure = _figure(4.4, 0.6 + 1.3 * len(series))
    panels = figure.subplots(len(series), 1, sharex=True, squeeze=False)[:, 0]
    for axes, (name, colour), values in zip(panels, TREND, series, strict=True):
        bars = axes.bar(range(len(values)), values, 0.7, color=colour)
        labels = [f"{v:,}" if v else "" for v in values] if len(values) <= 16 else [""] * len(values)
        axes.bar_label(bars, labels=labels, padding=1, fontsize=7, color=TEXT)
        top = max(values, default=0)
        axes.set_ylim(0, max(top, 1) * 1.3)  # head room for the figures above the bars and the panel's name
        axes.set_yticks([0, top] if top else [0])
        axes.yaxis.set_major_formatter(lambda value, _: f"{value:,.0f}")
        axes.tick_params(labelsize=7)
        axes.text(0.0, 1.0, name, transform=axes.transAxes, ha="left", va="bottom", fontsize=8, fontweight="bold",
                  color=TEXT)  # fmt: skip
        axes.spines[["top", "right"]].set_visible(False)
    step = max(1, math.ceil(len(mondays) / 12))
    ticks = list(range(0, len(mondays), step))
    panels[-1].set_xticks(ticks, [f"{mondays[i]:%-d %b}" for i in ticks])
    figure.suptitle("The campaign week by week (weeks from Monday)", fontsize=9, color=TEXT)
    return figure


def trend_chart(mondays: Sequence[date], series: Sequence[Sequence[int]]) -> tuple[str | None, str]:
    """(base64 PNG or None, its alt text carrying every figure)."""
    figure = trend_figure(mondays, series)
    parts = [
        f"{name}: " + ", ".join(f"week of {m:%-d %b} {v:,}" for m, v in zip(mondays, values, strict=True))
        for (name, _), values in zip(TREND, series, strict=True)
    ]
    return (_png(figure) if figure is not None else None), "Bar charts of the campaign week by week. " + "; ".join(
        parts
    ) + "."


def covered_bars(figure: Figure) -> list[tuple[str, str]]:
    """Every (label, bar) pair where a legend or a text drawn on the axes covers a bar, measured in the
    renderer's own pixels after layout: empty when nothing hides the data."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.patches import Rectangle

    canvas = figure.canvas if isinstance(figure.canvas, FigureCanvasAgg) else FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    found = []
    for axes in figure.axes:
        bars = [p for p in axes.patches if isinstance(p, Rectangle) and p.get_height() and p.get_width()]
        labels: list[Any] = [a for a in (axes.get_legend(), *figure.legends) if a is not None]
        labels += [t for t in axes.texts if t.get_text()]
        for label in labels:
            box = label.get_window_extent(renderer)
            for bar in bars:
                if box.overlaps(bar.get_window_extent(renderer)):
                    found.append(
                        (type(label).__name__ + ":" + getattr(label, "get_text", lambda: "legend")(), str(bar))
                    )
    return found
