"""Colours, fonts and sizes shared by every figure: a screen style and a clean paper style."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from gpicl_phase.choices import STYLES

# Okabe & Ito (2008), the colour-blind-safe qualitative palette; black last so it is used least.
OKABE_ITO = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
)

# Phase order is the paper's story (fail, memorize, identify, generalize), then the labels analysis gives runs
# that have no phase. The learned phases take Paul Tol's high-contrast scheme (blue, red, yellow: distinct to
# colour-blind readers and at four separate grey levels when printed in greyscale) plus a light grey for
# failure; labels without a phase take neutral or marked tones. One palette for every page and export.
PHASES = ("failed", "memorizing", "identifying", "generalizing", "unresolved", "unclassified", "diverged", "error",
          "unfinished", "unsampled")
PHASE_COLORS = {
    "failed": "#DDDDDD",
    "memorizing": "#BB5566",
    "identifying": "#DDAA33",
    "generalizing": "#004488",
    "unresolved": "#9E9E9E",
    "unclassified": "#CC79A7",
    "diverged": "#000000",
    "error": "#66CCEE",
    "unfinished": "#F4F4F4",
    "unsampled": "#FFFFFF",
}
# What the labels without a learned phase mean, for legends and help panels.
PHASE_NOTES = {
    "memorizing": "seen tasks learned, unseen tasks at chance: the model stores its training tasks",
    "identifying": "seen tasks learned in context, unseen tasks barely: it recognises which seen task it is given",
    "generalizing": "unseen tasks learned in context: a general-purpose in-context learner",
    "failed": "trained its maximum budget and never left the loss plateau",
    "unresolved": "still on the loss plateau when it was stopped short of its maximum budget",
    "unclassified": "finished, but between the phase rules (e.g. near a boundary)",
    "diverged": "non-finite loss",
    "error": "the run crashed",
    "unfinished": "pending or running",
    "unsampled": "refinement did not need this cell",
}
# Sequential scale for metrics; cividis reads the same to colour-blind viewers and in greyscale.
METRIC_SCALE = "Cividis"


_FONT = "Helvetica, Arial, sans-serif"
_SIZES = {
    # width/height in px of one panel row; paper fonts are sized for a 2-column figure at ~7 in wide.
    "screen": {"font": 13, "panel_w": 420, "panel_h": 380, "line": 2.0, "marker": 7},
    "paper": {"font": 10, "panel_w": 260, "panel_h": 220, "line": 1.5, "marker": 5},
}


def check_style(style: str) -> str:
    """Return style unchanged or raise ValueError naming the choices."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; choose one of {', '.join(STYLES)}")
    return style


def color(i: int) -> str:
    """The i-th Okabe-Ito colour, cycling."""
    return OKABE_ITO[i % len(OKABE_ITO)]


def line_width(style: str) -> float:
    """Line width for curves in the given style."""
    return _SIZES[check_style(style)]["line"]


def marker_size(style: str) -> float:
    """Marker size for points in the given style."""
    return _SIZES[check_style(style)]["marker"]


def figure_size(style: str, cols: int = 1, rows: int = 1) -> tuple[int, int]:
    """Pixel (width, height) for a grid of panels in the given style."""
    s = _SIZES[check_style(style)]
    # Margins and a legend/colourbar need room beyond the panels themselves.
    return s["panel_w"] * cols + 160, s["panel_h"] * rows + 90


def apply_style(fig: go.Figure, style: str = "screen", cols: int = 1, rows: int = 1) -> go.Figure:
    """Apply fonts, background, axes and size for the style; returns the same figure."""
    s = _SIZES[check_style(style)]
    axis = dict(
        showline=True, linecolor="black", linewidth=1, mirror=False, ticks="outside",
        showgrid=style == "screen", gridcolor="#e5e5e5", zeroline=False,
    )
    fig.update_layout(
        template="simple_white" if style == "paper" else "plotly_white",
        font=dict(family=_FONT, size=s["font"], color="black"),
        colorway=list(OKABE_ITO),
        paper_bgcolor="white",
        plot_bgcolor="white",
        margin=dict(l=60, r=20, t=50, b=50),
        legend=dict(font=dict(size=s["font"] - 1)),
        hoverlabel=dict(font=dict(family=_FONT)),
    )
    fig.update_xaxes(**axis)
    fig.update_yaxes(**axis)
    fig.update_annotations(font=dict(size=s["font"]))  # subplot titles
    if style == "paper":
        w, h = figure_size(style, cols, rows)
        fig.update_layout(width=w, height=h)
    else:
        # On screen the figure fills its container; only the height is fixed per panel row.
        fig.update_layout(height=figure_size(style, cols, rows)[1])
    return fig


def for_print(fig: go.Figure) -> go.Figure:
    """The figure as a paper takes it: no title (the caption says it) and no blank band where it was; room is
    kept for panel titles and a legend above the panels."""
    fig = go.Figure(fig)
    above = any((a.yref or "").endswith("paper") and (a.y or 0) >= 1 for a in fig.layout.annotations)
    legend_above = fig.layout.legend.y is not None and fig.layout.legend.y >= 1
    top = 10 + 15 * above + 20 * legend_above
    if legend_above:  # sit the legend just above the panels' titles, not where the title was
        fig.update_layout(legend=dict(y=1.0 + (0.045 if above else 0.01)))
    return fig.update_layout(title=None, margin=dict(t=top))


def log2_ticks(values) -> dict:
    """Tick settings that label log2-spaced positions as powers of two (2^k)."""
    ks = sorted({int(round(v)) for v in values if np.isfinite(v)})
    if len(ks) > 12:
        # Thin crowded axes to every other (or every n-th) power so labels do not overlap.
        step = -(-len(ks) // 12)
        ks = ks[::step]
    return dict(tickmode="array", tickvals=ks, ticktext=[f"2<sup>{k}</sup>" for k in ks])


def rgba(hex_color: str, alpha: float) -> str:
    """'#rrggbb' to an rgba() string with the given opacity, for bands and shaded regions."""
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def log_ticks(values) -> dict:
    """Tick settings for a log axis at 1, 2, 5 x 10^k within the data, labelled in plain numbers."""
    v = np.asarray([x for x in values if x is not None], dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if not v.size:
        return {}
    lo, hi = np.floor(np.log10(v.min())), np.ceil(np.log10(v.max()))
    every = [m * 10**k for k in np.arange(lo - 1, hi + 2) for m in (1, 2, 5)]
    inside = [i for i, t in enumerate(every) if v.min() / 1.5 <= t <= v.max() * 1.5]
    # At least three ticks, so a narrow range (all lengths near 2000) still reads as a log scale.
    widened = len(inside) < 3
    while len(inside) < 3:
        inside = [inside[0] - 1, *inside] if len(inside) % 2 else [*inside, inside[-1] + 1]
    ticks = [float(every[i]) for i in inside]
    out = dict(tickmode="array", tickvals=ticks, ticktext=[f"{t:g}" for t in ticks])
    if widened:  # plotly would zoom in past the outer ticks; the range (log10 units) keeps them on the axis
        out["range"] = [float(np.log10(min(ticks[0], v.min()) / 1.1)), float(np.log10(max(ticks[-1], v.max()) * 1.1))]
    return out
