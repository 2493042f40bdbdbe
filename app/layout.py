"""The page shell (header, navigation, polling, export bar) and small components every page uses."""

from __future__ import annotations

import plotly.graph_objects as go
from dash import dcc, html

from app import ids, urls
from gpicl_phase.figures.export import FORMATS
from gpicl_phase.figures.style import STYLES

POLL_MS = 5000  # how often a page re-checks its store; a check is one read of the status array

_BAR = {"display": "flex", "gap": "12px", "alignItems": "flex-end", "flexWrap": "wrap", "margin": "8px 0"}


def shell(poll_ms: int = POLL_MS) -> html.Div:
    """Everything outside the page body; the body is filled by the router callback."""
    nav = [dcc.Link(title, href=path, id={"type": ids.NAV, "page": path}, style={"marginRight": "16px"})
           for path, title in urls.PAGES.items()]
    export = html.Div([
        control_box("figure format", dcc.Dropdown(id=ids.EXPORT_FMT, options=list(FORMATS), value="svg",
                                                  clearable=False, style={"width": "90px"})),
        control_box("style", dcc.Dropdown(id=ids.EXPORT_STYLE, options=list(STYLES), value="paper",
                                          clearable=False, style={"width": "110px"})),
        html.Button("Export figure + CSV", id=ids.EXPORT_BTN, n_clicks=0),
        dcc.Loading(html.Span(id=ids.EXPORT_MSG, style={"fontSize": "13px"}), type="dot"),
        dcc.Download(id=ids.EXPORT_DL),
    ], style=_BAR)
    return html.Div([
        dcc.Location(id=ids.URL, refresh="callback-nav"),
        dcc.Store(id=ids.VERSION),
        dcc.Interval(id=ids.POLL, interval=poll_ms),
        html.H2("gpicl-phase", style={"margin": "4px 0"}),
        html.Nav(nav, id="nav-bar", style={"margin": "6px 0 10px"}),
        html.Div(id=ids.BANNER),
        dcc.Loading(html.Div(id=ids.PAGE, children=message("Loading the store ...")), type="circle", delay_show=300),
        html.Hr(),
        export,
    ], style={"fontFamily": "Helvetica, Arial, sans-serif", "margin": "10px 24px"})


def control_box(label: str, component) -> html.Div:
    """A labelled control."""
    return html.Div([html.Label(label, style={"fontSize": "12px", "color": "#555"}), component])


def dropdown(key: str, label: str, options: list, value, width: str = "180px") -> html.Div:
    """A dropdown whose value lives in the URL query under key; options as values or (value, label) pairs."""
    opts = [{"value": str(o[0]), "label": str(o[1])} if isinstance(o, tuple) else {"value": str(o), "label": str(o)}
            for o in options]
    return control_box(label, dcc.Dropdown(id=ids.query(key), options=opts, value=None if value is None else str(value),
                                           clearable=False, style={"width": width}))


def controls(*children) -> html.Div:
    """A row of controls."""
    return html.Div(list(children), style=_BAR)


def message(text: str, kind: str = "info") -> html.Div:
    """A boxed message; kind 'info', 'warn' or 'error' picks the colour."""
    colors = {"info": ("#eef5fb", "#0072B2"), "warn": ("#fdf3e1", "#E69F00"), "error": ("#fbeae5", "#D55E00")}
    bg, edge = colors[kind]
    return html.Div(text, className=f"msg msg-{kind}", style={
        "background": bg, "borderLeft": f"4px solid {edge}", "padding": "8px 12px", "margin": "8px 0",
        "whiteSpace": "pre-wrap"})


def empty_figure(text: str) -> go.Figure:
    """A blank figure carrying a message, for graphs whose data is not there (yet)."""
    fig = go.Figure()
    fig.add_annotation(text=text, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5, font=dict(size=14))
    fig.update_layout(xaxis_visible=False, yaxis_visible=False, template="plotly_white", height=300)
    return fig


def graph(graph_id: str) -> dcc.Graph:
    """A graph with the toolbar trimmed to what helps (no plotly logo, no lasso)."""
    return dcc.Graph(id=graph_id, figure=empty_figure("computing ..."),
                     config={"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]})
