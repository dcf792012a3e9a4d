"""Matplotlib charts: each function takes DataFrames and returns a ``matplotlib.figure.Figure``
(no pyplot global state). One module per topic (``charts.health``, ...)."""
