"""The sandbox's seeded company: one fictional customer, Harbor & Pine Outfitters.

Read-only directory data (offices, departments, call centres, users) served by
the sandbox at ``/api/v2/offices``, ``/users``, ``/departments``,
``/callcenters``. The sample data in ``data/`` and the notebooks route to these
same ids, so a matrix written against the sample log also validates against
the sandbox. :class:`Company` holds it for the sandbox; ``COMPANY.directory()`` is the
same targets as a :class:`~dialpad_nb.core.directory.Directory`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.directory import Directory
from ..core.errors import ValidationError
from ..core.models import DirectoryEntry

__all__ = [
    "CALLCENTERS",
    "COMPANY",
    "DEPARTMENTS",
    "OFFICES",
    "USERS",
    "Company",
    "all_targets",
]


OFFICES: tuple[dict, ...] = (
    {
        "id": 6_286_560_707_051_431,
        "name": "Harbor & Pine — San Francisco",
        "timezone": "America/Los_Angeles",
        "country": "us",
        "admin_email": "ops-admin@harborpine.example",
        "phone_numbers": ["+14155550100"],
        "is_primary_office": True,
        "state": "active",
    },
    {
        "id": 6_286_560_707_051_432,
        "name": "Harbor & Pine — Seattle",
        "timezone": "America/Los_Angeles",
        "country": "us",
        "admin_email": "seattle-admin@harborpine.example",
        "phone_numbers": ["+12065550100"],
        "is_primary_office": False,
        "state": "active",
    },
)
SF, SEA = OFFICES[0]["id"], OFFICES[1]["id"]

DEPARTMENTS: tuple[dict, ...] = (
    {"id": 5_001_000_000_000_101, "name": "Sales", "office_id": SF},
    {"id": 5_001_000_000_000_102, "name": "Support", "office_id": SF},
    {"id": 5_001_000_000_000_103, "name": "Billing", "office_id": SF},
    {"id": 5_001_000_000_000_104, "name": "Returns", "office_id": SEA},
    {"id": 5_001_000_000_000_105, "name": "Reception", "office_id": SF},
)

CALLCENTERS: tuple[dict, ...] = (
    {"id": 5_002_000_000_000_201, "name": "Inbound Sales", "office_id": SF},
    {"id": 5_002_000_000_000_202, "name": "Support Tier 1", "office_id": SF},
    {"id": 5_002_000_000_000_203, "name": "Support Tier 2", "office_id": SF},
    {"id": 5_002_000_000_000_204, "name": "VIP Desk", "office_id": SF},
    {"id": 5_002_000_000_000_205, "name": "After Hours", "office_id": SEA},
    {"id": 5_002_000_000_000_206, "name": "Spanish Line", "office_id": SEA},
)

_PEOPLE = (
    ("Ada", "Okafor"),
    ("Bruno", "Lindqvist"),
    ("Chen", "Wei"),
    ("Dalia", "Haddad"),
    ("Emeka", "Nwosu"),
    ("Farah", "Qureshi"),
    ("Gus", "Moreau"),
    ("Hana", "Sato"),
    ("Ivan", "Petrov"),
    ("Julia", "Ramos"),
    ("Kofi", "Mensah"),
    ("Lena", "Fischer"),
)
USERS: tuple[dict, ...] = tuple(
    {
        "id": 5_835_806_903_417_900 + i,
        "first_name": first,
        "last_name": last,
        "display_name": f"{first} {last}",
        "emails": [f"{first.lower()}.{last.lower()}@harborpine.example"],
        "office_id": SF if i < 8 else SEA,
        "state": "active",
        "is_admin": i == 0,
    }
    for i, (first, last) in enumerate(_PEOPLE)
)


@dataclass(frozen=True)
class Company:
    """A company as Dialpad's API serves it: its id, name, area codes and the raw directory
    objects (offices, departments, call centres, users), as ``/api/v2`` returns them.

    The sandbox serves one (by default :data:`COMPANY`); :meth:`directory` is the same targets
    as a :class:`~dialpad_nb.core.directory.Directory`."""

    id: int
    name: str
    area_codes: tuple[str, ...]
    offices: tuple[dict, ...]
    departments: tuple[dict, ...] = ()
    callcenters: tuple[dict, ...] = ()
    users: tuple[dict, ...] = ()

    def __post_init__(self) -> None:
        if not self.offices:
            raise ValidationError("a company needs at least one office", field="offices")

    @property
    def primary_office(self) -> dict:
        return next((o for o in self.offices if o.get("is_primary_office")), self.offices[0])

    @property
    def default_area_code(self) -> str:
        return self.area_codes[0]

    def directory(self) -> Directory:
        """The company's routable targets, by id, type and name."""
        return Directory.from_api(
            {
                "office": self.offices,
                "department": self.departments,
                "callcenter": self.callcenters,
                "user": self.users,
            }
        )

    def __repr__(self) -> str:
        n = len(self.offices) + len(self.departments) + len(self.callcenters) + len(self.users)
        return f"Company({self.name!r}, {n} targets)"


COMPANY = Company(
    id=4_820_117_365_904_384,
    name="Harbor & Pine Outfitters",
    area_codes=("415", "628", "206"),
    offices=OFFICES,
    departments=DEPARTMENTS,
    callcenters=CALLCENTERS,
    users=USERS,
)
"""The sample company: Harbor & Pine Outfitters."""


def all_targets() -> list[DirectoryEntry]:
    """Every routable target of the sample company, as directory entries."""
    return list(COMPANY.directory())
