"""A typed client for Dialpad's call-router API (and the sandbox), over httpx.

::

    client = DialpadClient(base_url="https://dialpad.com", api_key=key)
    router = client.create_router(name="Support", routing_url="https://ops.example/route",
                                  default_target="Support Tier 1")   # office from the target
    client.assign_number(router.id, area_code="415")
    client.update_router(router.id, routing_url="https://ops.example/v2", enabled=True)

What it guarantees:

* **One seam for HTTP**: everything goes through an ``httpx.Client`` built on
  the ``transport`` you pass (tests pass ``httpx.MockTransport``; the embedded
  sandbox is a real server on loopback).
* **One exception tree** (:mod:`dialpad_nb.core.errors`). httpx's exceptions are
  converted in exactly one place, :meth:`DialpadClient._send`; none leaks.
* **Retries** with exponential backoff that honours ``Retry-After``, for
  idempotent requests only: ``GET`` is retried on 429/502/503/504, on timeouts
  and on connection failures; ``DELETE`` only on 429 and on a failure to
  connect (the two cases where the server certainly did not act, so a retry can
  never turn a success into a confusing 404). ``POST`` and ``PATCH`` are never
  retried. A ``Retry-After`` longer than ``max_retry_wait_s`` is not waited
  for: the :class:`~dialpad_nb.core.errors.RateLimited` error is raised at once.
* **Dialpad's rate limits kept** (``rate_limits=True``, the default): one token bucket per limit
  (``policy.company_requests_per_s`` for all calls, ``policy.endpoint_requests_per_min`` per
  endpoint; bursts of half the allowance, a margin for network jitter) shared by all of the client's calls; the client waits (``sleep``, on the ``monotonic``
  clock) rather than be refused. A 429 holds the bucket for its ``Retry-After`` and is retried for
  GET, DELETE and POST (a 429 means the server did not act).
* **Redirects are errors**: a 3xx raises :class:`~dialpad_nb.core.errors.Redirected` naming where
  it pointed; it is never followed (the key would travel with it, and the change was not made).
* **Answers are checked**: a 2xx body that is not what the API documents (a field of the wrong
  type, ``items`` that is not a list) raises :class:`~dialpad_nb.core.errors.MalformedResponse`
  naming the field. Paging stops with that error on a repeated cursor or page, or after
  ``max_pages`` pages.
* **Validation before sending**: bad input raises
  :class:`~dialpad_nb.core.errors.ValidationError` naming the field; nothing is sent.
* **PATCH guard**: Dialpad allows one router update per ``policy.patch_interval_s``.
  The client remembers each router's last update (and any ``Retry-After`` it
  was told) and refuses a second one inside the window with
  :class:`~dialpad_nb.core.errors.PatchGuardError`, saying when the next is allowed;
  ``override_patch_guard=True`` sends anyway.
* **No secrets shown**: the API key travels only in the ``Authorization``
  header; it is not in the client's repr, in exceptions (URLs are kept without
  their query string) or in log records. Routers show their secret as ``***``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from ..core.clock import Clock, SystemClock, format_time, ms_to_datetime
from ..core.directory import Directory, RouterDescription
from ..core.errors import (
    DialpadTimeout,
    MalformedResponse,
    PatchGuardError,
    RateLimited,
    Redirected,
    TransportError,
    ValidationError,
)
from ..core.models import (
    NUMBER_STATUSES,
    CallRouter,
    DirectoryEntry,
    Number,
    Office,
    normalize_e164,
    parse_id,
    validate_e164,
    validate_name,
    validate_secret,
    validate_target_type,
    validate_url,
)
from ..core.pacing import RateLimiter, endpoint_key
from ..core.policy import DIALPAD, Policy
from .capabilities import CapabilitiesAPI
from .control import SandboxControl
from .fleet import FleetAPI
from .history import HistoryAPI
from .http_errors import error_from_response, strip_query, transport_reason

if TYPE_CHECKING:  # pragma: no cover
    pass

__all__ = [
    "NUMBER_STATUSES",
    "UNSET",
    "DialpadClient",
    "validate_name",
]

log = logging.getLogger("dialpad_nb.api.client")

API = "/api/v2"
RETRY_STATUSES = frozenset({429, 502, 503, 504})


class _Unset:
    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Any = _Unset()
"""Marks an :meth:`DialpadClient.update_router` field that is not being changed."""


class _Secret:
    """Holds the API key so that no repr, vars() dump or traceback shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"


def _fmt_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    minutes, secs = divmod(seconds, 60)
    if minutes and secs:
        return f"{minutes} min {secs} s"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


# --------------------------------------------------------------------------- client


class DialpadClient(HistoryAPI, CapabilitiesAPI, FleetAPI):
    """Dialpad's call-router API (or the sandbox's), typed and guarded. See the module docstring.

    Call history, webhooks and call-event subscriptions: :class:`~dialpad_nb.api.history.HistoryAPI`.
    What it talks to and what it may change there (``allow_changes=False``: a look-only client on a
    Dialpad account): :class:`~dialpad_nb.api.capabilities.CapabilitiesAPI`. The routers at a glance:
    :class:`~dialpad_nb.api.fleet.FleetAPI`."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        transport: httpx.BaseTransport | None = None,
        clock: Clock | None = None,
        policy: Policy = DIALPAD,
        timeout: float = 10.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        max_retry_wait_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        label: str | None = None,
        rate_limits: bool = True,
        monotonic: Callable[[], float] = time.monotonic,
        max_pages: int = 1000,
        allow_changes: bool = True,
    ) -> None:
        validate_url(base_url, field="base_url")
        if not isinstance(api_key, str) or not api_key.strip():
            raise ValidationError("an API key is required (set DIALPAD_API_KEY)", field="api_key")
        if max_retries < 0:
            raise ValidationError(f"must be >= 0, got {max_retries!r}", field="max_retries")
        if isinstance(max_pages, bool) or not isinstance(max_pages, int) or max_pages < 1:
            raise ValidationError(f"must be a positive integer, got {max_pages!r}", field="max_pages")
        self.base_url = base_url.rstrip("/")
        self._api_key = _Secret(api_key)
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.policy = policy
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_retry_wait_s = max_retry_wait_s
        self._sleep = sleep
        self.max_pages = max_pages
        self.allow_changes = self._check_bool(allow_changes, "allow_changes")
        """False: on a Dialpad account nothing is created, changed or deleted (see :attr:`may_change`)."""
        self.pacing: RateLimiter | None = (
            RateLimiter(policy, monotonic=monotonic, burst=0.5) if rate_limits else None
        )
        """Dialpad's rate limits, kept by waiting before each request (one bucket for all of this
        client's calls); None with ``rate_limits=False``."""
        self.label = label or self._default_label()
        self.sandbox: Any = None
        """The embedded sandbox server when :func:`~dialpad_nb.connection.connect` started one, else None."""
        self._owns_sandbox = False
        self._transport = transport
        self._control: Any = None
        self._http = httpx.Client(
            base_url=self.base_url,
            transport=transport,
            timeout=timeout,
            headers={
                "Authorization": f"Bearer {api_key}",
                "Accept": "application/json",
                "User-Agent": "dialpad_nb",
            },
            follow_redirects=False,
        )
        self._next_update_ms: dict[int, int] = {}
        self._last_update: dict[int, tuple[int, frozenset[str]]] = {}
        self._directory: Directory | None = None
        self._router_names: dict[int, str] = {}  # id -> name of the routers seen, for messages

    # ------------------------------------------------------------------ housekeeping

    def _default_label(self) -> str:
        host = urlsplit(self.base_url).hostname or self.base_url
        if host == "dialpad.com":
            return "live dialpad.com"
        if host == "sandbox.dialpad.com":
            return "Dialpad's sandbox at sandbox.dialpad.com"
        return f"<{self.base_url}>"

    def __repr__(self) -> str:
        return f"DialpadClient({self.label})"

    def attach_sandbox(self, server: Any, *, owned: bool) -> None:
        """Remember the embedded sandbox ``server`` this client talks to; with ``owned``,
        :meth:`close` stops it."""
        self.sandbox = server
        self._owns_sandbox = owned
        self.__dict__.pop("_capabilities", None)  # it talks to an embedded sandbox now

    @property
    def control(self) -> SandboxControl:
        """The sandbox's control API (place calls, attempts, outbox, clock): a
        :class:`~dialpad_nb.api.control.SandboxControl` on the same host and key.

        Only a sandbox has it (the embedded one, or a ``dialpad-nb sandbox`` served elsewhere); on a
        Dialpad account this raises :class:`~dialpad_nb.core.errors.SandboxOnly` saying what to use
        instead of each feature."""
        if not self.capabilities.control_api:
            raise self._sandbox_only()
        if self._control is None:
            self._control = SandboxControl(self.base_url, self._api_key.reveal(), transport=self._transport)
        return self._control

    def close(self) -> None:
        """Close the HTTP connection pool, and stop the embedded sandbox if this client started it."""
        self._http.close()
        if self._control is not None:
            self._control.close()
        if self._owns_sandbox and self.sandbox is not None:
            self.sandbox.stop()
            self._owns_sandbox = False

    def __enter__(self) -> DialpadClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ HTTP: the one seam

    def _send(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None):
        """One HTTP exchange with retries; every httpx exception is converted here and only here."""
        params = {k: v for k, v in (params or {}).items() if v is not None}
        self._check_may_send(method, path)  # a look-only client on an account: nothing that changes it
        if self._http.is_closed:
            raise TransportError(
                "this client is closed; make a new one (dialpad_nb.connect())",
                method=method,
                url=self.base_url + path,
            )
        attempt = 0
        endpoint = endpoint_key(method, path)
        while True:
            where = f"{self.base_url}{path}"
            retry_after: float | None = None
            try:
                request = self._http.build_request(method, path, params=params or None, json=json)
                where = strip_query(request.url)
                if self.pacing is not None:
                    wait = self.pacing.reserve(endpoint)
                    if wait > 0:
                        self._sleep(wait)
                response = self._http.send(request)
            except (httpx.InvalidURL, httpx.StreamError) as exc:  # not httpx.HTTPError subclasses
                raise TransportError(f"cannot send the request: {exc}", method=method, url=where) from None
            except httpx.HTTPError as exc:
                reason = transport_reason(exc)
                log.info("%s %s failed: %s (attempt %d)", method, where, reason, attempt + 1)
                cls = DialpadTimeout if isinstance(exc, httpx.TimeoutException) else TransportError
                error: Exception = cls(
                    f"cannot reach {self._target_name()} at {self.base_url}: {reason}",
                    method=method,
                    url=where,
                )
                connect_failed = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
                retryable = method == "GET" or (method == "DELETE" and connect_failed)
            else:
                log.info("%s %s -> %d", method, where, response.status_code)
                status = response.status_code
                if 200 <= status < 300:
                    return response
                if status < 400:
                    raise self._redirected(response, method, where)
                error = error_from_response(response, method=method, url=where, now_ms=self.clock.now_ms())
                if isinstance(error, RateLimited):
                    retry_after = error.retry_after_s
                # a 429 means the request was not acted on, so POST is safe to repeat too; a PATCH
                # 429 is (also) Dialpad's one-update-per-5-minutes answer: the PATCH guard's business
                retryable = (method == "GET" and status in RETRY_STATUSES) or (
                    method in ("DELETE", "POST") and status == 429
                )
            if not retryable or attempt >= self.max_retries:
                raise error from None
            delay = self.backoff_s * (2**attempt)
            if retry_after is not None:
                if retry_after > self.max_retry_wait_s:
                    raise error from None
                delay = max(delay, retry_after)
            attempt += 1
            if self.pacing is not None and retry_after is not None:
                self.pacing.hold(endpoint, delay)  # every call of this client waits, not just this one
            else:
                self._sleep(delay)

    def _redirected(self, response: httpx.Response, method: str, where: str) -> Redirected:
        """A 3xx is never followed (the key would travel with it, and a redirected write did not
        happen): the error names the status and where it pointed, without its query."""
        location = response.headers.get("location")
        shown = strip_query(str(response.url.join(location))) if location else None
        message = (
            f"{self._target_name()} answered a redirect to {shown}"
            if shown
            else f"{self._target_name()} answered a redirect"
        ) + (
            "; it was not followed (the API key would go with it) and nothing was changed by this call. "
            "Check base_url (https://, no trailing path)."
        )
        return Redirected(message, location=shown, status=response.status_code, method=method, url=where)

    def _target_name(self) -> str:
        if self.sandbox is not None or "sandbox" in self.label:
            return "the sandbox"
        host = urlsplit(self.base_url).hostname or ""
        return "Dialpad" if host.endswith("dialpad.com") else "the Dialpad API (or sandbox)"

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        response = self._send(method, path, **kw)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise MalformedResponse(
                "the answer is not JSON",
                field="body",
                status=response.status_code,
                method=method,
                url=strip_query(response.request.url),
            ) from None

    def _malformed(self, message: str, field: str | None, method: str, path: str) -> MalformedResponse:
        where = f" ({field})" if field else ""
        return MalformedResponse(
            f"unexpected answer{where}: {message}",
            field=field,
            status=200,
            method=method,
            url=f"{self.base_url}{path}",
        )

    def _parse(self, factory: Callable[[Any], Any], data: Any, method: str, path: str) -> Any:
        """``factory(data)``; any way the answer is not what the API documents is a
        :class:`MalformedResponse` naming the field (never a raw AttributeError/ValueError)."""
        if not isinstance(data, Mapping):
            raise self._malformed(f"expected an object, got {type(data).__name__}", "body", method, path)
        try:
            return factory(data)
        except ValidationError as exc:
            raise self._malformed(str(exc), exc.field, method, path) from None
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            field = exc.args[0] if isinstance(exc, KeyError) and exc.args else None
            raise self._malformed(f"{type(exc).__name__} reading it", field, method, path) from None

    def _router_from_api(self, data: Mapping[str, Any]) -> CallRouter:
        """A router from Dialpad's answer; its office and default target by name once the
        directory is loaded (:meth:`targets`; no extra request here)."""
        router = CallRouter.from_api(data)
        self._router_names[router.id] = router.name
        d = self._directory
        if d is None:
            return router
        return router.with_names(
            d.name_of(router.office_id, "office"),
            d.name_of(router.default_target_id, router.default_target_type),
        )

    def _iter_pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[Mapping[str, Any]]:
        """Every item of a cursor-paginated collection, following ``cursor`` until it is absent.

        Guarded against a server that never stops: a cursor seen before, or a page repeating the
        previous one, is a loop (:class:`MalformedResponse`); more than ``max_pages`` pages too."""
        params = dict(params or {})
        seen: set[str] = set()
        previous: list[Any] | None = None
        for _page in range(self.max_pages):
            data = self._json("GET", path, params=params)
            if not isinstance(data, Mapping):
                raise self._malformed("expected a collection object", "body", "GET", path)
            items = data.get("items")
            if items is None:
                items = []
            if not isinstance(items, list):
                raise self._malformed(f"expected a list, got {type(items).__name__}", "items", "GET", path)
            cursor = data.get("cursor")
            if cursor is not None and not isinstance(cursor, str):
                raise self._malformed(f"expected text, got {type(cursor).__name__}", "cursor", "GET", path)
            if cursor and items and items == previous:
                raise self._malformed(
                    "the same page came back under a new cursor; stopping", "cursor", "GET", path
                )
            yield from items
            if not cursor:
                return
            if cursor in seen:
                raise self._malformed(
                    "the API returned the same page cursor twice; stopping", "cursor", "GET", path
                )
            seen.add(cursor)
            previous = items
            params["cursor"] = cursor
        raise self._malformed(
            f"more than {self.max_pages} pages (max_pages); stopping rather than paging for ever",
            "cursor",
            "GET",
            path,
        )

    # ------------------------------------------------------------------ routers

    def iter_routers(self, office_id: int | str | None = None) -> Iterator[CallRouter]:
        """Every call router (all pages), optionally of one office."""
        office = None if office_id is None else parse_id(office_id, field="office_id")
        for item in self._iter_pages(f"{API}/callrouters", {"office_id": office}):
            yield self._parse(self._router_from_api, item, "GET", f"{API}/callrouters")

    def list_routers(self, office_id: int | str | None = None) -> list[CallRouter]:
        return list(self.iter_routers(office_id))

    def get_router(self, router_id: int | str) -> CallRouter:
        rid = parse_id(router_id, field="router_id")
        path = f"{API}/callrouters/{rid}"
        return self._parse(self._router_from_api, self._json("GET", path), "GET", path)

    def create_router(
        self,
        *,
        name: str,
        routing_url: str,
        office_id: int | str | None = None,
        default_target_id: int | str | None = None,
        default_target_type: str | None = None,
        default_target: str | int | DirectoryEntry | None = None,
        secret: str | None = None,
        enabled: bool = True,
    ) -> CallRouter:
        """Create a router. Give the default target either as ``default_target_id`` +
        ``default_target_type`` or by name/id as ``default_target`` (looked up in the
        directory; its office is used when ``office_id`` is not given)."""
        body: dict[str, Any] = {"name": self._check_name(name), "routing_url": validate_url(routing_url)}
        target_id, target_type, target_office = self._check_target(
            default_target, default_target_id, default_target_type, required=True
        )
        if office_id is None:
            office_id = target_office
        if office_id is None:
            raise ValidationError("is required", field="office_id")
        body["office_id"] = parse_id(office_id, field="office_id")
        body["default_target_id"] = target_id
        body["default_target_type"] = target_type
        if secret is not None:
            body["secret"] = validate_secret(secret)
        body["enabled"] = self._check_bool(enabled, "enabled")
        path = f"{API}/callrouters"
        return self._parse(self._router_from_api, self._json("POST", path, json=body), "POST", path)

    def update_router(
        self,
        router_id: int | str,
        *,
        name: str = UNSET,
        routing_url: str = UNSET,
        office_id: int | str = UNSET,
        default_target_id: int | str = UNSET,
        default_target_type: str = UNSET,
        default_target: str | int | DirectoryEntry = UNSET,
        secret: str = UNSET,
        enabled: bool = UNSET,
        reset_error_count: bool = False,
        override_patch_guard: bool = False,
    ) -> CallRouter:
        """Change some of a router's fields in ONE ``PATCH`` (only the fields given are sent).

        Dialpad allows one update per router per ``policy.patch_interval_s``: put
        everything (say a new ``routing_url`` *and* ``enabled=True`` *and*
        ``reset_error_count=True``) in one call. A second update inside the window
        raises :class:`PatchGuardError` unless ``override_patch_guard=True``."""
        rid = parse_id(router_id, field="router_id")
        body: dict[str, Any] = {}
        if name is not UNSET:
            body["name"] = self._check_name(name)
        if routing_url is not UNSET:
            body["routing_url"] = validate_url(routing_url)
        if office_id is not UNSET:
            body["office_id"] = parse_id(office_id, field="office_id")
        given_target = default_target is not UNSET
        if given_target or default_target_id is not UNSET or default_target_type is not UNSET:
            tid, ttype, _ = self._check_target(
                default_target if given_target else None,
                None if default_target_id is UNSET else default_target_id,
                None if default_target_type is UNSET else default_target_type,
                required=False,
            )
            if tid is not None:
                body["default_target_id"] = tid
            if ttype is not None:
                body["default_target_type"] = ttype
        if secret is not UNSET:
            body["secret"] = validate_secret(secret)
        if enabled is not UNSET:
            body["enabled"] = self._check_bool(enabled, "enabled")
        if self._check_bool(reset_error_count, "reset_error_count"):
            body["reset_error_count"] = True
        if not body:
            raise ValidationError("nothing to update: give at least one field to change", field="changes")
        if not override_patch_guard:
            self._guard(rid, body)
        path = f"{API}/callrouters/{rid}"
        try:
            data = self._json("PATCH", path, json=body)
        except RateLimited as exc:
            self._learn_retry_after(rid, exc.retry_after_s)
            raise
        router = self._parse(self._router_from_api, data, "PATCH", path)
        now = self.clock.now_ms()
        self._last_update[rid] = (now, frozenset(body))
        self._next_update_ms[rid] = now + self.policy.patch_interval_ms
        return router

    def enable_router(
        self, router_id: int | str, *, reset_error_count: bool = False, override_patch_guard: bool = False
    ) -> CallRouter:
        """Re-enable a router. Without ``reset_error_count`` it keeps its errors of the past hour,
        so the next error may disable it again."""
        return self.update_router(
            router_id,
            enabled=True,
            reset_error_count=reset_error_count,
            override_patch_guard=override_patch_guard,
        )

    def disable_router(self, router_id: int | str, *, override_patch_guard: bool = False) -> CallRouter:
        """Disable a router: calls go straight to its default target."""
        return self.update_router(router_id, enabled=False, override_patch_guard=override_patch_guard)

    def delete_router(self, router_id: int | str) -> None:
        """Delete a router at once; its numbers go back to the company's reserved pool."""
        rid = parse_id(router_id, field="router_id")
        self._send("DELETE", f"{API}/callrouters/{rid}")
        self._next_update_ms.pop(rid, None)
        self._last_update.pop(rid, None)

    def assign_number(
        self,
        router_id: int | str,
        *,
        area_code: str | int | None = None,
        number: str | None = None,
        primary: bool = True,
    ) -> Number:
        """Give a router a number: from the reserved pool first, else a new one in ``area_code``."""
        rid = parse_id(router_id, field="router_id")
        body: dict[str, Any] = {}
        if area_code is not None:
            code = str(area_code).strip()
            if not code.isdigit() or not 1 <= len(code) <= 5:
                raise ValidationError(
                    f"{area_code!r} is not an area code (1-5 digits, e.g. '415')", field="area_code"
                )
            body["area_code"] = code
        if number is not None:
            body["number"] = self._check_number(number)
        body["primary"] = self._check_bool(primary, "primary")
        path = f"{API}/callrouters/{rid}/assign_number"
        return self._parse(Number.from_api, self._json("POST", path, json=body), "POST", path)

    # ------------------------------------------------------------------ numbers

    def iter_numbers(self, status: str | None = None) -> Iterator[Number]:
        if status is not None and status not in NUMBER_STATUSES:
            raise ValidationError(
                f"{status!r} is not a number status; expected one of {', '.join(NUMBER_STATUSES)}",
                field="status",
            )
        for item in self._iter_pages(f"{API}/numbers", {"status": status}):
            yield self._parse(Number.from_api, item, "GET", f"{API}/numbers")

    def list_numbers(self, status: str | None = None) -> list[Number]:
        return list(self.iter_numbers(status))

    def get_number(self, number: str) -> Number:
        path = f"{API}/numbers/{self._check_number(number)}"
        return self._parse(Number.from_api, self._json("GET", path), "GET", path)

    def unassign_number(self, number: str) -> Number:
        """Take a number off its target; it goes back to the company's reserved pool."""
        path = f"{API}/numbers/{self._check_number(number)}"
        return self._parse(Number.from_api, self._json("DELETE", path), "DELETE", path)

    # ------------------------------------------------------------------ directory

    def list_offices(self) -> list[Office]:
        return [
            self._parse(Office.from_api, o, "GET", f"{API}/offices")
            for o in self._iter_pages(f"{API}/offices")
        ]

    def get_office(self, office_id: int | str) -> Office:
        path = f"{API}/offices/{parse_id(office_id, field='office_id')}"
        return self._parse(Office.from_api, self._json("GET", path), "GET", path)

    def _list_directory(
        self, kind: str, path: str, office_id: int | str | None, send_office: bool
    ) -> list[DirectoryEntry]:
        office = None if office_id is None else parse_id(office_id, field="office_id")
        params = {"office_id": office} if send_office else {}
        out = []

        def entry_of(data: Mapping[str, Any]) -> DirectoryEntry:
            return DirectoryEntry.from_api(kind, data)

        for item in self._iter_pages(f"{API}/{path}", params):
            entry = self._parse(entry_of, item, "GET", f"{API}/{path}")
            if office is None or entry.office_id == office:
                out.append(entry)
        return out

    def list_users(self, office_id: int | str | None = None) -> list[DirectoryEntry]:
        # Dialpad's user list has no office filter: filter here.
        return self._list_directory("user", "users", office_id, send_office=False)

    def list_departments(self, office_id: int | str | None = None) -> list[DirectoryEntry]:
        return self._list_directory("department", "departments", office_id, send_office=True)

    def list_callcenters(self, office_id: int | str | None = None) -> list[DirectoryEntry]:
        return self._list_directory("callcenter", "callcenters", office_id, send_office=True)

    def targets(self, *, refresh: bool = False) -> Directory:
        """The company directory of routable targets, with names (cached; ``refresh=True`` re-reads)."""
        if self._directory is None or refresh:
            offices = [
                DirectoryEntry(id=o.id, type="office", name=o.name, office_id=o.id, email=o.admin_email)
                for o in self.list_offices()
            ]
            self._directory = Directory(
                tuple(offices + self.list_departments() + self.list_callcenters() + self.list_users())
            )
        return self._directory

    def describe_router(self, router: CallRouter | int | str) -> RouterDescription:
        """A router (or the router with this id, read fresh) for display, with its office and
        default target by name from :meth:`targets`."""
        if not isinstance(router, CallRouter):
            router = self.get_router(router)
        return self.targets().describe(router)

    def resolve_target(
        self, name_or_id: str | int | DirectoryEntry, target_type: str | None = None
    ) -> DirectoryEntry:
        """The directory entry for a target given by name (case-insensitive) or id."""
        return self.targets().resolve(name_or_id, target_type)

    # ------------------------------------------------------------------ PATCH guard

    def next_update_allowed(self, router_id: int | str) -> int | None:
        """When (ms since epoch) the next update of this router is allowed, or None if now."""
        rid = parse_id(router_id, field="router_id")
        next_ms = self._next_update_ms.get(rid)
        if next_ms is None or self.clock.now_ms() >= next_ms:
            return None
        return next_ms

    def _learn_retry_after(self, rid: int, retry_after_s: float | None) -> None:
        seconds = self.policy.patch_interval_s if retry_after_s is None else retry_after_s
        until = self.clock.now_ms() + round(seconds * 1000)
        self._next_update_ms[rid] = max(self._next_update_ms.get(rid, 0), until)

    def _guard(self, rid: int, body: Mapping[str, Any]) -> None:
        next_ms = self.next_update_allowed(rid)
        if next_ms is None:
            return
        now = self.clock.now_ms()
        interval = _fmt_duration(self.policy.patch_interval_s)
        last = self._last_update.get(rid)
        who = repr(self._router_names[rid]) if rid in self._router_names else rid
        if last is not None:
            why = f"router {who} was last updated at {format_time(last[0])}; "
        else:
            why = f"Dialpad refused an update of router {who} (429) and asked to wait; "
        message = (
            f"{why}Dialpad allows one update per router every {interval}, so the next is allowed at "
            f"{format_time(next_ms)} (in {_fmt_duration((next_ms - now) / 1000)}). Nothing was sent."
        )
        hint = "Pass override_patch_guard=True to send anyway (Dialpad will answer 429)."
        if body.get("enabled") is True and last is not None and "routing_url" in last[1]:
            message += (
                " Lockout trap: the last update changed routing_url, and the re-enable has to wait. "
                "Next time combine the URL change and the re-enable in one update."
            )
            hint += (
                " In one update: update_router(id, routing_url=..., enabled=True, reset_error_count=True)."
            )
        raise PatchGuardError(message, router_id=rid, next_allowed=ms_to_datetime(next_ms), code_hint=hint)

    # ------------------------------------------------------------------ validation helpers

    @staticmethod
    def _check_name(name: Any) -> str:
        return validate_name(name)

    @staticmethod
    def _check_bool(value: Any, field: str) -> bool:
        if not isinstance(value, bool):
            raise ValidationError(f"must be True or False, got {value!r}", field=field)
        return value

    @staticmethod
    def _check_number(number: Any) -> str:
        if isinstance(number, str):
            normal = normalize_e164(number)
            if normal is not None:
                return normal
        return validate_e164(number, field="number")

    def _check_target(
        self, target: Any, target_id: Any, target_type: Any, *, required: bool
    ) -> tuple[int | None, str | None, int | None]:
        """(id, type, office) of the default target, from a name/id or an explicit id + type."""
        if target is not None:
            if target_id is not None:
                raise ValidationError(
                    "give either default_target or default_target_id, not both", field="default_target"
                )
            entry = self.resolve_target(target, target_type)
            return entry.id, entry.type, entry.office_id
        if target_id is None and required:
            raise ValidationError("is required (or give default_target by name)", field="default_target_id")
        if target_type is None and required:
            raise ValidationError("is required", field="default_target_type")
        tid = None if target_id is None else parse_id(target_id, field="default_target_id")
        ttype = None if target_type is None else validate_target_type(target_type)
        return tid, ttype, None
