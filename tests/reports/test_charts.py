"""The report's charts as everyone can read them: the Okabe-Ito palette (3:1 against white), direct labels and
never a legend or label over a bar (measured with matplotlib's renderer), the figures also in alt text, the same
scale across the weeks compared, and no chart without data."""

from __future__ import annotations

from datetime import date, timedelta

from scheduler.reports.charts import (
    COLOURS,
    GAINED,
    OKABE_ITO,
    covered_bars,
    growth_chart,
    growth_figure,
    mentions_chart,
    mentions_figure,
    mentions_scale,
    nice_ceiling,
)
from scheduler.reports.model import MentionFigures

DAYS = [date(2027, 2, 1) + timedelta(days=i) for i in range(7)]


def week(bluesky: list[int], mastodon: list[int]) -> MentionFigures:
    return MentionFigures(DAYS, ["bluesky", "mastodon"], {"bluesky": bluesky, "mastodon": mastodon})


def contrast_with_white(colour: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    luminance = 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
    return 1.05 / (luminance + 0.05)


def test_the_palette_is_okabe_ito_and_readable_on_white() -> None:
    for colour in (*COLOURS.values(), GAINED):
        assert colour in OKABE_ITO.values()
        assert contrast_with_white(colour) >= 3.0, colour


def test_no_legend_or_label_covers_a_bar_and_the_check_can_fail() -> None:
    # The weekend's bars are the tallest: where a legend in the upper right used to sit.
    busy_weekend = week([3, 4, 2, 5, 6, 40, 38], [1, 0, 2, 1, 3, 21, 25])
    figure = mentions_figure(busy_weekend, mentions_scale(busy_weekend))
    assert figure is not None
    assert covered_bars(figure) == []
    gains = [("Day one: it is not OK to stay silent\u2026", 140), ("Helplines", 12), ("Thread", 1)]
    growth = growth_figure(gains)
    assert growth is not None and covered_bars(growth) == []
    # A legend over the weekend's bars (as the old chart had it) is found, measured in the renderer's pixels.
    figure.axes[0].legend(["Bluesky"], loc="center right")
    assert [label for label, _ in covered_bars(figure)] and all("Legend" in label for label, _ in covered_bars(figure))


def test_every_chart_has_its_figures_in_words_and_none_without_data() -> None:
    figures = week([1, 2, 0, 1, 0, 0, 0], [0, 0, 1, 0, 0, 0, 1])
    png, alt = mentions_chart(figures)
    assert png and alt == (
        "Bar chart of hashtag mentions per day, 6 in all. Bluesky: Mon 1, Tue 2, Wed 0, Thu 1, Fri 0, Sat 0, Sun 0; "
        "Mastodon: Mon 0, Tue 0, Wed 1, Thu 0, Fri 0, Sat 0, Sun 1."
    )
    assert mentions_chart(week([0] * 7, [0] * 7))[0] is None
    assert growth_chart([])[0] is None
    png, alt = growth_chart([("Day one", 14), ("Sunday evening post", 13)])
    assert png and alt == "Bar chart of engagement gained this week: Day one: 14; Sunday evening post: 13."


def test_weeks_compared_share_one_scale() -> None:
    quiet, busy = week([1, 2, 0, 1, 0, 0, 0], [0] * 7), week([30, 12, 9, 4, 4, 2, 1], [7, 3, 2, 2, 1, 0, 0])
    scale = mentions_scale(quiet, busy)
    assert scale == 50 == nice_ceiling(30)
    limits = set()
    for figures in (quiet, busy):
        figure = mentions_figure(figures, scale)
        assert figure is not None
        limits |= {axes.get_ylim() for axes in figure.axes}
    assert len(limits) == 1  # every panel of both weeks on the same scale
    assert [nice_ceiling(n) for n in (0, 1, 2, 3, 7, 10, 11, 99, 101)] == [1, 1, 2, 5, 10, 10, 20, 100, 200]
