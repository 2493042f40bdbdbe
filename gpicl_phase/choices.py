"""The named choices of the command line, defined once: the modules that act on them and `cli.py` both read
them here (this module imports nothing, so the command line starts without JAX or plotly)."""

TASK_SOURCES = ("auto", "bank", "fresh")  # where training tasks come from (driver/bank.py)
EXECUTORS = ("local", "dask")  # where a sweep's chunks run (sweep/runner.py)
PAPER_FIGURES = ("phase", "plateau", "incontext", "improvement", "statesize")  # what `export --figure all` writes
FIGURES = (*PAPER_FIGURES, "all")
FORMATS = ("svg", "pdf", "png")  # static export formats
STYLES = ("screen", "paper")  # figure styles: the app's, and sized for a two-column page
