"""The report's charts (matplotlib, Agg, no pyplot: no global state shared between worker threads), as base64
PNGs for the HTML page. matplotlib is imported on first use: a worker that never renders HTML never loads it."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from content_calendar.model import PLATFORM_NAMES, PLATFORMS
from scheduler.reports.model import MentionFigures, TopPost

if TYPE_CHECKING:
    from matplotlib.axis import Axis
    from matplotlib.ticker import MaxNLocator


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _whole_numbers(axis: Axis) -> None:
    # The default locator (AutoLocator) is a MaxNLocator; the stubs type Locator.set_params without arguments.
    cast("MaxNLocator", axis.get_major_locator()).set_params(integer=True)


COLOURS = {"bluesky": "#1565c0", "mastodon": "#6a1b9a"}


def mentions_chart(mentions: MentionFigures) -> str:
    """Mentions per day per platform as grouped bars: a base64 PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.4, 2.9), dpi=150, layout="constrained")  # sized for a phone screen
    axes = figure.subplots()
    labels = [f"{d:%a}\n{d:%-d}" for d in mentions.days]
    platforms = mentions.platforms or list(PLATFORMS)
    width = 0.8 / max(1, len(platforms))
    for offset, platform in enumerate(platforms):
        counts = mentions.per_day.get(platform, [0] * 7)
        positions = [i + (offset - (len(platforms) - 1) / 2) * width for i in range(7)]
        axes.bar(positions, counts, width, label=PLATFORM_NAMES.get(platform, platform),
                 color=COLOURS.get(platform, "#2e7d32"))  # fmt: skip
    axes.set_xticks(range(7), labels)
    axes.set_ylabel("mentions")
    axes.set_title("Mentions per day")
    _whole_numbers(axes.yaxis)
    axes.spines[["top", "right"]].set_visible(False)
    if mentions.total == 0:
        axes.set_ylim(0, 1)
        axes.text(3, 0.5, "No mentions this week", ha="center", va="center", color="#555555")
    axes.legend(frameon=False)
    return _png(figure)


def growth_chart(top_posts: Sequence[TopPost]) -> str | None:
    """Engagement gained this week by the top posts, as horizontal bars (None when nothing grew)."""
    if not top_posts:
        return None
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.4, 0.7 + 0.35 * len(top_posts)), dpi=150, layout="constrained")
    axes = figure.subplots()
    names = [t.post_id for t in reversed(top_posts)]
    axes.barh(names, [t.growth for t in reversed(top_posts)], color="#2e7d32")
    axes.set_xlabel("engagement gained this week")
    _whole_numbers(axes.xaxis)
    axes.spines[["top", "right"]].set_visible(False)
    return _png(figure)
