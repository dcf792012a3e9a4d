"""dialpad_nb: manage, replay and chart Dialpad call routers from Jupyter."""

__version__ = "0.1.0"
