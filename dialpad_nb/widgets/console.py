"""The router console as ipywidgets: a view over :class:`~dialpad_nb.api.console.RouterConsole`.

State drives the view (as in ipyannotations): the console's state is mirrored
in traitlets (``routers``, ``selected_id``, ``status``) and ``@observe``
methods rebuild the table, the selector and the forms from them. Every button
calls one console action and shows its :class:`~dialpad_nb.api.console.ActionResult`
in the status line and next to the form fields — never a traceback. Tests
drive the public handlers (``button.click()``, ``widget.value = ...``) without
a browser::

    from dialpad_nb.widgets import router_console
    router_console(client)
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import ipywidgets as widgets
import traitlets

from ..api.client import DialpadClient
from ..api.console import ActionResult, RouterConsole, count_routers
from ..core.policy import DIALPAD

__all__ = ["RouterConsoleWidget", "router_console"]

_TABLE_STYLE = (
    "<style>.dpnb-console table{border-collapse:collapse;font-size:13px}"
    ".dpnb-console th,.dpnb-console td{padding:2px 8px;text-align:left;border-bottom:1px solid #ddd}"
    ".dpnb-console .dpnb-invalid input,.dpnb-console .dpnb-invalid textarea"
    "{border:2px solid #b42318 !important;background:#fff5f5}</style>"
)


def _error_label() -> widgets.HTML:
    return widgets.HTML(value="", layout=widgets.Layout(margin="0 0 0 8px"))


def _show_error(label: widgets.HTML, message: str | None, field: widgets.Widget | None = None) -> None:
    """The message next to a form field, and the field marked (red border) while it has one."""
    label.value = f"<span style='color:#b42318'>{html.escape(message)}</span>" if message else ""
    if field is not None:
        if message:
            field.add_class("dpnb-invalid")
        else:
            field.remove_class("dpnb-invalid")


class RouterConsoleWidget(widgets.VBox):
    """Routers table, selector, actions, create/edit forms, delete confirmation, status line."""

    routers: traitlets.List[dict[str, Any]] = traitlets.List(
        help="the console's routers as table rows (dicts)"
    )
    selected_id = traitlets.Int(allow_none=True, default_value=None, help="the router the actions apply to")
    status = traitlets.Unicode("", help="HTML of the last action's result")

    def __init__(self, console: RouterConsole, **kwargs: Any) -> None:
        self.console = console
        self._updating = 0
        self._filled_from: Any = None  # the router (state) the edit form was last filled from
        text = {"style": {"description_width": "120px"}, "layout": widgets.Layout(width="480px")}

        self.status_line = widgets.HTML()
        self.table = widgets.HTML()
        self.selector = widgets.Dropdown(description="Router", options=[], **text)
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.enable_button = widgets.Button(description="Enable", button_style="success")
        self.enable_reset_button = widgets.Button(
            # ipywidgets buttons are 148px wide by default: this label would show cut ("Enable + reset er…")
            description="Enable + reset errors",
            button_style="success",
            layout=widgets.Layout(width="auto"),
        )
        self.disable_button = widgets.Button(description="Disable", button_style="warning")
        self.reset_button = widgets.Button(description="Reset error count")

        # create form
        self.create_fields: dict[str, widgets.ValueWidget] = {
            "name": widgets.Text(description="Name", **text),
            "routing_url": widgets.Text(description="Routing URL", placeholder="https://…", **text),
            "default_target": widgets.Combobox(
                description="Default target", placeholder="name or id", ensure_option=False, **text
            ),
            "office": widgets.Combobox(
                description="Office", placeholder="(the target's office)", ensure_option=False, **text
            ),
            "secret": widgets.Password(
                description="Secret",
                placeholder=f"≥ {DIALPAD.min_secret_length} characters, optional",
                **text,
            ),
            "enabled": widgets.Checkbox(description="Enabled", value=True, indent=False),
        }
        self.create_errors = {name: _error_label() for name in self.create_fields}
        self.create_button = widgets.Button(description="Create router", button_style="primary")

        # edit form
        self.edit_fields: dict[str, widgets.ValueWidget] = {
            "name": widgets.Text(description="Name", **text),
            "routing_url": widgets.Text(description="Routing URL", **text),
            "default_target": widgets.Combobox(description="Default target", ensure_option=False, **text),
            "secret": widgets.Password(description="New secret", placeholder="(unchanged)", **text),
            "enabled": widgets.Checkbox(description="Enabled", indent=False),
            "reset_error_count": widgets.Checkbox(description="Reset error count", indent=False),
        }
        self.edit_errors = {name: _error_label() for name in self.edit_fields}
        self.edit_warning = widgets.HTML()
        self.save_button = widgets.Button(description="Save (one update)", button_style="primary")

        # numbers
        self.area_code = widgets.Text(description="Area code", placeholder="415", **text)
        self.number = widgets.Text(description="or number", placeholder="+14155550123", **text)
        self.assign_button = widgets.Button(description="Assign number")
        self.numbers = widgets.Dropdown(description="Number", options=[], **text)
        self.unassign_button = widgets.Button(description="Unassign", button_style="warning")

        # delete
        self.confirm = widgets.Text(description="Type its name", **text)
        self.delete_button = widgets.Button(description="Delete router", button_style="danger", disabled=True)

        self.forms = widgets.Tab(
            children=[
                self._form(self.edit_fields, self.edit_errors, [self.edit_warning, self.save_button]),
                self._form(self.create_fields, self.create_errors, [self.create_button]),
                widgets.VBox(
                    [
                        widgets.HBox([widgets.VBox([self.area_code, self.number]), self.assign_button]),
                        widgets.HBox([self.numbers, self.unassign_button]),
                    ]
                ),
                widgets.VBox([widgets.HBox([self.confirm, self.delete_button])]),
            ],
            titles=["Edit", "Create", "Numbers", "Delete"],
        )
        actions = widgets.HBox(
            [self.enable_button, self.enable_reset_button, self.disable_button, self.reset_button]
        )
        super().__init__(
            children=[
                self.status_line,
                self.table,
                widgets.HBox([self.selector, self.refresh_button]),
                actions,
                self.forms,
            ],
            **kwargs,
        )
        self.add_class("dpnb-console")

        self.refresh_button.on_click(lambda _: self.console.refresh())
        self.enable_button.on_click(lambda _: self._act(self.console.enable))
        self.enable_reset_button.on_click(lambda _: self._act(self.console.enable, reset_error_count=True))
        self.disable_button.on_click(lambda _: self._act(self.console.disable))
        self.reset_button.on_click(lambda _: self._act(self.console.reset_error_count))
        self.create_button.on_click(self._on_create)
        self.save_button.on_click(self._on_save)
        self.assign_button.on_click(self._on_assign)
        self.unassign_button.on_click(self._on_unassign)
        self.delete_button.on_click(self._on_delete)
        self.selector.observe(self._on_select, names="value")
        self.confirm.observe(self._on_confirm_typed, names="value")
        for field in self.edit_fields.values():
            field.observe(self._on_edit_changed, names="value")

        console.on_change(self._sync)
        if console.last_result is None:
            console.refresh()
        else:
            self._sync(console)

    @staticmethod
    def _form(fields: dict, errors: dict, extra: list) -> widgets.VBox:
        rows = [widgets.HBox([fields[name], errors[name]]) for name in fields]
        return widgets.VBox(rows + extra)

    def __repr__(self) -> str:
        selected = self.console.router(self.selected_id) if self.selected_id is not None else None
        name = f", selected={selected.name!r}" if selected else ""
        return f"RouterConsoleWidget({count_routers(len(self.routers))}{name})"

    # ------------------------------------------------------------------ console → traitlets

    def _sync(self, console: RouterConsole) -> None:
        wanted = self.selected_id
        if console.last_created is not None and console.router(console.last_created.id) is not None:
            wanted = console.last_created.id
            console.last_created = None
        if wanted is not None and console.router(wanted) is None:
            wanted = None
        if wanted is None and console.routers:
            wanted = console.routers[0].id
        with self._quiet():
            self.selected_id = wanted
            self.routers = [{str(k): v for k, v in row.items()} for row in console.table().to_dict("records")]
            self._render_routers()
            self._render_selection()
        if console.last_result is not None:
            self.status = console.last_result._repr_html_()

    @contextmanager
    def _quiet(self) -> Iterator[None]:
        """Programmatic view updates: the widgets' own change handlers stay silent."""
        self._updating += 1
        try:
            yield
        finally:
            self._updating -= 1

    # ------------------------------------------------------------------ traitlets → view

    @traitlets.observe("routers")
    def _on_routers(self, change: dict) -> None:
        if not self._updating:
            with self._quiet():
                self._render_routers()

    @traitlets.observe("selected_id")
    def _on_selected_id(self, change: dict) -> None:
        if not self._updating:
            with self._quiet():
                self._render_selection()

    def _render_routers(self) -> None:
        frame = self.console.table()
        if frame.empty:
            self.table.value = "<i>No call routers yet: create one in the Create tab.</i>"
        else:
            self.table.value = _TABLE_STYLE + frame.to_html(index=False, escape=True)
        self.selector.options = [(f"{r['name']} ({r['id']})", r["id"]) for r in self.routers]
        self.selector.value = (
            self.selected_id if self.selected_id in {r["id"] for r in self.routers} else None
        )
        directory = self.console.directory
        if directory is not None:
            names = sorted({e.name for e in directory})
            self.create_fields["default_target"].options = names
            self.edit_fields["default_target"].options = names
            self.create_fields["office"].options = [e.name for e in directory if e.type == "office"]
        self._update_enabled()

    def _render_selection(self) -> None:
        if self.selector.value != self.selected_id:
            self.selector.value = self.selected_id
        self._fill_edit_form()
        self._fill_numbers()
        self.confirm.value = ""
        self._update_enabled()

    @traitlets.observe("status")
    def _render_status(self, change: dict) -> None:
        self.status_line.value = self.status

    def _update_enabled(self) -> None:
        none = self.selected_id is None
        for button in (
            self.enable_button,
            self.enable_reset_button,
            self.disable_button,
            self.reset_button,
            self.save_button,
            self.assign_button,
        ):
            button.disabled = none
        self.unassign_button.disabled = none or not self.numbers.options
        router = self.console.router(self.selected_id) if self.selected_id is not None else None
        self.delete_button.disabled = router is None or self.confirm.value.strip() != router.name

    def _fill_edit_form(self) -> None:
        """Fill the edit form from the selected router -- unless the form already shows that
        router as it is: then what the user typed (and its errors) stays, e.g. after a refused save."""
        router = self.console.router(self.selected_id) if self.selected_id is not None else None
        if router is not None and router == self._filled_from:
            return
        self._filled_from = router
        values = {
            "name": router.name if router else "",
            "routing_url": router.routing_url if router else "",
            "default_target": self._target_label(router) if router else "",
            "secret": "",
            "enabled": router.enabled if router else False,
            "reset_error_count": False,
        }
        for key, value in values.items():
            self.edit_fields[key].value = value
        for key, label in self.edit_errors.items():
            _show_error(label, None, self.edit_fields[key])
        self.edit_warning.value = ""

    def _target_label(self, router) -> str:
        directory = self.console.directory
        entry = directory.find(router.default_target_id, router.default_target_type) if directory else None
        return entry.name if entry else str(router.default_target_id)

    def _fill_numbers(self) -> None:
        router = self.console.router(self.selected_id) if self.selected_id is not None else None
        kept = self.numbers.value
        self.numbers.options = list(router.phone_numbers) if router else []
        # New options leave a Dropdown with no value: the browser showed an empty box and
        # Unassign (enabled) did nothing. Keep the chosen number, else pick the first.
        if self.numbers.options:
            self.numbers.value = kept if kept in self.numbers.options else self.numbers.options[0]
        self.unassign_button.disabled = not self.numbers.options

    # ------------------------------------------------------------------ handlers

    def _on_select(self, change: dict) -> None:
        if not self._updating:
            self.selected_id = change["new"]

    def _on_confirm_typed(self, change: dict) -> None:
        if not self._updating:
            self._update_enabled()

    def _edit_changes(self) -> dict[str, Any]:
        router = self.console.router(self.selected_id) if self.selected_id is not None else None
        changes = {key: field.value for key, field in self.edit_fields.items()}
        if router is not None and changes["default_target"] == self._target_label(router):
            changes.pop("default_target")  # unchanged
        return changes

    def _on_edit_changed(self, change: dict) -> None:
        if self._updating or self.selected_id is None:
            return
        warning = self.console.check_edit(self.selected_id, self._edit_changes())
        self.edit_warning.value = (
            f"<span style='color:#9a6700'>⚠ {html.escape(warning)}</span>" if warning else ""
        )

    def _act(self, action, *args: Any, **kwargs: Any) -> ActionResult | None:
        if self.selected_id is None:
            return None
        return action(self.selected_id, *args, **kwargs)

    def _on_create(self, _: Any = None) -> ActionResult:
        form = {key: field.value for key, field in self.create_fields.items()}
        result = self.console.create(form)
        for key, label in self.create_errors.items():
            _show_error(label, result.field_errors.get(key), self.create_fields[key])
        if result.ok:
            with self._quiet():
                for key, field in self.create_fields.items():
                    field.value = True if key == "enabled" else ""
        return result

    def _on_save(self, _: Any = None) -> ActionResult | None:
        if self.selected_id is None:
            return None
        changes = self._edit_changes()
        result = self.console.edit(self.selected_id, changes)
        if not result.ok:  # the form keeps what was typed (see _fill_edit_form); mark what is wrong
            for key, label in self.edit_errors.items():
                _show_error(label, result.field_errors.get(key), self.edit_fields[key])
        else:  # sent: show the router as it is now (a new secret is not echoed back)
            self._filled_from = None
            with self._quiet():
                self._fill_edit_form()
        return result

    def _on_assign(self, _: Any = None) -> ActionResult | None:
        result = self._act(
            self.console.assign_number, self.area_code.value.strip(), self.number.value.strip()
        )
        if result is not None and result.ok:
            self.area_code.value = self.number.value = ""
        return result

    def _on_unassign(self, _: Any = None) -> ActionResult | None:
        if not self.numbers.value:
            return None
        return self.console.unassign(self.numbers.value)

    def _on_delete(self, _: Any = None) -> ActionResult | None:
        return self._act(self.console.delete, self.confirm.value)


def router_console(client: DialpadClient | RouterConsole) -> RouterConsoleWidget:
    """The router console widget for a client (or an existing :class:`RouterConsole`)."""
    console = client if isinstance(client, RouterConsole) else RouterConsole(client)
    return RouterConsoleWidget(console)
