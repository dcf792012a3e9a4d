"""ipywidgets views over the package's plain-Python state.

Import the view you need from its module (``from dialpad_nb.widgets.router_console
import router_console``); this package imports nothing so that importing
``dialpad_nb`` never pulls in ipywidgets.
"""
