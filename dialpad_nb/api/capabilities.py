"""What a client talks to, and what it may do there: capabilities, not assumptions.

::

    client.capabilities   # Capabilities(kind='Dialpad account', control_api=False, simulated_clock=False)
    client.kind           # 'embedded sandbox' | 'sandbox' | 'Dialpad account'
    client.is_sandbox     # the sandbox's control API (/sandbox/v1) is there: calls, clock, outbox
    client.may_change     # a sandbox, or an account with connect(allow_changes=True)

A client knows it talks to its **embedded sandbox** (it started it). Any other server is asked once,
with one cheap request (``GET /sandbox/v1/clock``, cached): a ``dialpad-nb sandbox`` answers it (an
external **sandbox**, with its control API and, usually, a simulated clock); Dialpad, its own
sandbox and ``dialpad-nb sandbox --as-account`` do not (a **Dialpad account**). dialpad.com and
sandbox.dialpad.com are never asked.

On an account every sandbox-only feature raises :class:`~dialpad_nb.core.errors.SandboxOnly`
saying what to do instead (:data:`SANDBOX_ONLY_INSTEAD`), and a client made with
``allow_changes=False`` (the notebooks' ``ALLOW_CHANGES``) sends no request that would create,
change or delete anything (:class:`~dialpad_nb.core.errors.ChangesNotAllowed`, nothing sent).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..core.clock import Clock, SimulatedClock, format_time
from ..core.errors import APIError, ChangesNotAllowed, SandboxOnly
from ..core.models import parse_id
from ..core.policy import key_need

if TYPE_CHECKING:  # pragma: no cover
    from .control import SandboxControl

__all__ = [
    "ACCOUNT",
    "EMBEDDED_SANDBOX",
    "SANDBOX",
    "SANDBOX_ONLY_INSTEAD",
    "Capabilities",
    "CapabilitiesAPI",
    "RemoteClock",
    "sandbox_only_message",
]

EMBEDDED_SANDBOX = "embedded sandbox"
"""The sandbox :func:`~dialpad_nb.connection.connect` started in this process."""
SANDBOX = "sandbox"
"""A sandbox served elsewhere (``dialpad-nb sandbox``): it has the control API."""
ACCOUNT = "Dialpad account"
"""A server without the sandbox's control API: Dialpad (live or its own sandbox), or the stand-in
``dialpad-nb sandbox --as-account``."""

DIALPAD_HOSTS = frozenset({"dialpad.com", "sandbox.dialpad.com"})
"""Dialpad's own hosts: never asked for the control API."""

PROBE_PATH = "/sandbox/v1/clock"

SANDBOX_ONLY_INSTEAD: dict[str, str] = {
    "place calls": "call the router's numbers from a phone; read them back with client.calls(router) "
    "(Dialpad's call history, with each routing request and answer)",
    "attempts": "client.calls(router) and from_dialpad_calls(...) (Dialpad's record of each call), or "
    "your endpoint's own log (read_endpoint_log)",
    "error count": "simulate(from_dialpad_calls(client.calls(router))[0]) recomputes the errors in the window",
    "outbox": "Dialpad emails the office admin; the mail is in their inbox",
    "clock": "real time cannot be moved: wait (client.wait_for_update(router) waits until Dialpad allows "
    "the next update of a router)",
    "deliveries": "your webhook receiver's log (event_receiver) shows what arrived",
}
"""What to do on a Dialpad account instead of each sandbox-only feature."""


def sandbox_only_message(where: str, feature: str | None = None) -> str:
    """The :class:`SandboxOnly` message: ``where`` has no control API; what to do instead."""
    if feature is not None:
        return (
            f"{feature}: sandbox only. {where} is a Dialpad account, which has no control API "
            f"(/sandbox/v1). Instead: {SANDBOX_ONLY_INSTEAD.get(feature, 'see SANDBOX_ONLY_INSTEAD')}."
        )
    instead = "; ".join(f"{name}: {what}" for name, what in SANDBOX_ONLY_INSTEAD.items())
    return (
        f"{where} has no control API (/sandbox/v1): placing calls, moving the clock and reading the "
        f"attempts, the outbox or the event deliveries exist only on a sandbox. On a Dialpad account "
        f"instead — {instead}."
    )


@dataclass(frozen=True)
class Capabilities:
    """What a client talks to (``kind``: :data:`EMBEDDED_SANDBOX`, :data:`SANDBOX` or :data:`ACCOUNT`),
    whether the sandbox's control API is there, and whether the server's clock can be moved."""

    kind: str
    control_api: bool
    simulated_clock: bool
    base_url: str

    @property
    def is_sandbox(self) -> bool:
        return self.control_api

    def __str__(self) -> str:
        article = "an" if self.kind[0] in "aeiou" else "a"
        extras = (
            "control API (/sandbox/v1), " + ("simulated clock" if self.simulated_clock else "system clock")
            if self.control_api
            else "no control API, real time"
        )
        return f"{article} {self.kind} at {self.base_url} ({extras})"


class RemoteClock:
    """The clock of a sandbox served elsewhere, read through its control API (one request per
    :meth:`now_ms`). A client on an external sandbox uses it, so the PATCH guard and a routing
    endpoint's log run on the sandbox's own (simulated) time."""

    def __init__(self, control: SandboxControl) -> None:
        self._control = control

    def now_ms(self) -> int:
        return self._control.clock()

    def advance(self, seconds: float) -> int:
        return self._control.advance(seconds)

    def set(self, now_ms: Any) -> int:
        return self._control.set_clock(now_ms)

    def __repr__(self) -> str:
        return f"RemoteClock({self._control.base_url!r})"


def _probe(client: Any) -> tuple[bool, bool]:
    """``(control_api, simulated_clock)`` from one ``GET /sandbox/v1/clock``; any API error answer
    (404, 401, a redirect, a body that is not the sandbox's clock) means no control API. A server
    that cannot be reached raises :class:`~dialpad_nb.core.errors.TransportError`."""
    try:
        data = client._json("GET", PROBE_PATH)
    except APIError:
        return False, False
    if not isinstance(data, Mapping) or not isinstance(data.get("now"), int):
        return False, False
    return True, data.get("simulated") is True


class CapabilitiesAPI:
    """:attr:`capabilities`, :attr:`may_change`, the look-only guard and :meth:`wait_for_update`;
    mixed into :class:`~dialpad_nb.api.client.DialpadClient`."""

    if TYPE_CHECKING:  # provided by DialpadClient
        base_url: str
        label: str
        clock: Clock
        sandbox: Any
        allow_changes: bool
        _sleep: Callable[[float], None]

        @property
        def control(self) -> SandboxControl: ...
        def next_update_allowed(self, router_id: int | str) -> int | None: ...

    @property
    def capabilities(self) -> Capabilities:
        """What this client talks to (asked of the server once, then remembered)."""
        known = self.__dict__.get("_capabilities")
        if known is None:
            known = self._find_capabilities()
            self.__dict__["_capabilities"] = known
        return known

    def _find_capabilities(self) -> Capabilities:
        if self.sandbox is not None:
            simulated = isinstance(self.sandbox.clock, SimulatedClock)
            return Capabilities(EMBEDDED_SANDBOX, True, simulated, self.base_url)
        host = (urlsplit(self.base_url).hostname or "").lower()
        if host in DIALPAD_HOSTS:
            return Capabilities(ACCOUNT, False, False, self.base_url)
        control_api, simulated = _probe(self)
        return Capabilities(SANDBOX if control_api else ACCOUNT, control_api, simulated, self.base_url)

    @property
    def kind(self) -> str:
        """``'embedded sandbox'``, ``'sandbox'`` (one served elsewhere) or ``'Dialpad account'``."""
        return self.capabilities.kind

    @property
    def is_sandbox(self) -> bool:
        """True when the sandbox's control API is there (embedded or served elsewhere)."""
        return self.capabilities.control_api

    @property
    def may_change(self) -> bool:
        """Whether this client creates, changes and deletes: always on a sandbox; on a Dialpad account
        only when made with ``allow_changes=True`` (the notebooks' ``ALLOW_CHANGES``)."""
        return self.allow_changes or self.capabilities.control_api

    def _check_may_send(self, method: str, path: str) -> None:
        """Refuse, before sending, a request that would change a Dialpad account this client only
        looks at."""
        if method in ("GET", "HEAD") or self.may_change:
            return
        from ..core.pacing import endpoint_key

        need = key_need(endpoint_key(method, path))
        action = need.action if need is not None else None
        what = f"{method} {path}" + (f" ({action})" if action else "")
        raise ChangesNotAllowed(
            f"not sent: {what} would change {self.label}, and this client only looks "
            "(connect(allow_changes=False): the notebooks' ALLOW_CHANGES = False). Nothing was changed. "
            "To make changes on this account, set ALLOW_CHANGES = True (connect(allow_changes=True)).",
            method=method,
            path=path,
            action=action,
        )

    def _sandbox_only(self, feature: str | None = None) -> SandboxOnly:
        """The :class:`SandboxOnly` error for ``feature`` (a key of :data:`SANDBOX_ONLY_INSTEAD`) here."""
        return SandboxOnly(sandbox_only_message(self.label, feature))

    def wait_for_update(self, router: Any, *, progress: bool = True) -> int:
        """Wait until Dialpad allows the next update of ``router`` (a :class:`CallRouter` or id); the time
        then (ms since the epoch).

        Dialpad allows one update per router per ``policy.patch_interval_s``. On a sandbox with a
        simulated clock this moves the sandbox's clock to that time (at once); on a Dialpad account it
        waits in real time, with a countdown (``progress``). Returns at once when an update is allowed."""
        rid = parse_id(getattr(router, "id", router), field="router")
        next_ms = self.next_update_allowed(rid)
        if next_ms is None:
            return self.clock.now_ms()
        caps = self.capabilities
        if caps.control_api and caps.simulated_clock:
            return self.control.set_clock(next_ms)
        from tqdm.auto import tqdm

        total = math.ceil((next_ms - self.clock.now_ms()) / 1000)
        bar = tqdm(
            total=total,
            desc=f"router {rid}: next update allowed at {format_time(next_ms)}",
            unit=" s",
            disable=not progress,
            leave=True,
        )
        try:
            while (left_ms := next_ms - self.clock.now_ms()) > 0:
                self._sleep(min(1.0, left_ms / 1000))
                bar.n = min(total, total - math.ceil((next_ms - self.clock.now_ms()) / 1000))
                bar.refresh()
        finally:
            bar.close()
        return self.clock.now_ms()
