"""Figures as PNG bytes (matplotlib, Agg backend): small multiples of lines over a shared
style, so every plot in the report reads the same way."""

import io
import math
import textwrap
from dataclasses import dataclass
from typing import Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter  # noqa: E402

METHOD_COLORS = {"sync": "#6b6b6b", "mutex": "#1f77b4", "rwlock": "#ff7f0e",
                 "hogwild": "#d62728", "leashed": "#2ca02c"}
OUTCOME_COLORS = {"converged": "#2ca02c", "not-converged": "#bcbd22", "diverged": "#ff7f0e",
                  "crashed": "#d62728", "timeout": "#9467bd"}
CYCLE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
         "#7f7f7f", "#bcbd22", "#17becf"]
DPI = 100
PANEL_W, PANEL_H = 4.2, 3.1
MAX_COLS = 3

plt.rcParams.update({
    "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8,
    "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
    "figure.facecolor": "white", "savefig.facecolor": "white",
})


@dataclass
class Line:
    label: str
    x: list
    y: list
    lo: Optional[list] = None   # lower and upper ends of an error bar (spread over repetitions)
    hi: Optional[list] = None
    color: Optional[str] = None
    style: str = "-"
    marker: Optional[str] = "o"
    width: float = 1.6
    alpha: float = 1.0
    step: bool = False


@dataclass
class Panel:
    title: str
    lines: list
    hlines: tuple = ()          # (y, label) reference lines, e.g. target losses
    xlabel: Optional[str] = None  # overrides the figure's x label for this panel


def palette(keys, fixed=None):
    """A colour per key: fixed ones first (methods, outcomes), then the cycle."""
    fixed = fixed or {}
    colors, i = {}, 0
    for k in keys:
        if k in fixed:
            colors[k] = fixed[k]
        else:
            colors[k] = CYCLE[i % len(CYCLE)]
            i += 1
    return colors


def ramp(keys):
    """Ordered keys (thread counts) on a sequential colour map, light to dark."""
    cmap = plt.get_cmap("viridis")
    n = len(keys)
    return {k: cmap(0.9 * (1 - i / max(n - 1, 1))) for i, k in enumerate(keys)}


def _png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    return buf.getvalue()


def _figure(rows, cols, top, bottom, panel_w=PANEL_W, panel_h=PANEL_H, left=0.85, right=0.25):
    """A grid of axes with fixed margins in inches: much cheaper than tight or constrained
    layout, which re-measure every tick label."""
    wgap, hgap = 0.8, 0.85
    width = left + right + cols * panel_w + (cols - 1) * wgap
    height = top + bottom + rows * panel_h + (rows - 1) * hgap
    fig, axes = plt.subplots(rows, cols, figsize=(width, height), squeeze=False)
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height,
                        top=1 - top / height, wspace=wgap / panel_w, hspace=hgap / panel_h)
    return fig, axes


def _log2_axis(ax, values):
    ax.set_xscale("log", base=2)
    ticks = sorted({v for v in values if v and v > 0})
    if ticks:
        ax.set_xticks(ticks)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        lo, hi = ticks[0], ticks[-1]
        ax.set_xlim(lo / 1.25, hi * 1.25)


def _si(v, _pos=None):
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:g}{suffix}"
    return f"{v:g}"


def _si_minor(v, _pos=None):
    """Labels 2 and 5 times a power of ten, so a log axis spanning less than two decades still
    reads."""
    lead = round(v / 10 ** math.floor(math.log10(v)), 6) if v > 0 else 0
    return _si(v) if lead in (2, 5) else ""


def _finite(values):
    return [v for v in values if v is not None and isinstance(v, (int, float)) and math.isfinite(v)]


def _want_log(panels):
    ys = [y for p in panels for line in p.lines for y in _finite(line.y) if y > 0]
    return bool(ys) and max(ys) / min(ys) > 30


def _legend_entries(panels):
    """{label: Line} over all panels when every label has one look and every look one label,
    so one legend can serve all panels; else None (each panel keeps its own legend)."""
    entries, owners = {}, {}
    for panel in panels:
        for line in panel.lines:
            if not line.label:
                continue
            look = (line.color, line.style, line.marker)
            first = entries.setdefault(line.label, line)
            if (first.color, first.style, first.marker) != look or owners.setdefault(look, line.label) != line.label:
                return None
    return entries


def grid(panels, xlabel, ylabel, xlog2=True, ylog=None, ylim=None, suptitle=None,
         shared_legend=None, cols=None, panel_w=PANEL_W, panel_h=PANEL_H):
    """Small multiples: one panel per Panel, one line per Line. ylog=None decides per panel from
    the data's range. The legend goes below the panels when every label looks the same in all
    of them (or shared_legend=True), else into each panel."""
    n = len(panels)
    cols = cols or min(n, MAX_COLS)
    rows = math.ceil(n / cols)
    entries = _legend_entries(panels)
    if shared_legend is None:
        shared_legend = entries is not None and (n > 1 or len(entries) > 6)
    labels = list(entries) if shared_legend and entries else []
    longest = max((len(lab) for lab in labels), default=0)
    width = cols * panel_w + (cols - 1) * 0.8
    legend_cols = max(1, min(len(labels), 6, int(width * 15 // (longest + 5))))
    legend_rows = math.ceil(len(labels) / legend_cols) if labels else 0
    top = 0.4 + (0.35 if suptitle else 0)
    bottom = 0.6 + 0.19 * legend_rows + (0.15 if labels else 0)
    fig, axes = _figure(rows, cols, top, bottom, panel_w, panel_h)
    for ax, panel in zip(axes.flat, panels):
        _draw_panel(ax, panel, xlog2, _want_log([panel]) if ylog is None else ylog, ylim)
        ax.set_xlabel(panel.xlabel or xlabel)
        ax.set_ylabel(ylabel)
        if not shared_legend and any(line.label for line in panel.lines):
            ax.legend(loc="best", frameon=False, ncol=1 if len(panel.lines) <= 6 else 2)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    if labels:
        handles = [Line2D([], [], color=entries[lab].color, linestyle=entries[lab].style,
                          marker=entries[lab].marker, linewidth=entries[lab].width) for lab in labels]
        fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 0.0), ncol=legend_cols,
                   frameon=False)
    if suptitle:
        fig.suptitle(suptitle, fontsize=11, fontweight="bold", y=1 - 0.12 / fig.get_figheight())
    return _png(fig)


def _draw_panel(ax, panel, xlog2, ylog, ylim):
    xs_all = []
    for line in panel.lines:
        pts = [(x, y) for x, y in zip(line.x, line.y) if y is not None and math.isfinite(y)
               and (not ylog or y > 0)]
        if not pts:
            continue
        x, y = zip(*pts)
        xs_all += x
        kw = dict(color=line.color, linestyle=line.style, linewidth=line.width, alpha=line.alpha,
                  label=line.label or None)
        if line.step and len(x) > 1:
            ax.step(x, y, where="mid", **kw)
        else:
            ax.plot(x, y, marker=line.marker or ("o" if len(x) == 1 else None), markersize=4, **kw)
        if line.lo is not None and line.hi is not None:
            err = [(xi, yi, lo, hi) for xi, yi, lo, hi in zip(line.x, line.y, line.lo, line.hi)
                   if None not in (yi, lo, hi) and lo != hi]
            if err:
                ex, ey, elo, ehi = zip(*err)
                ax.errorbar(ex, ey, yerr=[[a - b for a, b in zip(ey, elo)], [b - a for a, b in zip(ey, ehi)]],
                            fmt="none", ecolor=line.color, elinewidth=1, capsize=3, alpha=line.alpha)
    for y, label in panel.hlines:
        ax.axhline(y, color="#444444", linestyle=":", linewidth=1)
        ax.annotate(label, xy=(1, y), xycoords=("axes fraction", "data"), ha="right", va="bottom",
                    fontsize=7, color="#444444")
    if xlog2:
        _log2_axis(ax, xs_all)
    if ylog:
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10))
        lo, hi = ax.get_ylim()
        few_decades = hi / lo < 100 if lo > 0 else False
        ax.yaxis.set_minor_formatter(FuncFormatter(_si_minor) if few_decades else NullFormatter())
    ax.yaxis.set_major_formatter(FuncFormatter(_si))
    if ylim:
        ax.set_ylim(*ylim)
    ax.set_title(textwrap.fill(panel.title, 48) if len(panel.title) > 52 else panel.title)


def stacked_bars(groups, categories, counts, colors, ylabel, title, xlabel):
    """One bar per group, stacked by category (outcomes per configuration)."""
    rotate = len(groups) > 6
    longest = max((len(g) for g in groups), default=1)
    fig, axes = _figure(1, 1, 0.45, 0.6 + (0.065 * longest if rotate else 0.2),
                        panel_w=max(4.0, min(0.38 * len(groups), 11.0)), panel_h=2.6, right=1.6)
    ax = axes[0, 0]
    bottom = [0] * len(groups)
    x = range(len(groups))
    for cat in categories:
        vals = [counts[g].get(cat, 0) for g in groups]
        if any(vals):
            ax.bar(x, vals, bottom=bottom, color=colors[cat], label=cat, width=0.75)
            bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_xticks(list(x))
    ax.set_xticklabels(groups, rotation=60 if rotate else 0, ha="right" if rotate else "center", fontsize=8)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(ylabel)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(axis="x", visible=False)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return _png(fig)
