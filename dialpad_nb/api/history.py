"""The client's call history and call events: ``call.list`` as a typed DataFrame, ``get_call``,
webhooks and call-event subscriptions. :class:`DialpadClient` has these methods (it inherits
:class:`HistoryAPI`); they use its one HTTP seam (``_send``), so errors are the package's tree.

::

    calls = client.calls(router, since=timedelta(days=3))   # tqdm bar; one row per call
    calls[["date_started", "router_name", "target_name", "response_error"]]
    hook = client.create_webhook("https://ops.example/events", secret=SECRET)
    client.create_call_subscription(hook, call_states=["hangup"], router=router)

Paging ``call.list``:

* pages follow ``cursor``; each request is paced to Dialpad's limit
  (``policy.RATE_LIMITS_PER_MIN["call.list"]``, a sliding minute; ``get_call`` has its own);
* a page that breaks (5xx, timeout, a connection lost, a body that is not JSON) is asked
  again ``page_retries`` times (after ``_send``'s own retries of 502/503/504 and timeouts);
  if it still fails after at least one page was read,
  :class:`~dialpad_nb.core.errors.IncompleteRead` says how many pages and calls were read,
  keeps them as ``partial`` (the same frame a complete read returns) and the failing page's
  ``cursor`` (``client.calls(..., cursor=exc.cursor)`` resumes); a first page that fails
  raises its own error (``TransportError``, ``ServerError``, ``Unauthorized``, ...);
* no record is dropped: one that cannot be flattened keeps its ``raw`` text with the
  flattened columns empty (``read_calls`` then rejects it with a reason).

The frame (:data:`CALL_HISTORY_DTYPES`) has one row per call: the call's times and numbers,
the router it came in through and the target it reached, by id and by name, the first
routing breadcrumb flattened (``routing_url``, ``response_error``, ``response_status``,
``latency_ms``, ``routed_target_*``), and ``raw``, the record as Dialpad sent it (JSON).
``frame.attrs`` records what produced it (``source``, ``label``, filters, ``pages``).
"""

from __future__ import annotations

import json
import numbers
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ..core.clock import Clock, format_time, to_ms
from ..core.errors import (
    APIError,
    IncompleteRead,
    MalformedResponse,
    ServerError,
    TransportError,
    ValidationError,
)
from ..core.history import EVENT_STATES
from ..core.models import (
    REDACTED,
    CallRouter,
    DirectoryEntry,
    parse_id,
    validate_target_type,
    validate_url,
)
from ..core.policy import RATE_LIMITS_PER_MIN

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "CALL_HISTORY_COLUMNS",
    "CALL_HISTORY_DTYPES",
    "CallSubscription",
    "HistoryAPI",
    "RequestPacer",
    "Webhook",
    "call_history_frame",
]

API = "/api/v2"

CALL_HISTORY_DTYPES: dict[str, str] = {
    "call_id": "Int64",
    "date_started": "datetime64[ms, UTC]",
    "date_ended": "datetime64[ms, UTC]",
    "duration_s": "float64",
    "state": "string",
    "direction": "string",
    "external_number": "string",
    "internal_number": "string",
    "router_id": "Int64",
    "router_name": "string",
    "entry_point_type": "string",
    "target_id": "Int64",
    "target_type": "string",
    "target_name": "string",
    "requested": "boolean",
    "routing_url": "string",
    "routed_target_id": "Int64",
    "routed_target_type": "string",
    "response_error": "string",
    "response_status": "Int64",
    "latency_ms": "float64",
    "breadcrumbs": "Int64",
    "raw": "string",
}
"""Columns of :meth:`HistoryAPI.calls` (one row per call). ``router_*`` is the entry point when
it is a router; ``target_*`` where the call ended up; ``requested`` whether a routing
request was made (a breadcrumb exists); ``routed_target_*``, ``response_*``, ``latency_ms``,
``routing_url`` come from the first call-router breadcrumb; ``duration_s`` is talk time."""

CALL_HISTORY_COLUMNS: tuple[str, ...] = tuple(CALL_HISTORY_DTYPES)

_RETRYABLE_PAGE_ERRORS = (ServerError, TransportError)


# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class Webhook:
    """A webhook (``WebhookProto``): where call events are POSTed. The secret never shows."""

    id: int
    hook_url: str
    secret: str | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Webhook:
        signature = data.get("signature") or {}
        return cls(
            id=parse_id(data.get("id"), field="id"),
            hook_url=data.get("hook_url") or "",
            secret=signature.get("secret") or None,
        )

    @property
    def signed(self) -> bool:
        return bool(self.secret)

    def __repr__(self) -> str:
        signed = f", secret={REDACTED!r}" if self.secret else ""
        return f"Webhook(id={self.id}, hook_url={self.hook_url!r}{signed})"

    __str__ = __repr__


@dataclass(frozen=True)
class CallSubscription:
    """A call-event subscription (``CallEventSubscriptionProto``)."""

    id: int
    call_states: tuple[str, ...]
    webhook: Webhook | None
    enabled: bool = True
    group_calls_only: bool = False
    target_id: int | None = None
    target_type: str | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> CallSubscription:
        hook = data.get("webhook")
        tid = data.get("target_id")
        return cls(
            id=parse_id(data.get("id"), field="id"),
            call_states=tuple(data.get("call_states") or ()),
            webhook=Webhook.from_api(hook) if isinstance(hook, Mapping) and hook.get("id") else None,
            enabled=bool(data.get("enabled", True)),
            group_calls_only=bool(data.get("group_calls_only", False)),
            target_id=None if tid in (None, "") else parse_id(tid, field="target_id"),
            target_type=data.get("target_type") or None,
        )


# --------------------------------------------------------------------------- pacing


class RequestPacer:
    """At most ``per_minute`` requests in any sliding 60 s: :meth:`wait` sleeps (with the
    injected ``sleep``) only when the next request would exceed it."""

    def __init__(
        self,
        per_minute: int,
        *,
        timer: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_minute < 1:
            raise ValidationError(f"must be >= 1, got {per_minute!r}", field="per_minute")
        self.per_minute = per_minute
        self._timer = timer
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self.waited_s = 0.0
        """Total time spent waiting for the limit."""

    def wait(self) -> None:
        now = self._timer()
        while self._sent and self._sent[0] <= now - 60.0:
            self._sent.popleft()
        if len(self._sent) >= self.per_minute:
            delay = self._sent[0] + 60.0 - now
            if delay > 0:
                self._sleep(delay)
                self.waited_s += delay
            now = self._timer()
            while self._sent and self._sent[0] <= now - 60.0:
                self._sent.popleft()
            if len(self._sent) >= self.per_minute:  # a sleep that did not advance the timer (tests)
                self._sent.popleft()
        self._sent.append(now)


# --------------------------------------------------------------------------- the frame


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _flat(record: Any) -> dict[str, Any]:
    """One call record as a flat row (tolerant: what cannot be read stays empty)."""
    row: dict[str, Any] = {"raw": json.dumps(record, separators=(",", ":"), ensure_ascii=False, default=str)}
    if not isinstance(record, Mapping):
        return row
    row["call_id"] = _int(record.get("call_id"))
    row["date_started"] = _int(record.get("date_started"))
    row["date_ended"] = _int(record.get("date_ended"))
    duration = record.get("duration")
    row["duration_s"] = (
        duration / 1000 if isinstance(duration, (int, float)) and not isinstance(duration, bool) else None
    )
    for key in ("state", "direction", "external_number", "internal_number"):
        row[key] = _text(record.get(key))
    entry = record.get("entry_point_target")
    if isinstance(entry, Mapping):
        row["entry_point_type"] = _text(entry.get("type"))
        if entry.get("type") == "callrouter":
            row["router_id"] = _int(entry.get("id"))
            row["router_name"] = _text(entry.get("name"))
    target = record.get("target")
    if isinstance(target, Mapping):
        row["target_id"] = _int(target.get("id"))
        row["target_type"] = _text(target.get("type"))
        row["target_name"] = _text(target.get("name"))
    crumbs = record.get("routing_breadcrumbs")
    crumbs = crumbs if isinstance(crumbs, list) else []
    row["breadcrumbs"] = len(crumbs)
    crumb = next(
        (c for c in crumbs if isinstance(c, Mapping) and c.get("breadcrumb_type") in (None, "callrouter")),
        None,
    )
    row["requested"] = crumb is not None
    if crumb is not None:
        row["routing_url"] = _text(crumb.get("url"))
        row["routed_target_id"] = _int(crumb.get("target_id"))
        row["routed_target_type"] = _text(crumb.get("target_type"))
        response = crumb.get("response")
        if isinstance(response, Mapping) and response.get("error") is not None:
            row["response_error"] = str(response.get("error"))
            row["response_status"] = _int(response.get("status"))
            latency = response.get("latency_ms")
            if isinstance(latency, (int, float)) and not isinstance(latency, bool):
                row["latency_ms"] = float(latency)
    return row


def call_history_frame(records: Iterable[Any], **attrs: Any) -> pd.DataFrame:
    """Call records (``CallProto`` dicts) as the typed frame of :meth:`HistoryAPI.calls`
    (:data:`CALL_HISTORY_DTYPES`), in the order given; ``attrs`` go to ``frame.attrs``."""
    import numpy as np
    import pandas as pd

    rows = [_flat(r) for r in records]
    cols: dict[str, Any] = {}
    dtype: Any
    for name, dtype in CALL_HISTORY_DTYPES.items():
        values = [r.get(name) for r in rows]
        if dtype.startswith("datetime64"):
            ms = pd.array(values, dtype="Int64").to_numpy(dtype="int64", na_value=np.iinfo(np.int64).min)
            cols[name] = pd.Series(ms.astype("datetime64[ms]")).dt.tz_localize("UTC")
        elif dtype == "float64":
            cols[name] = pd.Series([np.nan if v is None else v for v in values], dtype="float64")
        else:
            cols[name] = pd.Series(values, dtype=object).astype(dtype)
    frame = pd.DataFrame(cols, columns=list(CALL_HISTORY_COLUMNS))
    frame.attrs.update(attrs)
    return frame


# --------------------------------------------------------------------------- the methods


class HistoryAPI:
    """Call history, webhooks and call-event subscriptions; mixed into :class:`DialpadClient`."""

    if TYPE_CHECKING:  # provided by DialpadClient
        base_url: str
        label: str
        clock: Clock
        _sleep: Callable[[float], None]

        def _json(self, method: str, path: str, **kw: Any) -> Any: ...
        def _parse(self, factory: Callable[[Any], Any], data: Any, method: str, path: str) -> Any: ...
        def _iter_pages(
            self, path: str, params: Mapping[str, Any] | None = None
        ) -> Iterator[Mapping[str, Any]]: ...
        def list_routers(self, office_id: int | str | None = None) -> list[CallRouter]: ...
        def find_router(self, router: Any = None, *, required: bool = False) -> CallRouter | None: ...

    def _pacer(self, operation: str) -> RequestPacer:
        pacers: dict[str, RequestPacer] = self.__dict__.setdefault("_pacers", {})
        if operation not in pacers:
            pacers[operation] = RequestPacer(RATE_LIMITS_PER_MIN[operation], sleep=self._sleep)
        return pacers[operation]

    # ------------------------------------------------------------------ call history

    def _router_id(self, router: Any) -> tuple[int, str | None]:
        """``(id, name or None)`` of a router given as a CallRouter, an id, or a name."""
        if isinstance(router, CallRouter):
            return router.id, router.name
        router = _plain_int(router)
        if isinstance(router, int) or (isinstance(router, str) and router.strip().isdigit()):
            return parse_id(router, field="router"), None
        if isinstance(router, str) and router.strip():  # a name no router has: the error lists the names
            found = self.find_router(router)
            assert found is not None  # a name is found or raises
            return found.id, found.name
        raise ValidationError(f"{router!r} is not a router, a router id or a router name", field="router")

    def _target_filter(self, router: Any, target: Any) -> tuple[dict[str, Any], str | None]:
        """``{"target_id", "target_type"}`` for a router (a CallRouter, id or name) or a target
        (a DirectoryEntry or ``(id, type)``), or ``{}`` for neither; and the router's name if known."""
        if router is not None and target is not None:
            raise ValidationError("give router or target, not both", field="target")
        if router is not None:
            router_id, router_name = self._router_id(router)
            return {"target_id": router_id, "target_type": "callrouter"}, router_name
        if target is not None:
            tid, ttype = (target.id, target.type) if isinstance(target, DirectoryEntry) else target
            return {
                "target_id": parse_id(tid, field="target"),
                "target_type": validate_target_type(ttype, field="target_type"),
            }, None
        return {}, None

    def _window(self, since: Any, until: Any) -> tuple[int | None, int | None]:
        now = self.clock.now_ms()
        out: list[int | None] = []
        for name, value in (("since", since), ("until", until)):
            if value is None:
                out.append(None)
            elif isinstance(value, timedelta):
                out.append(now - round(value.total_seconds() * 1000))
            else:
                out.append(to_ms(value, field=name))
        start, end = out
        if start is not None and end is not None and start >= end:
            raise ValidationError(
                f"since ({format_time(start)}) must be before until ({format_time(end)})", field="since"
            )
        return start, end

    def calls(
        self,
        router: Any = None,
        *,
        since: Any = None,
        until: Any = None,
        target: DirectoryEntry | tuple[int, str] | None = None,
        cursor: str | None = None,
        progress: bool = True,
        page_retries: int = 2,
    ) -> pd.DataFrame:
        """Dialpad's call history (``call.list``) as a typed frame, most recent first.

        ``router``: a :class:`CallRouter`, its id or its name (every call that came in through
        it); or ``target``: a directory entry or ``(id, type)`` (calls that ended there).
        ``since`` (inclusive) / ``until`` (exclusive): a time (``to_ms``: datetime, ISO text, ms)
        or a ``timedelta`` back from the client clock's now. ``progress`` shows a tqdm bar.
        See the module docstring for pacing, retries and :class:`IncompleteRead`."""
        params, router_name = self._target_filter(router, target)
        start, end = self._window(since, until)
        if start is not None:
            params["started_after"] = start - 1  # Dialpad's bound is exclusive; since is inclusive
        if end is not None:
            params["started_before"] = end
        attrs = {
            "source": "call.list",
            "label": self.label,
            "router_id": params.get("target_id") if router is not None else None,
            "router_name": router_name,
            "target": None if target is None else (params["target_id"], params["target_type"]),
            "since": start,
            "until": end,
        }
        records: list[Any] = []
        pages = 0
        from tqdm.auto import tqdm

        what = f" {router_name or params.get('target_id')}" if params.get("target_id") else ""
        bar = tqdm(desc=f"call.list{what}", unit=" calls", disable=not progress, leave=True)
        try:
            for items, next_cursor in self._call_pages(params, cursor, page_retries, records, attrs):
                records.extend(items)
                pages += 1
                bar.update(len(items))
                attrs["pages"] = pages
                cursor = next_cursor
        finally:
            bar.close()
        attrs["pages"] = pages
        return call_history_frame(records, **attrs)

    def _call_pages(
        self,
        params: dict[str, Any],
        cursor: str | None,
        page_retries: int,
        records: list[Any],
        attrs: dict[str, Any],
    ) -> Iterator[tuple[list[Any], str | None]]:
        path = f"{API}/call"
        pages = 0
        seen: set[str] = set()
        while True:
            query = dict(params)
            if cursor:
                query["cursor"] = cursor
            failures = 0
            while True:
                try:
                    self._pacer("call.list").wait()
                    data = self._json("GET", path, params=query)
                    if not isinstance(data, Mapping) or not isinstance(data.get("items") or [], list):
                        raise APIError(
                            "the page is not a call collection",
                            status=200,
                            method="GET",
                            url=self.base_url + path,
                        )
                    break
                except (APIError, TransportError) as exc:
                    # a break: 5xx, no answer, or a 2xx whose body is not a call collection
                    broken = isinstance(exc, (*_RETRYABLE_PAGE_ERRORS, MalformedResponse)) or (
                        type(exc) is APIError and getattr(exc, "status", 0) == 200
                    )
                    if broken and failures < page_retries:
                        failures += 1
                        self._sleep(min(30.0, 0.5 * 2 ** (failures - 1)))
                        continue
                    if pages == 0:
                        raise  # nothing read yet: the error itself (cannot reach, wrong key, bad filter)
                    attrs["pages"] = pages
                    partial = call_history_frame(records, **attrs, incomplete=True)
                    tries = f" (tried {failures + 1} times)" if broken else ""
                    raise IncompleteRead(
                        f"call.list stopped after {pages} page(s), {len(records):,} call(s): page {pages + 1}"
                        f"{tries} failed: {exc}. What was read is on this error as .partial; "
                        "pass cursor=<this error>.cursor to continue from the failed page.",
                        partial=partial,
                        pages=pages,
                        records=len(records),
                        cursor=cursor,
                        cause=exc,
                    ) from exc
            pages += 1
            next_cursor = data.get("cursor") or None
            yield list(data.get("items") or ()), next_cursor
            if not next_cursor:
                return
            if next_cursor in seen:
                raise APIError(
                    "the API returned the same page cursor twice; stopping",
                    status=200,
                    method="GET",
                    url=self.base_url + path,
                )
            seen.add(next_cursor)
            cursor = next_cursor

    def get_call(self, call_id: int | str) -> dict[str, Any]:
        """One call (``call.get_call_info``, paced to its 10 per minute) as Dialpad sends it."""
        cid = parse_id(_plain_int(call_id), field="call_id")
        path = f"{API}/call/{cid}"
        self._pacer("call.get_call_info").wait()
        return self._parse(dict, self._json("GET", path), "GET", path)

    # ------------------------------------------------------------------ webhooks

    def create_webhook(self, hook_url: str, *, secret: str | None = None) -> Webhook:
        """A webhook for call events; with ``secret`` Dialpad signs each event (HS256 JWT)."""
        body: dict[str, Any] = {"hook_url": validate_url(hook_url, field="hook_url")}
        if secret is not None:
            body["secret"] = _check_secret(secret)
        path = f"{API}/webhooks"
        return self._parse(Webhook.from_api, self._json("POST", path, json=body), "POST", path)

    def list_webhooks(self) -> list[Webhook]:
        path = f"{API}/webhooks"
        return [self._parse(Webhook.from_api, w, "GET", path) for w in self._iter_pages(path)]

    def get_webhook(self, webhook: Webhook | int | str) -> Webhook:
        path = f"{API}/webhooks/{_id_of(webhook, 'webhook')}"
        return self._parse(Webhook.from_api, self._json("GET", path), "GET", path)

    def update_webhook(
        self, webhook: Webhook | int | str, *, hook_url: str | None = None, secret: str | None = None
    ) -> Webhook:
        """Change the URL and/or the secret (``secret=""`` removes it: events are then sent unsigned)."""
        body: dict[str, Any] = {}
        if hook_url is not None:
            body["hook_url"] = validate_url(hook_url, field="hook_url")
        if secret is not None:
            body["secret"] = "" if secret == "" else _check_secret(secret)
        if not body:
            raise ValidationError("nothing to update: give hook_url and/or secret", field="changes")
        path = f"{API}/webhooks/{_id_of(webhook, 'webhook')}"
        return self._parse(Webhook.from_api, self._json("PATCH", path, json=body), "PATCH", path)

    def delete_webhook(self, webhook: Webhook | int | str) -> None:
        self._json("DELETE", f"{API}/webhooks/{_id_of(webhook, 'webhook')}")

    # ------------------------------------------------------------------ call-event subscriptions

    def _subscription_body(
        self,
        *,
        webhook: Any,
        call_states: Sequence[str] | None,
        router: Any,
        target: Any,
        enabled: bool | None,
        group_calls_only: bool | None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if webhook is not None:
            body["endpoint_id"] = _id_of(webhook, "webhook")
        if call_states is not None:
            states = [call_states] if isinstance(call_states, str) else list(call_states)
            bad = [s for s in states if s not in EVENT_STATES]
            if not states or bad:
                raise ValidationError(
                    f"{bad or states!r}: give Dialpad call states such as 'calling', 'ringing', 'connected', "
                    "'hangup' or 'all'",
                    field="call_states",
                )
            body["call_states"] = states
        body.update(self._target_filter(router, target)[0])
        for name, value in (("enabled", enabled), ("group_calls_only", group_calls_only)):
            if value is not None:
                if not isinstance(value, bool):
                    raise ValidationError(f"must be True or False, got {value!r}", field=name)
                body[name] = value
        return body

    def create_call_subscription(
        self,
        webhook: Webhook | int | str,
        *,
        call_states: Sequence[str] = ("hangup",),
        router: Any = None,
        target: DirectoryEntry | tuple[int, str] | None = None,
        enabled: bool = True,
        group_calls_only: bool = False,
    ) -> CallSubscription:
        """Send call events in ``call_states`` to ``webhook``: every call's, or only those that
        came in through ``router`` (or reached ``target``)."""
        body = self._subscription_body(
            webhook=webhook,
            call_states=call_states,
            router=router,
            target=target,
            enabled=enabled,
            group_calls_only=group_calls_only,
        )
        path = f"{API}/subscriptions/call"
        return self._parse(CallSubscription.from_api, self._json("POST", path, json=body), "POST", path)

    def list_call_subscriptions(self, router: Any = None) -> list[CallSubscription]:
        """Every call-event subscription (of one router, if given)."""
        params = None
        if router is not None:
            params = {"target_type": "callrouter", "target_id": self._router_id(router)[0]}
        path = f"{API}/subscriptions/call"
        return [
            self._parse(CallSubscription.from_api, s, "GET", path) for s in self._iter_pages(path, params)
        ]

    def get_call_subscription(self, subscription: CallSubscription | int | str) -> CallSubscription:
        path = f"{API}/subscriptions/call/{_id_of(subscription, 'subscription')}"
        return self._parse(CallSubscription.from_api, self._json("GET", path), "GET", path)

    def update_call_subscription(
        self,
        subscription: CallSubscription | int | str,
        *,
        webhook: Webhook | int | str | None = None,
        call_states: Sequence[str] | None = None,
        router: Any = None,
        target: DirectoryEntry | tuple[int, str] | None = None,
        enabled: bool | None = None,
        group_calls_only: bool | None = None,
    ) -> CallSubscription:
        """Change some of a subscription's fields (only those given are sent)."""
        body = self._subscription_body(
            webhook=webhook,
            call_states=call_states,
            router=router,
            target=target,
            enabled=enabled,
            group_calls_only=group_calls_only,
        )
        if not body:
            raise ValidationError("nothing to update: give at least one field", field="changes")
        path = f"{API}/subscriptions/call/{_id_of(subscription, 'subscription')}"
        return self._parse(CallSubscription.from_api, self._json("PATCH", path, json=body), "PATCH", path)

    def delete_call_subscription(self, subscription: CallSubscription | int | str) -> None:
        self._json("DELETE", f"{API}/subscriptions/call/{_id_of(subscription, 'subscription')}")


def _id_of(obj: Any, what: str) -> int:
    if isinstance(obj, (Webhook, CallSubscription)):
        return obj.id
    return parse_id(_plain_int(obj), field=what)


def _plain_int(value: Any) -> Any:
    """A numpy/pandas integer (an id taken from a frame) as a Python int; anything else as given."""
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, int)):
        return int(value)
    return value


def _check_secret(secret: Any) -> str:
    if not isinstance(secret, str) or not secret:
        raise ValidationError("must be non-empty text", field="secret")
    if "\n" in secret or "\r" in secret:
        raise ValidationError("must be a single line", field="secret")
    return secret
