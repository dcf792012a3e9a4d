"""JSON from the outside world, decoded strictly: the one decoder of request bodies (sandbox and
endpoint kit).

``json.loads`` accepts things no Dialpad client sends and that break code further on: ``NaN``
and ``Infinity`` (and ``1e400``, which becomes ``inf``), integers of thousands of digits (Python
refuses them with a plain ``ValueError`` past 4,300), nesting deep enough to exhaust the
recursion limit, and strings holding lone surrogates (``"\\ud800"``, which cannot be written
back as UTF-8). :func:`decode_json` refuses each with a
:class:`~dialpad_nb.core.errors.ValidationError` naming where (``body``, ``body.calls[3].at``),
never repeating the text.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .errors import ValidationError

__all__ = ["MAX_DEPTH", "MAX_NUMBER_DIGITS", "decode_json"]

MAX_DEPTH = 32
"""Deepest nesting of arrays/objects accepted (Dialpad's bodies are 2-3 levels deep)."""
MAX_NUMBER_DIGITS = 40
"""Longest number literal accepted (a 64-bit id has 19 digits)."""


def _refuse_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


class _Refused(Exception):
    pass


def _parse_int(text: str) -> int:
    if len(text) > MAX_NUMBER_DIGITS:
        raise _Refused(f"a number of {len(text):,} digits (at most {MAX_NUMBER_DIGITS})")
    return int(text)


def _parse_float(text: str) -> float:
    if len(text) > MAX_NUMBER_DIGITS:
        raise _Refused(f"a number of {len(text):,} characters (at most {MAX_NUMBER_DIGITS})")
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"{text} is out of range (not a finite number)")
    return value


def _decoder() -> json.JSONDecoder:
    return json.JSONDecoder(
        parse_constant=_refuse_constant, parse_int=_parse_int, parse_float=_parse_float, strict=True
    )


_DECODER = _decoder()


def decode_json(raw: bytes | str, *, field: str = "body", max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value of ``raw`` (UTF-8 bytes or text), checked; ``None`` for an empty body.

    Raises ValidationError naming ``field`` (and the place inside it) for malformed JSON (with
    line and column), invalid UTF-8, non-finite or overlong numbers, nesting deeper than
    ``max_depth`` and strings or keys that are not valid Unicode."""
    if isinstance(raw, (bytes, bytearray)):
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationError(f"is not UTF-8 text (byte {exc.start})", field=field) from None
    else:
        text = raw
    text = text.removeprefix("\ufeff")
    if not text.strip():
        return None
    opens = text.count("{") + text.count("[")
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"is not valid JSON (line {exc.lineno}, column {exc.colno})", field=field
        ) from None
    except _Refused as exc:
        raise ValidationError(f"is refused: {exc}", field=field) from None
    except RecursionError:
        raise ValidationError(f"is nested deeper than {max_depth} levels", field=field) from None
    except ValueError as exc:  # anything else json refuses (e.g. its own digit limit)
        raise ValidationError(f"is not usable JSON ({type(exc).__name__})", field=field) from None
    # only escapes (or text handed in as str) can make a lone surrogate; only many brackets, depth
    if opens > max_depth or "\\u" in text or not isinstance(raw, (bytes, bytearray)):
        _check(value, field, max_depth)
    return value


def _check(value: Any, field: str, max_depth: int) -> None:
    """Depth and lone surrogates, iteratively (a recursive walk could itself overflow)."""
    stack: list[tuple[Any, str, int]] = [(value, field, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item, where)
        elif isinstance(item, (dict, list)):
            if depth >= max_depth:
                raise ValidationError(f"is nested deeper than {max_depth} levels", field=field)
            if isinstance(item, dict):
                for key, v in item.items():
                    _check_text(key, f"{where} (a key)")
                    stack.append((v, f"{where}.{_short(key)}", depth + 1))
            else:
                stack.extend((v, f"{where}[{i}]", depth + 1) for i, v in enumerate(item))


def _short(key: str) -> str:
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return "?"
    return key if len(key) <= 40 else key[:40] + "…"


def _check_text(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(
            f"is not valid Unicode text (a lone surrogate at character {exc.start})", field=where
        ) from None
