"""Call-event delivery: durable, retried, and never on call dispatch's time.

Dispatch only *queues* (a ``deliveries`` row per subscribed state, in the call's own
transaction: :func:`dialpad_nb.sandbox.history.record_call`). A :class:`Deliverer` sends them
from its own thread:

* POST the event to the webhook's ``hook_url`` as it is *at send time*: the JSON body, or,
  when the webhook has a secret, the compact HS256 JWT of it with
  ``Content-Type: application/jwt`` (assumption ``event_jwt``);
* a 2xx answer within ``EVENT_DELIVERY.timeout_s`` delivers it; anything else (non-2xx,
  timeout, no connection) is retried after ``retry_delay_s(n)`` (1 s, 2 s, 4 s by default),
  and after ``attempts`` tries the delivery is ``failed`` (assumption ``event_delivery``);
* every attempt is a ``delivery_attempts`` row (time, URL without query, signed, status,
  latency, error), visible through ``GET /sandbox/v1/deliveries``;
* hooks off this machine are not called unless the sandbox allows remote delivery
  (``allow_remote_events``): such a delivery fails at once, saying why;
* a delivery still pending when the sandbox stops is sent after the next start (at least once).

Retry times are wall-clock ms from the injected ``timer`` (real time, like the routing
deadline), so tests drive :meth:`Deliverer.run_due` with a fake timer instead of sleeping.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..core.clock import SystemClock
from ..core.errors import ValidationError
from ..core.models import is_loopback_url, parse_id, strip_query
from ..core.policy import EVENT_DELIVERY, EventDelivery
from ..core.signing import sign
from .http import ErrorAnswer, decode_cursor, encode_cursor, sandbox_state

if TYPE_CHECKING:
    from .app import SandboxState
    from .store import SandboxStore

__all__ = [
    "DELIVERY_STATUSES",
    "Deliverer",
    "DispatchActivity",
    "dispatch_activity",
    "deliverer",
    "delivery_json",
    "list_deliveries",
    "pending_count",
    "routes",
]

DELIVERY_STATUSES: tuple[str, ...] = ("pending", "delivered", "failed")
MAX_DELIVERIES_PAGE = 1000
_DETAIL_CHARS = 200


class DispatchActivity:
    """Whether calls are being dispatched right now (a context manager around each dispatch).

    The background deliverer gives dispatch the way: before each POST it waits for a quiet
    moment, at most ``Deliverer.give_way_s``, so a burst of calls is not slowed by the events it
    queues (one process, one interpreter lock); the events follow as soon as the burst ends."""

    def __init__(self) -> None:
        self._active = 0
        self._lock = threading.Lock()
        self.idle = threading.Event()
        self.idle.set()

    def __enter__(self) -> DispatchActivity:
        with self._lock:
            self._active += 1
            self.idle.clear()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._active -= 1
            if self._active == 0:
                self.idle.set()


class Deliverer:
    """Sends queued call events (see the module docstring). Thread-safe.

    ``transport``: an httpx transport for tests; ``allow_remote``: also POST to hooks off
    this machine; ``timer``: wall-clock ms (injectable); ``workers``: POSTs in flight at once
    (events of one call may then arrive out of order: receivers must not rely on order)."""

    def __init__(
        self,
        store: SandboxStore,
        *,
        schedule: EventDelivery = EVENT_DELIVERY,
        transport: httpx.BaseTransport | None = None,
        allow_remote: bool = False,
        timer: Callable[[], int] | None = None,
        workers: int = 2,
        activity: DispatchActivity | None = None,
        give_way_s: float = 0.05,
    ) -> None:
        if workers < 1:
            raise ValidationError(f"must be >= 1, got {workers!r}", field="workers")
        self.store = store
        self.schedule = schedule
        self.remote_allowed = allow_remote or transport is not None
        self.timer = timer if timer is not None else SystemClock().now_ms
        self.workers = workers
        self.activity = activity
        self.give_way_s = give_way_s
        self._http = httpx.Client(
            transport=transport,
            trust_env=False,
            follow_redirects=False,
            timeout=httpx.Timeout(schedule.timeout_s),
            limits=httpx.Limits(max_connections=max(8, workers * 2)),
        )
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._guard = threading.Lock()
        self._inflight: set[int] = set()
        self._idle = threading.Condition(self._guard)
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    def __repr__(self) -> str:
        running = "running" if self._thread is not None and self._thread.is_alive() else "stopped"
        return f"Deliverer({running}, {self.schedule!r})"

    # ------------------------------------------------------------------ queue

    def due(self, now_ms: int | None = None, *, limit: int = 200) -> list[dict[str, Any]]:
        """Pending deliveries due at ``now_ms`` (default: the timer's now), oldest first."""
        now = self.timer() if now_ms is None else now_ms
        with self.store.transaction() as conn:
            rows = conn.execute(
                "SELECT d.*, w.id AS hook_id, w.hook_url AS hook_url, w.secret AS hook_secret"
                " FROM deliveries d LEFT JOIN webhooks w ON w.id = d.webhook_id"
                " WHERE d.status = 'pending' AND d.next_at_ms <= ? ORDER BY d.id LIMIT ?",
                (now, limit + len(self._inflight)),
            ).fetchall()
        with self._guard:
            return [dict(r) for r in rows if r["id"] not in self._inflight][:limit]

    def _any_due(self) -> bool:
        """Whether a pending delivery is due now, counting those in flight: a delivery stays
        ``pending`` in the database until its attempt is recorded, so one picked up by the loop
        between a look at ``_inflight`` and this query is still seen (:meth:`due` leaves the
        in-flight ones out, and checking both one after the other missed it)."""
        with self.store.transaction() as conn:
            row = conn.execute(
                "SELECT 1 FROM deliveries WHERE status = 'pending' AND next_at_ms <= ? LIMIT 1",
                (self.timer(),),
            ).fetchone()
        return row is not None

    def next_due_ms(self) -> int | None:
        """When the next pending delivery is due (wall-clock ms), or None."""
        with self.store.transaction() as conn:
            row = conn.execute("SELECT MIN(next_at_ms) FROM deliveries WHERE status = 'pending'").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    # ------------------------------------------------------------------ one POST

    def attempt(self, delivery: dict[str, Any]) -> str:
        """POST one delivery once, record the attempt, and schedule a retry or close it.
        Returns the delivery's status afterwards. Never raises for anything the hook does."""
        did = int(delivery["id"])
        number = int(delivery["attempts"]) + 1
        if "hook_id" not in delivery:  # not a row from due(): read the webhook as it is now
            with self.store.transaction() as conn:
                row = conn.execute(
                    "SELECT id, hook_url, secret FROM webhooks WHERE id = ?", (delivery["webhook_id"],)
                ).fetchone()
            found = (
                {"hook_id": row["id"], "hook_url": row["hook_url"], "hook_secret": row["secret"]}
                if row
                else {}
            )
            delivery = {**delivery, "hook_id": None, **found}
        hook = delivery if delivery["hook_id"] is not None else None
        url: str = "" if hook is None else delivery["hook_url"]
        secret = None if hook is None else delivery["hook_secret"]
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        final = False
        if hook is None:
            error, final = f"webhook {delivery['webhook_id']} was deleted: nothing to deliver to", True
        elif not self.remote_allowed and not is_loopback_url(url):
            error = (
                f"not sent: {strip_query(url)} is not on this machine; the sandbox delivers events only to "
                "loopback hooks unless started with allow_remote_events=True (CLI: --allow-remote-events)"
            )
            final = True
        else:
            event = json.loads(delivery["event"])
            if secret:
                content = sign(event, secret).encode("ascii")
                headers = {"Content-Type": "application/jwt"}
            else:
                content = json.dumps(event, separators=(",", ":")).encode()
                headers = {"Content-Type": "application/json"}
            try:
                response = self._http.post(url, content=content, headers=headers)
                status = response.status_code
                if not 200 <= status < 300:
                    snippet = response.content[:_DETAIL_CHARS].decode("utf-8", "replace").strip()
                    error = f"HTTP {status}" + (f": {snippet}" if snippet else "")
            except httpx.TimeoutException:
                error = f"no answer within {self.schedule.timeout_s:g} s"
            except (httpx.TransportError, httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
                error = f"could not reach {strip_query(url)}: {str(exc) or type(exc).__name__}"
        latency = round((time.perf_counter() - started) * 1000, 3)
        now = self.timer()
        if error is None:
            outcome = "delivered"
        elif final or number >= self.schedule.attempts:
            outcome = "failed"
        else:
            outcome = "pending"
        next_at = now + round(self.schedule.retry_delay_s(number) * 1000) if outcome == "pending" else now
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO delivery_attempts(delivery_id, attempt, at_ms, url, signed, http_status, latency_ms,"
                " error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    did,
                    number,
                    now,
                    strip_query(url) if url else None,
                    None if hook is None else int(bool(secret)),
                    status,
                    latency,
                    error,
                ),
            )
            conn.execute(
                "UPDATE deliveries SET status = ?, attempts = ?, next_at_ms = ?, last_error = ? WHERE id = ?",
                (outcome, number, next_at, error, did),
            )
        return outcome

    def run_due(self, now_ms: int | None = None) -> int:
        """Attempt every delivery due now, in this thread, one after another; how many were
        attempted (tests drive retries with this and a fake ``timer``)."""
        count = 0
        for delivery in self.due(now_ms, limit=10_000):
            self.attempt(delivery)
            count += 1
        return count

    # ------------------------------------------------------------------ the background thread

    def wake(self) -> None:
        """New work was queued (called after a call is recorded); returns at once."""
        self._wake.set()

    def start(self) -> Deliverer:
        """Start the delivery thread (idempotent)."""
        with self._guard:
            if self._thread is not None:
                return self
            self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="event-delivery")
            self._thread = threading.Thread(target=self._loop, name="event-deliverer", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop sending (what is pending stays queued in the database) and close the HTTP client."""
        self._stop.set()
        self._wake.set()
        thread, pool = self._thread, self._pool
        if thread is not None:
            thread.join(timeout_s)
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        self._http.close()

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """Wait until nothing is in flight and nothing pending is due now; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._idle:
                busy = bool(self._inflight)
                if busy:
                    self._idle.wait(max(0.0, deadline - time.monotonic()))
            if not busy and not self._any_due():
                return True
            if time.monotonic() >= deadline:
                return False
            if not busy:
                self._wake.set()
                with self._idle:
                    self._idle.wait(min(0.05, max(0.0, deadline - time.monotonic())))

    def _loop(self) -> None:
        """Keep at most ``2 * workers`` deliveries in flight; sleep until a send finishes, new work
        is queued (:meth:`wake`) or the next retry is due. Never polls the database in a loop."""
        room_max = 2 * self.workers
        while not self._stop.is_set():
            self._wake.clear()
            try:
                with self._guard:
                    room = room_max - len(self._inflight)
                submitted = 0
                if room > 0:
                    for delivery in self.due(limit=room):
                        with self._guard:
                            self._inflight.add(int(delivery["id"]))
                        assert self._pool is not None
                        self._pool.submit(self._send, delivery)
                        submitted += 1
                if submitted:
                    continue  # more may be due: look again (bounded by the room in flight)
                with self._guard:
                    busy = bool(self._inflight)
                nxt = None if busy else self.next_due_ms()
            except Exception:  # the store was closed under us (shutdown): stop quietly
                if self._stop.is_set():
                    return
                busy, nxt = False, None
            if busy or nxt is None:
                timeout = 1.0  # a finished send or new work wakes us sooner
            else:
                timeout = min(1.0, max(0.001, (nxt - self.timer()) / 1000))
            self._wake.wait(timeout)

    def _send(self, delivery: dict[str, Any]) -> None:
        try:
            if self.activity is not None:  # let a burst of calls go first (see DispatchActivity)
                self.activity.idle.wait(self.give_way_s)
            if not self._stop.is_set():
                self.attempt(delivery)
        except Exception:  # the store closed during shutdown: the row stays pending (sent after a restart)
            pass
        finally:
            with self._idle:
                self._inflight.discard(int(delivery["id"]))
                self._idle.notify_all()
            self._wake.set()


_GUARD = threading.Lock()
_KEY = "deliverer"


def _activity(state: SandboxState) -> DispatchActivity:
    activity = state.extras.get("dispatch_activity")
    if activity is None:
        activity = state.extras["dispatch_activity"] = DispatchActivity()
    return activity


def dispatch_activity(state: SandboxState) -> DispatchActivity:
    """The sandbox's :class:`DispatchActivity` (the control API wraps each dispatch in it)."""
    with _GUARD:
        return _activity(state)


def deliverer(state: SandboxState) -> Deliverer:
    """The sandbox's :class:`Deliverer`, made (and, unless ``state.deliver_in_background`` is
    False, started) on first use; stopped at the app's shutdown."""
    with _GUARD:
        d = state.extras.get(_KEY)
        if d is None:
            d = Deliverer(
                state.store,
                schedule=state.event_delivery,
                transport=state.event_transport,
                allow_remote=state.allow_remote_events,
                activity=_activity(state),
            )
            state.extras[_KEY] = d
            state.exit_stack.callback(d.stop)
            if state.deliver_in_background:
                d.start()
        return d


def pending_count(store: SandboxStore) -> int:
    """How many deliveries are still pending (queued or waiting for a retry)."""
    with store.transaction() as conn:
        return int(conn.execute("SELECT COUNT(*) FROM deliveries WHERE status = 'pending'").fetchone()[0])


# --------------------------------------------------------------------------- control API


def delivery_json(row: dict[str, Any], attempts: list[dict[str, Any]]) -> dict[str, Any]:
    """A delivery as ``GET /sandbox/v1/deliveries`` shows it (times in ms; ``created`` is the
    sandbox clock's time of the call, attempt times are wall-clock)."""
    return {
        "id": row["id"],
        "created": row["created_ms"],
        "subscription_id": row["subscription_id"],
        "webhook_id": row["webhook_id"],
        "call_id": row["call_id"],
        "state": row["state"],
        "status": row["status"],
        "attempts": [
            {
                "attempt": a["attempt"],
                "at": a["at_ms"],
                "url": a["url"],
                "signed": None if a["signed"] is None else bool(a["signed"]),
                "http_status": a["http_status"],
                "latency_ms": a["latency_ms"],
                "error": a["error"],
            }
            for a in attempts
        ],
        "next_at": row["next_at_ms"] if row["status"] == "pending" else None,
        "last_error": row["last_error"],
    }


def list_deliveries(
    store: SandboxStore,
    *,
    call_id: int | None = None,
    webhook_id: int | None = None,
    status: str | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Deliveries (oldest first) with their attempts, as :func:`delivery_json` dicts."""
    sql = "SELECT * FROM deliveries WHERE id > ?"
    args: list[Any] = [after_id]
    for column, value in (("call_id", call_id), ("webhook_id", webhook_id), ("status", status)):
        if value is not None:
            sql += f" AND {column} = ?"
            args.append(value)
    with store.transaction() as conn:
        rows = [dict(r) for r in conn.execute(sql + " ORDER BY id LIMIT ?", (*args, limit)).fetchall()]
        by_delivery: dict[int, list[dict[str, Any]]] = {r["id"]: [] for r in rows}
        if rows:
            marks = ", ".join("?" * len(rows))
            for a in conn.execute(
                f"SELECT * FROM delivery_attempts WHERE delivery_id IN ({marks}) ORDER BY delivery_id, attempt",
                [r["id"] for r in rows],
            ):
                by_delivery[a["delivery_id"]].append(dict(a))
    return [delivery_json(r, by_delivery[r["id"]]) for r in rows]


def _query_int(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        return parse_id(raw, field=name)
    except ValidationError as exc:
        raise ErrorAnswer(400, str(exc)) from None


async def get_deliveries(request: Request) -> JSONResponse:
    """``GET /sandbox/v1/deliveries?call_id=&webhook_id=&status=&cursor=&limit=`` → ``{"items", "cursor"?}``:
    every delivery with every attempt, oldest first."""
    state = sandbox_state(request)
    q = request.query_params
    status = q.get("status") or None
    if status is not None and status not in DELIVERY_STATUSES:
        raise ErrorAnswer(400, f"status: {status!r} is not one of {', '.join(DELIVERY_STATUSES)}")
    limit_raw = q.get("limit")
    limit = state.page_size
    if limit_raw not in (None, ""):
        if not limit_raw.isdigit() or not 1 <= int(limit_raw) <= MAX_DELIVERIES_PAGE:
            raise ErrorAnswer(
                400, f"limit: must be an integer from 1 to {MAX_DELIVERIES_PAGE}, got {limit_raw!r}"
            )
        limit = int(limit_raw)
    after = decode_cursor("deliveries", q.get("cursor")) or 0
    items = list_deliveries(
        state.store,
        call_id=_query_int(request, "call_id"),
        webhook_id=_query_int(request, "webhook_id"),
        status=status,
        after_id=after,
        limit=limit + 1,
    )
    body: dict[str, Any] = {"items": items[:limit]}
    if len(items) > limit:
        body["cursor"] = encode_cursor("deliveries", items[limit - 1]["id"])
    return JSONResponse(body)


routes: list[Route] = [Route("/deliveries", get_deliveries, methods=["GET"])]
"""Control-API routes (under ``/sandbox/v1``)."""
