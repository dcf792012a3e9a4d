"""A sticky canary: a share of callers answered by a candidate rule set, stopped by itself when
the candidate fails more than the control.

The endpoint kit (:func:`dialpad_nb.endpoint.routing_endpoint` with ``canary={"candidate": 0.05}``)
keeps one :class:`Canary`. Each candidate is one of the endpoint's shadows, so it is evaluated on
every request; on the requests of *its* callers its answer is the one sent, unless it failed.

**Sticky split.** A caller is on a candidate's side when ``caller_bucket(external_number,
candidate, salt)`` (a keyed BLAKE2b hash of the E.164 number, as a number in [0, 1)) is below the
candidate's share. The same caller always lands on the same side (across requests, restarts and
worker processes, for a given ``salt``); raising a share keeps everyone already on the
candidate's side there. With several candidates, the first (in the order of ``shadows``) whose
bucket holds the caller answers; each candidate hashes with its own name, so their callers are
independent draws.

**Automatic stop.** While a candidate runs (share > 0, not stopped), the canary counts, from
the moment it started, the candidate's evaluations and failures (raised, invalid target, over its
budget: :data:`~dialpad_nb.core.endpoint_log.FAILED_OUTCOMES`; a rule whose threads were all busy
is not counted) and the control's. After each count, if the candidate has at least
``min_calls`` evaluations and ``candidate rate - control rate > margin``, it is stopped at once:
from then on the control answers its callers. The check and the switch happen under one lock,
so concurrent requests stop a candidate once and log one ``stop`` event. The stop posts a
Slack-compatible ``{"text": ...}`` JSON message to ``alert_url`` when one is set (in a
background thread; the URL is never logged or shown). A stopped candidate stays stopped until
:meth:`Canary.resume` (the admin route), which starts its counts again.

**Several worker processes.** Counts are per worker: each worker decides on what it saw. The
shares and the stopped flags are shared when ``state_path`` is given (``dialpad-nb endpoint
--workers N`` gives one): every change (a stop, the admin route) is written to that JSON file
under an exclusive ``flock`` (write aside, rename), and every worker checks the file's ``stat``
before each request, so a stop decided by one worker, or an admin change answered by one, holds
for all of them from their next request. Without ``state_path`` the state is this process's only.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import math
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..core.alerts import AlertPoster
from ..core.clock import Clock
from ..core.endpoint_log import make_canary_record
from ..core.errors import ValidationError

try:  # POSIX; elsewhere the shared state is serialised between threads only
    import fcntl
except ImportError:  # pragma: no cover - not on this platform
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "DEFAULT_SALT",
    "MARGIN",
    "MIN_CALLS",
    "Alert",
    "Canary",
    "StopRule",
    "caller_bucket",
    "check_share",
]

DEFAULT_SALT = "dialpad_nb-canary"
"""The salt of the caller hash unless one is given (change it to draw other callers)."""
MIN_CALLS = 50
"""Candidate evaluations counted before the automatic stop may decide."""
MARGIN = 0.05
"""How much the candidate's failure rate may exceed the control's (0.05 = 5 points)."""
ALERT_TIMEOUT_S = 5.0

logger = logging.getLogger("dialpad_nb.endpoint")


def caller_bucket(external_number: str, candidate: str, salt: str = DEFAULT_SALT) -> float:
    """Where a caller falls for a candidate: a number in [0, 1) from a keyed hash of the number
    (BLAKE2b, 64 bits). The caller is on the candidate's side when it is below the share."""
    digest = hashlib.blake2b(
        external_number.encode("utf-8"), digest_size=8, key=_key(salt, candidate)
    ).digest()
    return int.from_bytes(digest, "big") / 2**64


@functools.lru_cache(maxsize=256)
def _key(salt: str, candidate: str) -> bytes:
    """The hash key of one (salt, candidate): any length of either, 32 bytes out."""
    return hashlib.blake2b(f"{salt}\x00{candidate}".encode(), digest_size=32).digest()


def check_share(value: Any, *, field: str) -> float:
    """A canary share: a number in [0, 1]; :class:`ValidationError` naming ``field`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValidationError(f"a share must be a number from 0 to 1, got {value!r}", field=field)
    if not 0 <= value <= 1:
        raise ValidationError(
            f"a share must be between 0 and 1 (0.05 = 5 % of callers), got {value!r}", field=field
        )
    return float(value)


@dataclass(frozen=True)
class StopRule:
    """When the canary stops a candidate: at least ``min_calls`` of its evaluations and a failure
    rate more than ``margin`` above the control's (both counted since the candidate started)."""

    min_calls: int = MIN_CALLS
    margin: float = MARGIN

    def __post_init__(self) -> None:
        if isinstance(self.min_calls, bool) or not isinstance(self.min_calls, int) or self.min_calls < 1:
            raise ValidationError(f"must be a whole number >= 1, got {self.min_calls!r}", field="min_calls")
        if (
            isinstance(self.margin, bool)
            or not isinstance(self.margin, (int, float))
            or not 0 <= self.margin < 1
        ):
            raise ValidationError(f"must be a number in [0, 1), got {self.margin!r}", field="margin")

    def breached(self, cand_n: int, cand_f: int, ctrl_n: int, ctrl_f: int) -> bool:
        if cand_n < self.min_calls:
            return False
        control_rate = ctrl_f / ctrl_n if ctrl_n else 0.0
        return cand_f / cand_n - control_rate > self.margin


class Alert:
    """Posts ``{"text": message}`` (Slack's incoming-webhook shape, :mod:`dialpad_nb.core.alerts`)
    to a URL in a background thread. The URL is kept private: its repr, logs and :attr:`last`
    show its host only."""

    def __init__(self, url: str, *, timeout_s: float = ALERT_TIMEOUT_S) -> None:
        AlertPoster(url, timeout_s=timeout_s).close()  # checks the URL now, at start-up
        self._url = url
        self.host = urlsplit(url).hostname
        self.timeout_s = timeout_s
        self.last: dict[str, Any] | None = None
        """The last alert: ``{"ok", "error" (why it failed, when it did), "host"}`` (None until one is sent)."""
        self._done = threading.Condition()
        self.sent = 0

    def __repr__(self) -> str:
        return f"Alert(host={self.host!r})"

    def send(self, text: str) -> None:
        threading.Thread(target=self._post, args=(text,), name="canary-alert", daemon=True).start()

    def _post(self, text: str) -> None:
        with AlertPoster(self._url, timeout_s=self.timeout_s) as poster:
            failed = poster.post(text)
        result: dict[str, Any] = {"ok": failed is None, "host": self.host}
        if failed is None:
            logger.info("canary alert sent to %s", self.host)
        else:
            result["error"] = failed
            logger.error("canary %s", failed)
        with self._done:
            self.last = result
            self.sent += 1
            self._done.notify_all()

    def wait(self, n: int = 1, timeout_s: float = 10.0) -> bool:
        """True once ``n`` alerts have been attempted (sent or failed) within ``timeout_s``."""
        with self._done:
            return self._done.wait_for(lambda: self.sent >= n, timeout_s)


@dataclass
class _Arm:
    """One candidate's live state and its counts since it started."""

    share: float
    stopped: bool = False
    reason: str | None = None
    cand_n: int = 0
    cand_f: int = 0
    ctrl_n: int = 0
    ctrl_f: int = 0

    @property
    def active(self) -> bool:
        return self.share > 0 and not self.stopped

    def reset(self) -> None:
        self.cand_n = self.cand_f = self.ctrl_n = self.ctrl_f = 0

    def counts(self) -> tuple[int, int, int, int]:
        return (self.cand_n, self.cand_f, self.ctrl_n, self.ctrl_f)


class Canary:
    """The canary of one endpoint (see the module docstring).

    ``shares`` maps candidate names (among ``candidates``, the endpoint's shadows) to their share
    of callers (the other shadows start at 0 and can be given one at run time); ``log`` appends
    an event record; ``clock`` stamps them."""

    def __init__(
        self,
        shares: Mapping[str, Any],
        *,
        candidates: Sequence[str],
        log: Callable[[dict[str, Any]], None],
        clock: Clock,
        salt: str = DEFAULT_SALT,
        rule: StopRule | None = None,
        alert: Alert | None = None,
        state_path: str | os.PathLike | None = None,
        on_change: Callable[[Canary], None] | None = None,
    ) -> None:
        if not isinstance(shares, Mapping):
            raise ValidationError(
                f"expected {{candidate name: share}}, e.g. {{'candidate': 0.05}}, got {shares!r}",
                field="canary",
            )
        if not isinstance(salt, str) or not salt:
            raise ValidationError("must be non-empty text", field="canary_salt")
        unknown = [repr(n) for n in shares if n not in candidates]
        if unknown:
            known = ", ".join(repr(c) for c in candidates) or "none"
            raise ValidationError(
                f"{', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not a shadow "
                f"(a canary candidate must be one of the shadows; shadows: {known})",
                field="canary",
            )
        checked = {str(n): check_share(v, field=f"canary[{n!r}]") for n, v in shares.items()}
        self.order = tuple(candidates)  # every shadow can be given a share at run time
        self.salt = salt
        self.rule = rule or StopRule()
        self.alert = alert
        self.clock = clock
        self._log = log
        self._on_change = on_change
        self._lock = threading.RLock()
        self._arms = {n: _Arm(checked.get(n, 0.0)) for n in self.order}
        self.state_path = Path(state_path) if state_path is not None else None
        self._seen: tuple[int, int, int] | None = None
        self._bad_state_warned = False
        started = True
        if self.state_path is not None:
            with self._file_lock():
                shared = self._read_state()
                if shared is None:
                    self._write_state()
                else:
                    self._apply_state(shared)
                    started = False  # another worker started the canary; its state wins
        if started:
            for name, arm in self._arms.items():
                if arm.share > 0:
                    self._event("start", name, "start")
        self._changed()

    # ------------------------------------------------------------------ per request

    def side(self, external_number: str) -> str | None:
        """The candidate whose callers include this one, or None (the control's side)."""
        self._sync()
        for name, arm in self._arms.items():
            if arm.active and caller_bucket(external_number, name, self.salt) < arm.share:
                return name
        return None

    def running_candidates(self) -> list[str]:
        """The candidates answering a share of callers now (as of the last :meth:`side`)."""
        return [name for name, arm in self._arms.items() if arm.active]

    @property
    def running(self) -> bool:
        """True while some candidate answers a share of callers."""
        self._sync()
        return any(arm.active for arm in self._arms.values())

    def observe_control(self, failed: bool) -> None:
        """Count one evaluation of the control (against every running candidate)."""
        with self._lock:
            for name, arm in self._arms.items():
                if arm.active:
                    arm.ctrl_n += 1
                    arm.ctrl_f += bool(failed)
                    self._check(name, arm)

    def observe(self, name: str, failed: bool) -> None:
        """Count one evaluation of candidate ``name`` (ignored when it is not running)."""
        with self._lock:
            arm = self._arms.get(name)
            if arm is None or not arm.active:
                return
            arm.cand_n += 1
            arm.cand_f += bool(failed)
            self._check(name, arm)

    def _check(self, name: str, arm: _Arm) -> None:
        """Stop ``name`` now if the rule says so (lock held: decided once)."""
        if not self.rule.breached(*arm.counts()):
            return
        cn, cf, kn, kf = arm.counts()
        reason = (
            f"candidate {name!r} failed {cf} of {cn} calls ({cf / cn:.1%}) against the control's "
            f"{kf} of {kn} ({(kf / kn if kn else 0):.1%}): more than {self.rule.margin * 100:g} points above it "
            f"(after at least {self.rule.min_calls} calls)"
        )
        record = self._transition(name, stopped=True, reason=reason, trigger="auto", counts=arm.counts())
        if record is not None:
            logger.error("canary stopped: %s; the control answers every call now", reason)
            if self.alert is not None:
                self.alert.send(
                    f":rotating_light: Canary stopped on the routing endpoint: {reason}. Every call is "
                    f"answered by the control rules now; resume it from the admin route once the candidate is fixed."
                )

    # ------------------------------------------------------------------ run-time changes

    def set_share(self, name: str, share: Any, *, trigger: str = "api") -> dict[str, Any] | None:
        """Give ``name`` a new share of callers (0 pauses it); the event logged, or None when
        nothing changed. A stopped candidate keeps its new share and stays stopped."""
        self._arm(name)
        value = check_share(share, field=f"share[{name!r}]")
        return self._transition(name, share=value, trigger=trigger)

    def stop(self, name: str, *, reason: str | None = None, trigger: str = "api") -> dict[str, Any] | None:
        """Stop ``name`` (its callers get the control's answers); None if it was stopped already."""
        arm = self._arm(name)
        return self._transition(name, stopped=True, reason=reason or "stopped by hand", trigger=trigger,
                                counts=arm.counts())  # fmt: skip

    def resume(self, name: str, *, trigger: str = "api") -> dict[str, Any] | None:
        """Resume a stopped ``name`` with its share; its counts start again. None if it was not stopped."""
        self._arm(name)
        return self._transition(name, stopped=False, reason=None, trigger=trigger)

    def _arm(self, name: Any) -> _Arm:
        arm = self._arms.get(name) if isinstance(name, str) else None
        if arm is None:
            known = ", ".join(repr(n) for n in self._arms) or "none"
            raise ValidationError(
                f"{name!r} is not a canary candidate (candidates: {known})", field="candidate"
            )
        return arm

    def _transition(
        self,
        name: str,
        *,
        share: float | None = None,
        stopped: bool | None = None,
        reason: str | None = None,
        trigger: str,
        counts: tuple[int, int, int, int] | None = None,
    ) -> dict[str, Any] | None:
        """Apply one change here and in the shared state; log its event. None: nothing changed
        (e.g. another worker stopped this candidate first)."""
        with self._lock, self._file_lock():
            if self.state_path is not None:
                shared = self._read_state()
                if shared is not None:
                    self._apply_state(shared)
            arm = self._arms[name]
            new_share = arm.share if share is None else share
            new_stopped = arm.stopped if stopped is None else stopped
            if (new_share, new_stopped) == (arm.share, arm.stopped):
                return None
            was_active = arm.active
            action = (
                "share"
                if stopped is None or new_stopped == arm.stopped
                else ("stop" if new_stopped else "resume")
            )
            arm.share, arm.stopped = new_share, new_stopped
            if stopped is not None:
                arm.reason = reason if new_stopped else None
            if arm.active and not was_active:
                arm.reset()
            if self.state_path is not None:
                self._write_state()
            record = self._event(action, name, trigger, reason=reason, counts=counts)
            if trigger != "auto":  # the automatic stop logs its own line
                logger.info("canary: %s %s (share %g) by %s", action, name, arm.share, trigger)
            self._changed()
            return record

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self)

    def _event(
        self,
        action: str,
        name: str,
        trigger: str,
        *,
        reason: str | None = None,
        counts: tuple[int, int, int, int] | None = None,
    ) -> dict[str, Any]:
        record = make_canary_record(
            ts=self.clock.now_ms(),
            action=action,
            candidate=name,
            share=self._arms[name].share,
            trigger=trigger,
            reason=reason,
            counts=counts,
        )
        self._log(record)
        return record

    # ------------------------------------------------------------------ state

    def status(self) -> dict[str, Any]:
        """What runs now (for ``/healthz`` and the admin route): per candidate its share, whether
        it runs or was stopped and why, and the counts the automatic stop compares."""
        self._sync()
        with self._lock:
            candidates = {
                name: {
                    "share": arm.share,
                    "running": arm.active,
                    "stopped": arm.stopped,
                    "reason": arm.reason,
                    "candidate_calls": arm.cand_n,
                    "candidate_failures": arm.cand_f,
                    "control_calls": arm.ctrl_n,
                    "control_failures": arm.ctrl_f,
                }
                for name, arm in self._arms.items()
            }
        return {
            "candidates": candidates,
            "stop_rule": {"min_calls": self.rule.min_calls, "margin": self.rule.margin},
            "counts": "per worker process" if self.state_path is not None else "this process",
            "shared_state": self.state_path is not None,
            "alert": None if self.alert is None else {"host": self.alert.host, "last": self.alert.last},
        }

    def __repr__(self) -> str:
        parts = []
        for name, arm in self._arms.items():
            state = "stopped" if arm.stopped else ("running" if arm.active else "paused")
            parts.append(f"{name}={arm.share:g} ({state})")
        return f"Canary({', '.join(parts)})"

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        if self.state_path is None or fcntl is None:
            yield
            return
        fd = os.open(f"{self.state_path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _read_state(self) -> dict[str, Any] | None:
        assert self.state_path is not None
        try:
            st = os.stat(self.state_path)
            data = json.loads(self.state_path.read_text("utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            if not self._bad_state_warned:
                logger.error(
                    "canary state %s unreadable (%s): keeping the state in memory", self.state_path, exc
                )
                self._bad_state_warned = True
            return None
        self._seen = (st.st_ino, st.st_mtime_ns, st.st_size)
        return data if isinstance(data, dict) else None

    def _apply_state(self, data: Mapping[str, Any]) -> None:
        """Adopt the shared shares and stopped flags (lock held or at start)."""
        shared = data.get("candidates")
        if not isinstance(shared, Mapping):
            return
        with self._lock:
            for name, arm in self._arms.items():
                item = shared.get(name)
                if not isinstance(item, Mapping):
                    continue
                try:
                    share = check_share(item.get("share"), field="share")
                except ValidationError:
                    continue
                was_active = arm.active
                arm.share, arm.stopped = share, item.get("stopped") is True
                reason = item.get("reason")
                arm.reason = reason if isinstance(reason, str) else None
                if arm.active and not was_active:
                    arm.reset()

    def _write_state(self) -> None:
        assert self.state_path is not None
        data = {
            "candidates": {
                name: {"share": arm.share, "stopped": arm.stopped, "reason": arm.reason}
                for name, arm in self._arms.items()
            }
        }
        tmp = self.state_path.with_name(f"{self.state_path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data), "utf-8")
        os.replace(tmp, self.state_path)
        st = os.stat(self.state_path)
        self._seen = (st.st_ino, st.st_mtime_ns, st.st_size)

    def _sync(self) -> None:
        """Adopt the shared state when another worker changed it (one ``stat`` per call)."""
        if self.state_path is None:
            return
        try:
            st = os.stat(self.state_path)
        except OSError:
            return
        if (st.st_ino, st.st_mtime_ns, st.st_size) == self._seen:
            return
        with self._lock:
            shared = self._read_state()
            if shared is not None:
                self._apply_state(shared)
                self._changed()
