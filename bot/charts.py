"""The brief's trend chart: complaints per day for the top themes, as PNG bytes for Slack."""

from __future__ import annotations

import io
import math
from datetime import date, time, timedelta

# No pyplot and no matplotlib.use(): a Figure drawn on its own Agg canvas needs neither, and
# pyplot's global figure registry is what makes matplotlib unsafe across threads.
import matplotlib.dates as mdates
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from bot.models import Brief

WIDTH_IN, HEIGHT_IN, DPI = 8.0, 4.0, 100  # 800×400 px: Slack's preview shows it unscaled
MAX_LINES = 5
MAX_TICKS = 6
LABEL_CHARS = 22
# Colour-blind-safe (Okabe–Ito), fixed so a theme's colour does not change between renders.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00")
TITLE_SIZE, LABEL_SIZE, TICK_SIZE, LEGEND_SIZE = 15, 12, 11, 11
# PNG text chunks otherwise name the matplotlib version, so an upgrade would change the bytes.
_PNG_METADATA: dict[str, str | None] = {"Software": None}


def _period_title(brief: Brief) -> str:
    start = brief.period_start.date()
    # The period is half-open: a week ending at midnight ends on the day before.
    last = (brief.period_end - timedelta(seconds=1)).date()
    if start == last:
        span = f"{start:%d %b %Y}"
    elif start.year == last.year:
        span = f"{start:%d %b} – {last:%d %b %Y}"
    else:
        span = f"{start:%d %b %Y} – {last:%d %b %Y}"
    return f"Complaints per day · {span} (UTC)"


def _label(theme: str, total: int) -> str:
    name = theme.replace("_", " ").strip() or "general"
    if len(name) > LABEL_CHARS:
        name = name[: LABEL_CHARS - 1].rstrip() + "…"
    return f"{name} ({total:,})"


def _empty(ax: Axes) -> None:
    ax.text(
        0.5, 0.5, "No complaints in this period", transform=ax.transAxes,
        ha="center", va="center", fontsize=TITLE_SIZE, color="#555555",
    )
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _partial_days(brief: Brief, days: list[str]) -> tuple[bool, bool]:
    """Whether the first and last plotted days are cut by the period's edges (not midnight)."""
    start, end = brief.period_start, brief.period_end
    first = bool(days) and days[0] == start.date().isoformat() and start.time() != time()
    last_day = (end - timedelta(seconds=1)).date().isoformat()
    last = bool(days) and days[-1] == last_day and end.time() != time()
    return first, last


def _plot(fig: Figure, ax: Axes, brief: Brief, daily: dict[str, dict[str, int]]) -> None:
    days = sorted({d for series in daily.values() for d in series})
    xnum = mdates.date2num([date.fromisoformat(d) for d in days])
    first_partial, last_partial = _partial_days(brief, days)
    # The full days are drawn solid; a half day at either edge would read as a sudden drop
    # (or a quiet start), so its segment is dashed and its point hollow.
    lo = 1 if first_partial else 0
    hi = len(days) - 1 if last_partial else len(days)
    # Markers help while points are few enough to tell apart; beyond that they are noise.
    marker = "o" if len(days) <= 31 else None
    for i, (theme, series) in enumerate(list(daily.items())[:MAX_LINES]):
        colour = PALETTE[i % len(PALETTE)]
        y = [series.get(d, 0) for d in days]
        label = _label(theme, sum(y))
        if lo > 0 or hi < len(days):
            ax.plot(
                xnum, y, color=colour, linewidth=1.6, linestyle=(0, (3, 2)), marker=marker,
                markersize=5, markerfacecolor="white",
                label=label if hi - lo < 1 else None,
            )
        if hi - lo >= 1:
            ax.plot(
                xnum[lo:hi], y[lo:hi], color=colour, linewidth=2.2, marker=marker,
                markersize=5, label=label,
            )
    if first_partial or last_partial:
        ax.set_xlabel("dashed, hollow: partial day at the period's edge", fontsize=TICK_SIZE,
                      color="#555555")
    # Ticks on plotted days only (AutoDateLocator puts hourly ticks on a one-day chart, which
    # the day format would label twice), at most MAX_TICKS of them.
    step = math.ceil(len(days) / MAX_TICKS)
    ax.set_xticks(list(xnum[::step]))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
    if len(xnum) == 1:
        # One day alone would give a zero-width axis.
        ax.set_xlim(xnum[0] - 1, xnum[0] + 1)
    else:
        ax.set_xlim(xnum[0] - 0.3, xnum[-1] + 0.3)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
    ax.set_ylim(bottom=0)
    ax.set_ylabel("complaints", fontsize=LABEL_SIZE)
    ax.tick_params(labelsize=TICK_SIZE)
    ax.grid(True, axis="y", color="#dddddd", linewidth=0.8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.legend(
        loc="outside right upper", fontsize=LEGEND_SIZE, frameon=False, title="theme (total)",
        title_fontsize=LEGEND_SIZE,
    )


def trend_chart(brief: Brief) -> bytes:
    """An 800×400 PNG of the brief's daily counts per top theme; the same brief gives the same
    bytes. Thread-safe: it builds its own Figure and canvas and never touches pyplot."""
    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    fig.set_facecolor("white")
    ax = fig.add_subplot()
    ax.set_title(_period_title(brief), fontsize=TITLE_SIZE, loc="left")
    daily = {theme: series for theme, series in brief.daily.items() if series}
    if brief.total == 0 or not any(sum(s.values()) for s in daily.values()):
        _empty(ax)
    else:
        _plot(fig, ax, brief, daily)
    buf = io.BytesIO()
    # No bbox_inches="tight": it would change the pixel size with the legend's width.
    fig.savefig(buf, format="png", dpi=DPI, metadata=_PNG_METADATA, facecolor="white")
    return buf.getvalue()
