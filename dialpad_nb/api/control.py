"""Python wrapper of the sandbox's control API (``/sandbox/v1``): calls, attempts, outbox, clock,
call-event deliveries.

::

    control = sandbox_control(server)          # or SandboxControl(url, api_key)
    control.place_call("+14155551001", "+14155550123")
    control.advance(600)
    control.attempts()                          # a DataFrame, every page

Errors are :mod:`dialpad_nb.core.errors` exceptions (``BadRequest`` naming the field,
``NotFound``, ``Unauthorized``, ``TransportError``...). The API key travels only
in the ``Authorization`` header and never appears in a repr or an exception.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx

from ..core.clock import SystemClock, to_ms
from ..core.errors import DialpadTimeout, TransportError, ValidationError
from ..core.policy import OUTCOMES
from ..core.protocol import ATTEMPT_KEYS
from .http_errors import error_from_response, transport_reason

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "ATTEMPT_FRAME_COLUMNS",
    "DELIVERY_COLUMNS",
    "OUTBOX_COLUMNS",
    "SandboxControl",
    "count_outcomes",
    "sandbox_control",
]

PREFIX = "/sandbox/v1"

ATTEMPT_FRAME_COLUMNS: tuple[str, ...] = (*ATTEMPT_KEYS[:6], "time", *ATTEMPT_KEYS[6:])
"""Columns of :meth:`SandboxControl.attempts`: the attempt record plus ``time`` (UTC) after ``at``."""

OUTBOX_COLUMNS: tuple[str, ...] = ("id", "at", "time", "router_id", "to", "subject", "body")

DELIVERY_COLUMNS: tuple[str, ...] = (
    "id",
    "call_id",
    "state",
    "webhook_id",
    "status",
    "attempts",
    "http_status",
    "error",
    "attempt_log",
)
"""Columns of :meth:`SandboxControl.deliveries` (one row per call-event delivery)."""

_DTYPES: dict[str, str] = {
    "attempt_id": "Int64",
    "call_id": "Int64",
    "router_id": "Int64",
    "external_number": "string",
    "internal_number": "string",
    "at": "Int64",
    "latency_ms": "float64",
    "outcome": "string",
    "http_status": "Int64",
    "detail": "string",
    "target_id": "Int64",
    "target_type": "string",
    "is_default": "boolean",
    "error_count": "Int64",
    "disabled_after": "boolean",
    "enabled_before": "boolean",
}


def attempts_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Attempt records as a typed DataFrame with :data:`ATTEMPT_FRAME_COLUMNS`."""
    import pandas as pd

    df = pd.DataFrame(list(records), columns=list(ATTEMPT_KEYS))
    df = df.astype(_DTYPES)
    df.insert(ATTEMPT_KEYS.index("at") + 1, "time", pd.to_datetime(df["at"], unit="ms", utc=True))
    return df


def count_outcomes(records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """``{"calls": n, <outcome>: count, ...}`` for attempt records: the outcomes that occurred,
    in :data:`~dialpad_nb.core.policy.OUTCOMES` order (any other outcome after them, by name)."""
    counts: dict[str, int] = {}
    n = 0
    for record in records:
        n += 1
        counts[record["outcome"]] = counts.get(record["outcome"], 0) + 1
    order = [o for o in OUTCOMES if o in counts] + sorted(set(counts) - set(OUTCOMES))
    return {"calls": n, **{o: counts[o] for o in order}}


class SandboxControl:
    """Client of one sandbox's control API. ``transport`` is an optional httpx transport."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout_s: float = 60.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            transport=transport,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout_s,
            trust_env=False,
        )

    def __repr__(self) -> str:
        return f"SandboxControl({self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SandboxControl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ HTTP

    def _call(self, method: str, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None):
        url = PREFIX + path
        where = f"{self.base_url}{url}"
        params = {k: v for k, v in (params or {}).items() if v is not None}
        if self._http.is_closed:
            raise TransportError(
                "this control client is closed (its sandbox was stopped?); make a new one",
                method=method,
                url=where,
            )
        try:
            response = self._http.request(method, url, json=json, params=params or None)
        except httpx.HTTPError as exc:
            cls = DialpadTimeout if isinstance(exc, httpx.TimeoutException) else TransportError
            reason = transport_reason(exc)
            raise cls(
                f"cannot reach the sandbox at {self.base_url}: {reason}", method=method, url=where
            ) from None
        if response.status_code >= 400:
            raise error_from_response(response, method=method, url=where, now_ms=SystemClock().now_ms())
        return response.json()

    # ------------------------------------------------------------------ calls

    def place_call(
        self, to: str, from_: str, at: int | str | datetime | None = None, *, call_id: int | None = None
    ) -> dict[str, Any]:
        """Place one inbound call; the attempt record (``core.protocol.ATTEMPT_KEYS``)."""
        body: dict[str, Any] = {"to": to, "from": from_}
        if at is not None:
            body["at"] = to_ms(at) if isinstance(at, datetime) else at
        if call_id is not None:
            body["call_id"] = call_id
        return self._call("POST", "/calls", json=body)

    def place_calls(
        self, calls: Iterable[Mapping[str, Any]], *, concurrency: int = 1
    ) -> list[dict[str, Any]]:
        """Place many calls (dicts with ``to``, ``from`` or ``from_``, optional ``at``, ``call_id``);
        the records in order. A bad call rejects the batch before any is placed."""
        items = []
        for c in calls:
            item = {k: v for k, v in c.items() if k != "from_"}
            if "from_" in c:
                item["from"] = c["from_"]
            if isinstance(item.get("at"), datetime):
                item["at"] = to_ms(item["at"])
            items.append(item)
        return self._call("POST", "/calls:batch", json={"calls": items, "concurrency": concurrency})

    def place_call_series(
        self, to: str, from_: str, count: int, *, every_s: float = 60.0, router_id: int | None = None
    ) -> dict[str, int]:
        """Place ``count`` calls ``every_s`` simulated seconds apart, the first ``every_s`` after
        the sandbox's now; what happened to them (:func:`count_outcomes`) and, given ``router_id``,
        that router's ``"errors in window now"``."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValidationError(f"{count!r} is not a positive whole number of calls", field="count")
        step_ms = round(every_s * 1000) if every_s == every_s else 0  # NaN -> 0
        if step_ms < 1:
            raise ValidationError(f"{every_s!r} must be at least 0.001 seconds", field="every_s")
        start = self.clock()
        records = self.place_calls(
            [{"to": to, "from": from_, "at": start + (i + 1) * step_ms} for i in range(count)]
        )
        summary = count_outcomes(records)
        if router_id is not None:
            summary["errors in window now"] = self.error_count(router_id)
        return summary

    def attempt_records(self, router_id: int | None = None, *, page_size: int = 500) -> list[dict[str, Any]]:
        """Every attempt (all pages), oldest first."""
        out: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self._call(
                "GET", "/attempts", params={"router_id": router_id, "cursor": cursor, "limit": page_size}
            )
            out.extend(page["items"])
            cursor = page.get("cursor")
            if not cursor:
                return out

    def attempt_page(self, cursor: str | None = None, *, limit: int = 500) -> dict[str, Any]:
        """One page of attempts after ``cursor`` (``{"items", "cursor"?}``): to read forward as
        attempts arrive, keep the last cursor and read from it again (items already seen recur)."""
        return self._call("GET", "/attempts", params={"cursor": cursor, "limit": limit})

    def attempts(self, router_id: int | None = None) -> pd.DataFrame:
        """Every attempt as a DataFrame (:data:`ATTEMPT_FRAME_COLUMNS`; ``time`` is UTC)."""
        return attempts_frame(self.attempt_records(router_id))

    def outbox(self, router_id: int | None = None) -> pd.DataFrame:
        """The sandbox's sent emails (auto-disable notices), oldest first."""
        items = self._call("GET", "/outbox", params={"router_id": router_id})["items"]
        import pandas as pd

        df = pd.DataFrame(items, columns=[c for c in OUTBOX_COLUMNS if c != "time"])
        df = df.astype({"id": "Int64", "at": "Int64", "router_id": "Int64"})
        df.insert(2, "time", pd.to_datetime(df["at"], unit="ms", utc=True))
        return df

    def delivery_records(
        self, *, call_id: int | None = None, webhook_id: int | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        """Every call-event delivery (all pages, oldest first), each with every attempt
        (``GET /sandbox/v1/deliveries``)."""
        out: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self._call(
                "GET",
                "/deliveries",
                params={
                    "call_id": call_id,
                    "webhook_id": webhook_id,
                    "status": status,
                    "cursor": cursor,
                    "limit": 500,
                },
            )
            out.extend(page["items"])
            cursor = page.get("cursor")
            if not cursor:
                return out

    def deliveries(
        self, *, call_id: int | None = None, webhook_id: int | None = None, status: str | None = None
    ) -> pd.DataFrame:
        """Call-event deliveries as a DataFrame, one row per delivery (:data:`DELIVERY_COLUMNS`):
        its state, status (``pending``/``delivered``/``failed``), how many attempts, the last
        HTTP status and error. ``attempt_log`` holds every attempt (wall-clock ``at``)."""
        import pandas as pd

        rows = []
        for d in self.delivery_records(call_id=call_id, webhook_id=webhook_id, status=status):
            last = d["attempts"][-1] if d["attempts"] else {}
            rows.append(
                {
                    "id": d["id"],
                    "call_id": d["call_id"],
                    "state": d["state"],
                    "webhook_id": d["webhook_id"],
                    "status": d["status"],
                    "attempts": len(d["attempts"]),
                    "http_status": last.get("http_status"),
                    "error": d["last_error"],
                    "attempt_log": d["attempts"],
                }
            )
        df = pd.DataFrame(rows, columns=list(DELIVERY_COLUMNS))
        return df.astype(
            {
                "id": "Int64",
                "call_id": "Int64",
                "state": "string",
                "webhook_id": "Int64",
                "status": "string",
                "attempts": "Int64",
                "http_status": "Int64",
                "error": "string",
            }
        )

    def router_errors(self, router_id: int) -> dict[str, Any]:
        """``{"router_id", "error_count", "window_s", "threshold", "enabled", "error_times"}``."""
        return self._call("GET", f"/routers/{int(router_id)}/errors")

    def error_count(self, router_id: int) -> int:
        """The router's errors inside the window now."""
        return int(self.router_errors(router_id)["error_count"])

    # ------------------------------------------------------------------ clock

    def clock(self) -> int:
        """The sandbox's now, ms since the epoch."""
        return int(self._call("GET", "/clock")["now"])

    def advance(self, seconds: float) -> int:
        """Move the simulated clock forward; the new now."""
        return int(self._call("POST", "/clock", json={"advance_seconds": seconds})["now"])

    def set_clock(self, now: int | str | datetime) -> int:
        """Move the simulated clock to ``now`` (never backwards); the new now."""
        return int(self._call("POST", "/clock", json={"now": to_ms(now)})["now"])


def sandbox_control(server: Any, **kwargs: Any) -> SandboxControl:
    """A :class:`SandboxControl` for a running :class:`~dialpad_nb.sandbox.SandboxServer`."""
    return SandboxControl(server.url, server.api_key, **kwargs)
