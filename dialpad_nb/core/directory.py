"""The company directory: every routable target (offices, departments, call centres, users)
by id, type and name.

One concept, one class, one argument order: targets are always ``(target_id, target_type)``,
as in Dialpad's routing answer. The client builds it from Dialpad's lists
(:meth:`DialpadClient.targets`), the sandbox from its seeded company, the notebooks show it
as a table, and the sandbox's dispatch checks routing answers with
:meth:`Directory.unknown_target_reason`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import ValidationError
from .models import DIRECTORY_TYPES, CallRouter, DirectoryEntry, html_table, parse_id, validate_target_type
from .wording import plural

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["Directory", "RouterDescription"]


@dataclass(frozen=True)
class Directory(Sequence[DirectoryEntry]):
    """The company's routable targets (offices, departments, call centres, users), with names.

    A sequence of :class:`~dialpad_nb.core.models.DirectoryEntry`; shows as a table in
    Jupyter; :meth:`resolve` finds one by id or name."""

    entries: tuple[DirectoryEntry, ...]
    _index: dict[tuple[int, str], DirectoryEntry] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "entries", tuple(self.entries))
        object.__setattr__(self, "_index", {(e.id, e.type): e for e in self.entries})

    @classmethod
    def from_api(cls, lists: Mapping[str, Iterable[Mapping[str, Any]]]) -> Directory:
        """A directory from Dialpad's list answers by kind: ``{"office": [...], "department": [...],
        "callcenter": [...], "user": [...]}`` (each item as the API returns it)."""
        return cls(
            tuple(DirectoryEntry.from_api(kind, item) for kind, items in lists.items() for item in items)
        )

    def __getitem__(self, index: Any) -> Any:  # int -> entry, slice -> tuple
        return self.entries[index]

    def __len__(self) -> int:
        return len(self.entries)

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        rows = [
            {"type": e.type, "name": e.name, "id": e.id, "office_id": e.office_id, "email": e.email or ""}
            for e in self.entries
        ]
        return pd.DataFrame(rows, columns=["type", "name", "id", "office_id", "email"]).astype(
            {"office_id": "Int64"}
        )

    def _repr_html_(self) -> str:
        return self.to_frame().to_html(index=False)

    def __repr__(self) -> str:
        counts = ", ".join(plural(sum(e.type == t for e in self.entries), t) for t in DIRECTORY_TYPES)
        return f"Directory({counts})"

    def find(self, target_id: int | str, target_type: str | None = None) -> DirectoryEntry | None:
        """The entry with this id (and type, if given), or None."""
        try:
            tid = parse_id(target_id, field="target")
        except ValidationError:
            return None
        if target_type is not None:
            return self._index.get((tid, target_type))
        return next((e for e in self.entries if e.id == tid), None)

    def has_target(self, target_id: int | str, target_type: str) -> bool:
        """Whether the company has a ``target_type`` with this id."""
        return self.find(target_id, target_type) is not None

    def unknown_target_reason(self, target_id: int, target_type: str) -> str | None:
        """None when ``target_type:target_id`` is in the directory, else why not, in words
        (``"target_id 5001 is a department, not a callcenter"``)."""
        if self.has_target(target_id, target_type):
            return None
        other = self.find(target_id)
        if other is not None:
            return f"target_id {target_id} is a {other.type}, not a {target_type}"
        return f"target_id {target_id} is not in the company directory"

    def admin_email(self, office_id: int) -> str | None:
        """The office admin's email (where Dialpad sends the auto-disable notice), or None."""
        office = self.find(office_id, "office")
        return office.email if office is not None else None

    def name_of(self, target_id: int | str, target_type: str | None = None) -> str:
        """A display name for a target: ``"Support Tier 1 (callcenter)"``, or ``"user 123 (not in directory)"``."""
        entry = self.find(target_id, target_type)
        if entry is None:
            return f"{target_type or 'target'} {target_id} (not in directory)"
        return f"{entry.name} ({entry.type})"

    def describe(self, router: CallRouter) -> RouterDescription:
        """``router`` for display, its office and default target by name (the model holds only ids)."""
        return RouterDescription(
            router,
            office=self.name_of(router.office_id, "office"),
            default_target=self.name_of(router.default_target_id, router.default_target_type),
        )

    def resolve(
        self,
        name_or_id: str | int | DirectoryEntry,
        target_type: str | None = None,
        *,
        field: str = "default_target",
    ) -> DirectoryEntry:
        """The one entry named (case-insensitive) or numbered ``name_or_id``.

        ValidationError (naming ``field``) when nothing matches (with close names
        as suggestions) or when a name is ambiguous (say which type)."""
        if isinstance(name_or_id, DirectoryEntry):
            return name_or_id
        if target_type is not None:
            validate_target_type(target_type, field=f"{field}_type")
        pool = [e for e in self.entries if target_type is None or e.type == target_type]
        if isinstance(name_or_id, int) or (isinstance(name_or_id, str) and name_or_id.strip().isdigit()):
            entry = self.find(name_or_id, target_type)
            if entry is None:
                kind = target_type or "target"
                raise ValidationError(f"no {kind} with id {name_or_id} in the company directory", field=field)
            return entry
        if not isinstance(name_or_id, str) or not name_or_id.strip():
            raise ValidationError("give a target name or id", field=field)
        wanted = name_or_id.strip().casefold()
        matches = [e for e in pool if e.name.casefold() == wanted]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            options = "; ".join(e.label for e in matches)
            raise ValidationError(
                f"{name_or_id!r} is ambiguous ({options}); give the type or the id", field=field
            )
        close = difflib.get_close_matches(name_or_id, [e.name for e in pool], n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ValidationError(f"no target named {name_or_id!r} in the company directory{hint}", field=field)


@dataclass(frozen=True)
class RouterDescription:
    """A call router as ops read it: office and default target by name, ids beside them.
    From :meth:`Directory.describe` or :meth:`DialpadClient.describe_router`; display only
    (the :class:`~dialpad_nb.core.models.CallRouter` is in ``router``). The secret never shows."""

    router: CallRouter
    office: str
    """``'San Francisco (office)'``, or ``'office <id> (not in directory)'``."""
    default_target: str
    """``'Support Tier 1 (callcenter)'``, or ``'<type> <id> (not in directory)'``."""

    def to_dict(self) -> dict[str, Any]:
        r = self.router
        return {
            "id": r.id,
            "name": r.name,
            "enabled": r.enabled,
            "phone_numbers": list(r.phone_numbers),
            "routing_url": r.routing_url,
            "office": f"{self.office}, id {r.office_id}",
            "default_target": f"{self.default_target}, id {r.default_target_id}",
            "signed": r.has_secret,
        }

    def __repr__(self) -> str:
        r = self.router
        signed = ", signed=True" if r.has_secret else ""
        return (
            f"RouterDescription(id={r.id}, name={r.name!r}, enabled={r.enabled}, "
            f"routing_url={r.routing_url!r}, office={self.office!r}, "
            f"default_target={self.default_target!r}, phone_numbers={list(r.phone_numbers)}{signed})"
        )

    __str__ = __repr__

    def _repr_html_(self) -> str:
        return html_table(self.to_dict(), caption=f"Call router {self.router.id}: {self.router.name}")
