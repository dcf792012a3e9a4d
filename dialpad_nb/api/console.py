"""The router console's state and actions, in plain Python (no widgets).

:class:`RouterConsole` holds the routers and the company directory read through a
:class:`~dialpad_nb.api.client.DialpadClient` and offers every action ops need. Each
action returns an :class:`ActionResult` — never raises for Dialpad's answers,
the PATCH guard or bad input — so a notebook cell or the ipywidgets view
(:mod:`dialpad_nb.widgets.console`) just shows it::

    console = RouterConsole(client)
    console.table()                                   # routers, default target BY NAME
    console.create({"name": "Support", "routing_url": "https://ops.example/route",
                    "default_target": "Support Tier 1"})
    console.edit(router_id, {"routing_url": "https://ops.example/v2", "enabled": True,
                             "reset_error_count": True})      # ONE update: no lockout
    console.delete(router_id, confirm="Support")      # must type the router's name

Avoiding the lockout: Dialpad allows one update per router every 5 minutes. An
edit sends every change (URL, enable, reset) in one update, drops fields that
would not change anything (so a no-op never spends the window), and says when
the next update is allowed. :meth:`RouterConsole.check_edit` warns *before*
sending when an edit would leave a disabled router disabled with a new URL.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..core.clock import format_time
from ..core.directory import Directory
from ..core.errors import (
    APIError,
    DialpadError,
    NotFound,
    PatchGuardError,
    RateLimited,
    TransportError,
    Unauthorized,
    ValidationError,
)
from ..core.models import CallRouter, parse_id, validate_secret, validate_url
from .client import DialpadClient, validate_name

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["CREATE_FIELDS", "EDIT_FIELDS", "ActionResult", "RouterConsole", "count_routers", "describe_error"]

CREATE_FIELDS: tuple[str, ...] = ("name", "routing_url", "default_target", "office", "secret", "enabled")
"""Keys of the create form (``office`` is optional: the default target's office is used)."""

EDIT_FIELDS: tuple[str, ...] = (
    "name",
    "routing_url",
    "default_target",
    "secret",
    "enabled",
    "reset_error_count",
)
"""Keys an edit may change. Empty values mean "leave as is"."""

TABLE_COLUMNS: tuple[str, ...] = (
    "id",
    "name",
    "enabled",
    "numbers",
    "routing_url",
    "default_target",
    "signed",
    "next_update",
)


@dataclass(frozen=True)
class ActionResult:
    """The outcome of one console action: shown to the user as is."""

    ok: bool
    message: str
    field_errors: dict[str, str] = field(default_factory=dict)

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.ok else "#b42318"
        mark = "✓" if self.ok else "✗"
        items = "".join(
            f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in self.field_errors.items()
        )
        errors = f"<ul>{items}</ul>" if items else ""
        return f"<div style='color:{colour}'>{mark} {html.escape(self.message)}{errors}</div>"


def count_routers(n: int) -> str:
    """``'1 router'``, ``'3 routers'``: the console's and its widget's count."""
    return f"{n} router" if n == 1 else f"{n} routers"


def _field_message(exc: ValidationError) -> str:
    text = str(exc)
    prefix = f"{exc.field}: "
    return text[len(prefix) :] if exc.field and text.startswith(prefix) else text


def describe_error(exc: DialpadError) -> str:
    """A one-paragraph, readable account of an error for ops people (never contains the API key)."""
    if isinstance(exc, ValidationError):
        return f"Not sent: {exc}."
    if isinstance(exc, PatchGuardError):
        return exc.message  # says "Nothing was sent" and when; the override is for code, not ops
    if isinstance(exc, Unauthorized):
        return f"The API key was refused (401: {exc.message}). Check DIALPAD_API_KEY."
    if isinstance(exc, NotFound):
        return f"Not found (404: {exc.message}). It may have been deleted; refresh the list."
    if isinstance(exc, RateLimited):
        wait = f" Retry after {exc.retry_after_s:g} s." if exc.retry_after_s is not None else ""
        return f"Dialpad's rate limit (429: {exc.message}).{wait}"
    if isinstance(exc, APIError):
        return f"Dialpad answered {exc.status}: {exc.message}."
    if isinstance(exc, TransportError):
        return f"{exc.message}."
    return str(exc)


class RouterConsole:
    """Routers, the directory and every management action, for a notebook or a widget."""

    def __init__(self, client: DialpadClient) -> None:
        self.client = client
        self.routers: list[CallRouter] = []
        self.directory: Directory | None = None
        self.last_result: ActionResult | None = None
        self.last_created: CallRouter | None = None
        """The router the last successful :meth:`create` made (a view may select it)."""
        self._listeners: list[Callable[[RouterConsole], None]] = []

    def __repr__(self) -> str:
        return f"RouterConsole({self.client!r}, {count_routers(len(self.routers))})"

    # ------------------------------------------------------------------ state

    def on_change(self, callback: Callable[[RouterConsole], None]) -> None:
        """Call ``callback(console)`` after every refresh and action."""
        self._listeners.append(callback)

    def _notify(self, result: ActionResult) -> ActionResult:
        self.last_result = result
        for callback in list(self._listeners):
            callback(self)
        return result

    def _reload(self) -> None:
        self.directory = self.client.targets()
        self.routers = sorted(self.client.list_routers(), key=lambda r: (r.name.casefold(), r.id))

    def refresh(self) -> ActionResult:
        """Re-read the routers (and the directory, once) from Dialpad."""
        try:
            self._reload()
        except DialpadError as exc:
            return self._notify(ActionResult(False, describe_error(exc)))
        return self._notify(ActionResult(True, count_routers(len(self.routers))))

    def router(self, router_id: int | str) -> CallRouter | None:
        """The loaded router with this id, or None."""
        try:
            rid = parse_id(router_id, field="router_id")
        except ValidationError:
            return None
        return next((r for r in self.routers if r.id == rid), None)

    def target_name(self, router: CallRouter) -> str:
        if self.directory is None:
            return f"{router.default_target_type} {router.default_target_id}"
        return self.directory.name_of(router.default_target_id, router.default_target_type)

    def next_update_text(self, router_id: int) -> str:
        next_ms = self.client.next_update_allowed(router_id)
        return "now" if next_ms is None else format_time(next_ms)

    def table(self) -> pd.DataFrame:
        """One row per router: name, enabled, numbers, routing_url, default target by name, signed,
        and when its next update is allowed."""
        import pandas as pd

        rows = [
            {
                "id": r.id,
                "name": r.name,
                "enabled": r.enabled,
                "numbers": ", ".join(r.phone_numbers),
                "routing_url": r.routing_url,
                "default_target": self.target_name(r),
                "signed": r.has_secret,
                "next_update": self.next_update_text(r.id),
            }
            for r in self.routers
        ]
        return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))

    # ------------------------------------------------------------------ running actions

    def _run(self, action: Callable[[], str]) -> ActionResult:
        """Run ``action`` (returns the success message); turn DialpadErrors into results; refresh."""
        try:
            message = action()
        except ValidationError as exc:
            errors = {exc.field: _field_message(exc)} if exc.field else {}
            return self._notify(ActionResult(False, describe_error(exc), errors))
        except DialpadError as exc:
            return self._notify(ActionResult(False, describe_error(exc)))
        try:
            self._reload()
        except DialpadError as exc:
            message += f" (The list could not be refreshed: {describe_error(exc)})"
        return self._notify(ActionResult(True, message))

    def _known(self, router_id: int | str) -> CallRouter:
        rid = parse_id(router_id, field="router_id")
        router = self.router(rid)
        if router is None:
            router = self.client.get_router(rid)  # NotFound if it is gone
        return router

    def _after_update(self, router: CallRouter, what: str) -> str:
        return (
            f"{what} router {router.name!r}. Its next update is allowed at "
            f"{self.next_update_text(router.id)} (Dialpad allows one per "
            f"{self.client.policy.patch_interval_s / 60:g} min)."
        )

    # ------------------------------------------------------------------ create

    def validate_form(self, form: Mapping[str, Any]) -> dict[str, str]:
        """Every problem with a create form, by field (empty when it can be sent)."""
        return self._parse_form(form)[1]

    def _parse_form(self, form: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        errors: dict[str, str] = {}
        values: dict[str, Any] = {}
        unknown = set(form) - set(CREATE_FIELDS)
        for key in sorted(unknown):
            errors[key] = f"unknown field; the form has {', '.join(CREATE_FIELDS)}"

        def check(key: str, fn: Callable[[], Any]) -> None:
            try:
                values[key] = fn()
            except ValidationError as exc:
                errors[key] = _field_message(exc)

        directory = self.directory if self.directory is not None else self.client.targets()
        check("name", lambda: validate_name(form.get("name")))
        check("routing_url", lambda: validate_url(form.get("routing_url"), field="routing_url"))
        target = form.get("default_target")
        if target in (None, ""):
            errors["default_target"] = "is required: a user, department, call centre or office (name or id)"
        else:
            check("default_target", lambda: directory.resolve(target, field="default_target"))
        office = form.get("office")
        if office not in (None, ""):
            check("office", lambda: directory.resolve(office, "office", field="office"))
        secret = form.get("secret")
        if secret not in (None, ""):
            check("secret", lambda: validate_secret(secret))
        enabled = form.get("enabled", True)
        if not isinstance(enabled, bool):
            errors["enabled"] = f"must be True or False, got {enabled!r}"
        else:
            values["enabled"] = enabled
        return values, errors

    def create(self, form: Mapping[str, Any]) -> ActionResult:
        """Create a router from a form; every invalid field is reported inline, nothing is sent."""
        try:
            values, errors = self._parse_form(form)
        except DialpadError as exc:  # the directory could not be read
            return self._notify(ActionResult(False, describe_error(exc)))
        if errors:
            return self._notify(
                ActionResult(False, f"Not sent: {len(errors)} field(s) to fix.", dict(sorted(errors.items())))
            )
        target = values["default_target"]
        office = values.get("office")

        def action() -> str:
            router = self.client.create_router(
                name=values["name"],
                routing_url=values["routing_url"],
                office_id=office.id if office is not None else target.office_id,
                default_target=target,
                secret=values.get("secret"),
                enabled=values["enabled"],
            )
            self.last_created = router
            return f"Created router {router.name!r} (id {router.id}), default target {target.name} ({target.type})."

        return self._run(action)

    # ------------------------------------------------------------------ edit & updates

    def _edit_body(
        self, router: CallRouter, changes: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        body: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for key in sorted(set(changes) - set(EDIT_FIELDS)):
            errors[key] = f"cannot be edited here; editable: {', '.join(EDIT_FIELDS)}"
        given = {k: v for k, v in changes.items() if k in EDIT_FIELDS and v not in (None, "")}
        try:
            if "name" in given and validate_name(given["name"]) != router.name:
                body["name"] = validate_name(given["name"])
            if "routing_url" in given and given["routing_url"] != router.routing_url:
                body["routing_url"] = validate_url(given["routing_url"])
        except ValidationError as exc:
            errors[exc.field or "changes"] = _field_message(exc)
        if "default_target" in given:
            try:
                directory = self.directory if self.directory is not None else self.client.targets()
                entry = directory.resolve(given["default_target"], field="default_target")
                if (entry.id, entry.type) != (router.default_target_id, router.default_target_type):
                    body["default_target"] = entry
            except ValidationError as exc:
                errors["default_target"] = _field_message(exc)
        if "secret" in given:
            try:
                body["secret"] = validate_secret(given["secret"])
            except ValidationError as exc:
                errors["secret"] = _field_message(exc)
        for flag in ("enabled", "reset_error_count"):
            if flag in given and not isinstance(given[flag], bool):
                errors[flag] = f"must be True or False, got {given[flag]!r}"
        if isinstance(given.get("enabled"), bool) and given["enabled"] != router.enabled:
            body["enabled"] = given["enabled"]
        if given.get("reset_error_count") is True:
            body["reset_error_count"] = True
        return body, errors

    def check_edit(self, router_id: int | str, changes: Mapping[str, Any]) -> str | None:
        """A warning to show *before* sending an edit that would spend the update window badly."""
        router = self.router(router_id)
        if router is None:
            return None
        body, errors = self._edit_body(router, changes)
        if errors or not body:
            return None
        minutes = f"{self.client.policy.patch_interval_s / 60:g}"
        if not router.enabled and "routing_url" in body and body.get("enabled") is not True:
            return (
                f"Router {router.name!r} is disabled. Changing its URL without enabling it in the same update "
                f"means re-enabling must wait {minutes} min (Dialpad allows one update per {minutes} min): "
                "tick 'enabled' (and 'reset error count') to send them together."
            )
        return (
            f"This update uses router {router.name!r}'s one update per {minutes} min; "
            "include every change you need now."
        )

    def edit(
        self, router_id: int | str, changes: Mapping[str, Any], *, override_patch_guard: bool = False
    ) -> ActionResult:
        """Send every change (name, URL, default target, secret, enable, reset) in ONE update.

        Fields equal to the router's current values are dropped, so a no-op spends
        nothing; the result says when the next update is allowed."""
        try:
            router = self._known(router_id)
            body, errors = self._edit_body(router, changes)
        except DialpadError as exc:
            return self._notify(ActionResult(False, describe_error(exc)))
        if errors:
            return self._notify(
                ActionResult(False, f"Not sent: {len(errors)} field(s) to fix.", dict(sorted(errors.items())))
            )
        if not body:
            return self._notify(
                ActionResult(False, f"Nothing to change on router {router.name!r}; not sent.")
            )
        warning = self.check_edit(router.id, changes) if "routing_url" in body else None

        def action() -> str:
            updated = self.client.update_router(router.id, **body, override_patch_guard=override_patch_guard)
            changed = ", ".join(k.replace("default_target", "default target") for k in body)
            message = self._after_update(updated, f"Updated {changed} of")
            if warning and not updated.enabled:
                message += " It is still disabled: re-enabling it has to wait for that time."
            return message

        return self._run(action)

    def _update(self, router_id: int | str, what: str, **fields: Any) -> ActionResult:
        def action() -> str:
            router = self._known(router_id)
            updated = self.client.update_router(router.id, **fields)
            return self._after_update(updated, what)

        return self._run(action)

    def enable(self, router_id: int | str, reset_error_count: bool = False) -> ActionResult:
        what = (
            "Enabled (error count reset)" if reset_error_count else "Enabled (errors of the past hour kept)"
        )
        return self._update(router_id, what, enabled=True, reset_error_count=reset_error_count)

    def disable(self, router_id: int | str) -> ActionResult:
        return self._update(router_id, "Disabled", enabled=False)

    def reset_error_count(self, router_id: int | str) -> ActionResult:
        return self._update(router_id, "Reset the error count of", reset_error_count=True)

    # ------------------------------------------------------------------ numbers & delete

    def assign_number(
        self, router_id: int | str, area_code: str | None = None, number: str | None = None
    ) -> ActionResult:
        def action() -> str:
            router = self._known(router_id)
            assigned = self.client.assign_number(
                router.id, area_code=area_code or None, number=number or None
            )
            return f"Assigned {assigned.number} to router {router.name!r}."

        return self._run(action)

    def unassign(self, number: str) -> ActionResult:
        def action() -> str:
            released = self.client.unassign_number(number)
            return f"Unassigned {released.number}; it is back in the company's reserved pool."

        return self._run(action)

    def delete(self, router_id: int | str, confirm: str) -> ActionResult:
        """Delete a router once ``confirm`` is exactly its name (its numbers return to the pool)."""
        try:
            router = self._known(router_id)
        except DialpadError as exc:
            return self._notify(ActionResult(False, describe_error(exc)))
        if (confirm or "").strip() != router.name:
            return self._notify(
                ActionResult(
                    False,
                    f"Not deleted: type the router's name {router.name!r} to confirm.",
                    {"confirm": f"must be exactly {router.name!r}"},
                )
            )

        def action() -> str:
            self.client.delete_router(router.id)
            numbers = (
                f"; {', '.join(router.phone_numbers)} back in the reserved pool"
                if router.phone_numbers
                else ""
            )
            return f"Deleted router {router.name!r} (id {router.id}){numbers}."

        return self._run(action)
