"""One rule evaluated on one routing request, within a time budget, as a :class:`RuleResult`.

The endpoint kit evaluates its control rule and every shadow the same way
(:func:`evaluate_rule`): a sync ``decide`` runs on a bounded pool of daemon threads (all busy:
``busy`` at once, nothing queued), an async one on the event loop; past its budget the result
is ``timeout`` (the thread is left to finish on its own: Python cannot stop it); an exception
or an answer that is not a target (or, with a directory, a target the company does not have)
is ``error``; ``None`` is ``no_match`` (the rule's fallback stands for it).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..core.endpoint_log import ArmResult, busy_error, make_result
from ..core.errors import ValidationError
from ..core.models import DirectoryEntry, RoutingDecision, RoutingRequest, parse_id, validate_target_type

__all__ = ["ActiveShadow", "PoolFull", "RuleResult", "coerce_decision", "evaluate_rule", "run_decide"]


class RulePool(Protocol):
    max_workers: int

    def submit(self, job: Callable[[], None]) -> bool: ...


class PoolFull(Exception):
    """Every thread of a rule's pool is busy (its fallback is answered at once)."""

    def __init__(self, workers: int) -> None:
        super().__init__(busy_error(workers))


@dataclass(frozen=True)
class RuleResult:
    """How one rule's evaluation ended. ``decision`` is its target: the rule's answer (``ok``),
    its fallback (``no_match``), or None (``timeout``, ``error``, ``busy``)."""

    outcome: str
    decision: RoutingDecision | None
    rule: str | None
    error: str | None
    duration_ms: float

    @property
    def failed(self) -> bool:
        """Raised, answered an invalid target, or went over its budget."""
        return self.outcome in ("timeout", "error")

    def to_record(self, name: str | None = None) -> dict[str, Any]:
        """The result as the log writes it (:func:`~dialpad_nb.core.endpoint_log.make_result`)."""
        return make_result(
            name=name,
            decision=self.decision.to_json() if self.decision is not None else None,
            rule=self.rule,
            outcome=self.outcome,
            error=self.error,
            duration_ms=self.duration_ms,
        )

    def as_arm(self, name: str) -> ArmResult:
        d = self.decision
        return ArmResult(
            name, None if d is None else (d.target_id, d.target_type), self.rule, self.outcome, self.error,
            self.duration_ms,
        )  # fmt: skip


@dataclass(frozen=True)
class ActiveShadow:
    """One shadow serving now: its name, its rules (an ``ActiveRules``), its time budget and its
    own thread pool (so a slow shadow can only exhaust its own threads)."""

    name: str
    rules: Any
    budget_s: float
    pool: Any = field(repr=False, compare=False)
    reloadable: bool = False


def coerce_decision(answer: Any, *, field: str = "decision") -> tuple[RoutingDecision, str | None]:
    """A :class:`RoutingDecision` and the rule name (or None) from whatever ``decide`` returned.

    Raises :class:`ValidationError` naming ``field`` when it is not a decision."""
    rule = None
    if isinstance(answer, RoutingDecision):
        return answer, getattr(answer, "rule", None)
    if isinstance(answer, Mapping):
        if "target_id" not in answer or "target_type" not in answer:
            raise ValidationError(
                f"a mapping needs target_id and target_type, got keys {sorted(answer)}", field=field
            )
        tid, ttype, rule = answer["target_id"], answer["target_type"], answer.get("rule")
    elif isinstance(answer, (tuple, list)):
        if len(answer) not in (2, 3):
            raise ValidationError(
                f"a tuple must be (target_id, target_type[, rule]), got {len(answer)} items", field=field
            )
        tid, ttype = answer[0], answer[1]
        rule = answer[2] if len(answer) == 3 else None
    elif hasattr(answer, "target_id") and hasattr(answer, "target_type"):
        tid, ttype, rule = answer.target_id, answer.target_type, getattr(answer, "rule", None)
    elif isinstance(answer, DirectoryEntry):
        tid, ttype = answer.id, answer.type
    else:
        raise ValidationError(f"{type(answer).__name__} is not a routing decision", field=field)
    decision = RoutingDecision(
        parse_id(tid, field=f"{field}.target_id"), validate_target_type(ttype, field=f"{field}.target_type")
    )
    return decision, (None if rule is None else str(rule))


def _is_async(fn: Any) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))  # noqa: B004


async def run_decide(
    fn: Callable[[RoutingRequest], Any], req: RoutingRequest, timeout: float, pool: RulePool
) -> tuple[bool, Any]:
    """``(timed_out, answer)`` of ``fn(req)`` within ``timeout`` seconds; exceptions from ``fn``
    propagate; :class:`PoolFull` when every thread of ``pool`` is busy."""
    if timeout <= 0:
        return True, None
    if _is_async(fn):
        try:
            return False, await asyncio.wait_for(fn(req), timeout)
        except TimeoutError:
            return True, None
    loop = asyncio.get_running_loop()
    fut: asyncio.Future = loop.create_future()

    def run() -> None:
        try:
            result, exc = fn(req), None
        except BaseException as e:  # handed to the event loop, re-raised there
            result, exc = None, e
        try:
            loop.call_soon_threadsafe(_settle, fut, result, exc)
        except RuntimeError:  # the server stopped while decide was still running
            pass

    if not pool.submit(run):
        raise PoolFull(pool.max_workers)
    timer = loop.call_later(timeout, _settle, fut, _TIMED_OUT, None)  # first to settle wins
    try:
        answer = await fut
    finally:
        timer.cancel()
    if answer is _TIMED_OUT:
        return True, None
    if inspect.isawaitable(answer):
        remaining = timeout  # a sync wrapper returned a coroutine: give it what is left
        try:
            answer = await asyncio.wait_for(answer, remaining)
        except TimeoutError:
            return True, None
    return False, answer


async def evaluate_rule(
    fn: Callable[[RoutingRequest], Any],
    req: RoutingRequest,
    *,
    deadline: float,
    pool: RulePool,
    timeout_text: str,
    fallback: RoutingDecision,
    directory: Any = None,
) -> RuleResult:
    """Evaluate ``fn`` on ``req`` until ``deadline`` (a ``time.perf_counter()`` value).

    ``timeout_text`` is the error recorded past the deadline; ``fallback`` the target that
    stands for a ``no_match``; ``directory`` (a :class:`~dialpad_nb.core.directory.Directory`)
    makes a target the company does not have an ``error``."""
    start = time.perf_counter()

    def done(
        outcome: str, decision: RoutingDecision | None, rule: str | None, error: str | None
    ) -> RuleResult:
        return RuleResult(outcome, decision, rule, error, (time.perf_counter() - start) * 1000)

    try:
        timed_out, answer = await run_decide(fn, req, deadline - start, pool)
    except PoolFull as full:
        return done("busy", None, None, str(full))
    except Exception as exc:
        return done("error", None, None, f"decide raised {exc!r}")
    if timed_out:
        return done("timeout", None, None, timeout_text)
    if answer is None:
        return done("no_match", fallback, None, None)
    try:
        decision, rule = coerce_decision(answer)
    except ValidationError as exc:
        return done("error", None, None, f"decide answered badly: {exc}")
    if directory is not None:
        why = directory.unknown_target_reason(decision.target_id, decision.target_type)
        if why is not None:
            return done("error", None, rule, f"decide answered a target the company does not have: {why}")
    return done("ok", decision, rule, None)


_TIMED_OUT = object()


def _settle(fut: asyncio.Future, result: Any, exc: BaseException | None) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
        fut.exception()  # mark retrieved: after a timeout nobody awaits it
    else:
        fut.set_result(result)
