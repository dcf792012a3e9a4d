"""The company's call routers at a glance (:meth:`FleetAPI.fleet`), and one of them by name
(:meth:`FleetAPI.find_router`).

An account with no routers is an empty fleet, not an error; a name that is not a router's is an
error that lists the names there are.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..core.directory import Directory
from ..core.errors import ValidationError
from ..core.models import CallRouter, parse_id, redact_url

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["FLEET_COLUMNS", "Fleet", "FleetAPI"]

FLEET_COLUMNS: tuple[str, ...] = (
    "name",
    "enabled",
    "office",
    "default_target",
    "phone_numbers",
    "routing_url",
    "signed",
    "id",
)
"""Columns of :attr:`Fleet.frame`: office and default target by name, the URL without its query values."""


@dataclass(frozen=True)
class Fleet:
    """Every call router of a company (sorted by name), read at once; ``frame`` is the table,
    ``routers`` the :class:`CallRouter` objects. ``where`` says which server it was read from."""

    routers: tuple[CallRouter, ...]
    directory: Directory
    where: str

    def __len__(self) -> int:
        return len(self.routers)

    def __iter__(self) -> Iterator[CallRouter]:
        return iter(self.routers)

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.routers]

    @property
    def frame(self) -> pd.DataFrame:
        import pandas as pd

        rows = []
        for router in self.routers:
            d = self.directory.describe(router)
            rows.append(
                {
                    "name": router.name,
                    "enabled": router.enabled,
                    "office": d.office,
                    "default_target": d.default_target,
                    "phone_numbers": ", ".join(router.phone_numbers),
                    "routing_url": redact_url(router.routing_url),
                    "signed": router.has_secret,
                    "id": router.id,
                }
            )
        return pd.DataFrame(rows, columns=list(FLEET_COLUMNS))

    def _caption(self) -> str:
        if not self.routers:
            return f"No call routers at {self.where} yet."
        n = len(self.routers)
        disabled = sum(not r.enabled for r in self.routers)
        off = f", {disabled} disabled" if disabled else ""
        return f"{n} call router{'s' if n != 1 else ''} at {self.where}{off}:"

    def __repr__(self) -> str:
        if not self.routers:
            return self._caption()
        return f"{self._caption()}\n{self.frame.to_string(index=False)}"

    def _repr_html_(self) -> str:
        caption = f"<p>{html.escape(self._caption())}</p>"
        return caption if not self.routers else caption + self.frame.to_html(index=False)


class FleetAPI:
    """:meth:`fleet` and :meth:`find_router`; mixed into :class:`~dialpad_nb.api.client.DialpadClient`."""

    if TYPE_CHECKING:  # provided by DialpadClient
        label: str

        def list_routers(self, office_id: int | str | None = None) -> list[CallRouter]: ...
        def get_router(self, router_id: int | str) -> CallRouter: ...
        def targets(self, *, refresh: bool = False) -> Directory: ...

    def fleet(self) -> Fleet:
        """Every call router of the company, by name, with office and default target by name (empty
        when there are none)."""
        routers = sorted(self.list_routers(), key=lambda r: (r.name.casefold(), r.id))
        return Fleet(tuple(routers), self.targets(), self.label)

    def find_router(self, router: Any = None, *, required: bool = False) -> CallRouter | None:
        """A router by name (case-insensitive), by id, or the :class:`CallRouter` itself.

        ``None``: the first router by name, or None when the company has none (``required=True``:
        a :class:`~dialpad_nb.core.errors.ValidationError` saying so). A name no router has is a
        ValidationError listing the names there are; a name several routers share asks for the id."""
        if isinstance(router, CallRouter):
            return router
        if isinstance(router, bool):
            raise ValidationError(f"{router!r} is not a router name or id", field="router")
        if isinstance(router, int) or (isinstance(router, str) and router.strip().isdigit()):
            return self.get_router(parse_id(router, field="router"))
        if router is not None and not (isinstance(router, str) and router.strip()):
            raise ValidationError(f"{router!r} is not a router name or id", field="router")
        routers = sorted(self.list_routers(), key=lambda r: (r.name.casefold(), r.id))
        if router is None:
            if not routers and required:
                raise ValidationError(
                    f"{self.label} has no call routers yet: there is no router to look at", field="router"
                )
            return routers[0] if routers else None
        wanted = router.strip().casefold()
        found = [r for r in routers if r.name.casefold() == wanted]
        if len(found) == 1:
            return found[0]
        if found:
            ids = ", ".join(str(r.id) for r in found)
            raise ValidationError(
                f"{len(found)} routers are named {router!r} (ids {ids}); give the id", field="router"
            )
        if not routers:
            raise ValidationError(
                f"no call router named {router!r}: {self.label} has no call routers", field="router"
            )
        names = ", ".join(repr(r.name) for r in routers)
        raise ValidationError(
            f"no call router named {router!r}. The routers at {self.label}: {names}", field="router"
        )
