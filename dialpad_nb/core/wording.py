"""Words shown to people: counts with the right plural ("1 rule", "3 rules")."""

from __future__ import annotations

__all__ = ["plural"]


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``'1 rule'``, ``'0 rules'``, ``'24,000 calls'``: ``n`` (thousands separated) and the noun,
    singular only for exactly one (``nouns`` when the plural is not ``noun + 's'``)."""
    return f"{n:,} {noun if n == 1 else (nouns or noun + 's')}"
