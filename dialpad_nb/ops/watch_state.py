"""The watcher's memory across restarts: open incidents and alerts not yet delivered, in one small
JSON file, replaced atomically (write a temporary file, then rename) so a crash never leaves half
a file.

Shape (``version`` 1)::

    {"version": 1,
     "incidents": {"<router_id>": {"level": "warning"|"disabled", "opened_at": <ms>, "router": "<name>"}},
     "outbox": [{"router_id": <id>, "kind": "alert"|"escalated"|"resolved", "text": "...", "at": <ms>}]}
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import ValidationError

__all__ = ["WatchState"]

VERSION = 1


@dataclass
class WatchState:
    """Open incidents by router id, and the alerts still to send (oldest first)."""

    path: Path | None = None
    incidents: dict[int, dict[str, Any]] = field(default_factory=dict)
    outbox: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, path: str | os.PathLike | None) -> WatchState:
        """The state kept in ``path`` (a new, empty state when it does not exist yet; None: in memory)."""
        if path is None:
            return cls()
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(path=p)

        def bad(reason: str) -> ValidationError:
            return ValidationError(
                f"{p} is not a watcher state file ({reason}); move it away to start afresh", field="state"
            )

        try:
            data = json.loads(text)
        except ValueError as exc:
            raise bad(f"not JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("version") != VERSION:
            raise bad(f"expected an object with version {VERSION}")
        try:
            incidents = {int(k): dict(v) for k, v in data.get("incidents", {}).items()}
            outbox = [dict(m) for m in data.get("outbox", [])]
        except (ValueError, TypeError, AttributeError) as exc:
            raise bad(str(exc)) from None
        if any(not isinstance(m.get("text"), str) for m in outbox):
            raise bad("an outbox entry has no text")
        return cls(path=p, incidents=incidents, outbox=outbox)

    def save(self) -> None:
        if self.path is None:
            return
        data = {
            "version": VERSION,
            "incidents": {str(k): v for k, v in sorted(self.incidents.items())},
            "outbox": self.outbox,
        }
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.path)
