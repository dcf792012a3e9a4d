"""The sandbox's seeded company: one fictional customer, Harbor & Pine Outfitters.

Read-only directory data (offices, departments, call centres, users) served by
the sandbox at ``/api/v2/offices``, ``/users``, ``/departments``,
``/callcenters``. The sample data in ``data/`` and the notebooks route to these
same ids, so a matrix written against the sample log also validates against
the sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CALLCENTERS",
    "COMPANY",
    "DEPARTMENTS",
    "OFFICES",
    "USERS",
    "Company",
    "Directory",
    "all_targets",
]


@dataclass(frozen=True)
class Company:
    id: int
    name: str
    area_codes: tuple[str, ...]


COMPANY = Company(id=4_820_117_365_904_384, name="Harbor & Pine Outfitters", area_codes=("415", "628", "206"))

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


def all_targets() -> list[dict]:
    """Every routable target: ``{"id", "type", "name", "office_id"}``."""
    out = [{"id": o["id"], "type": "office", "name": o["name"], "office_id": o["id"]} for o in OFFICES]
    out += [
        {"id": d["id"], "type": "department", "name": d["name"], "office_id": d["office_id"]}
        for d in DEPARTMENTS
    ]
    out += [
        {"id": c["id"], "type": "callcenter", "name": c["name"], "office_id": c["office_id"]}
        for c in CALLCENTERS
    ]
    out += [
        {"id": u["id"], "type": "user", "name": u["display_name"], "office_id": u["office_id"]} for u in USERS
    ]
    return out


class Directory:
    """Look-ups over a company directory (by default the seeded one above).

    The sandbox validates default targets and routing answers with
    :meth:`find`, and addresses auto-disable emails with :meth:`admin_email`.
    Entries are the plain dicts above; callers must not mutate them.
    """

    def __init__(
        self,
        *,
        company: Company = COMPANY,
        offices: tuple[dict, ...] = OFFICES,
        departments: tuple[dict, ...] = DEPARTMENTS,
        callcenters: tuple[dict, ...] = CALLCENTERS,
        users: tuple[dict, ...] = USERS,
    ) -> None:
        self.company = company
        self.offices = offices
        self.departments = departments
        self.callcenters = callcenters
        self.users = users
        by_type = {"office": offices, "department": departments, "callcenter": callcenters, "user": users}
        self._targets: dict[tuple[str, int], dict] = {
            (kind, entry["id"]): entry for kind, entries in by_type.items() for entry in entries
        }

    @property
    def primary_office(self) -> dict:
        return next((o for o in self.offices if o.get("is_primary_office")), self.offices[0])

    @property
    def default_area_code(self) -> str:
        return self.company.area_codes[0]

    def office(self, office_id: int) -> dict | None:
        return self._targets.get(("office", office_id))

    def find(self, target_type: str, target_id: int) -> dict | None:
        """The office, department, call centre or user with this type and id, else None."""
        return self._targets.get((target_type, target_id))

    def has_target(self, target_type: str, target_id: int) -> bool:
        return (target_type, target_id) in self._targets

    def target_name(self, target_type: str, target_id: int) -> str | None:
        entry = self.find(target_type, target_id)
        if entry is None:
            return None
        return entry.get("display_name") or entry.get("name")

    def admin_email(self, office_id: int) -> str | None:
        """Where the auto-disable email of a router in this office goes."""
        office = self.office(office_id)
        return office.get("admin_email") if office else None

    def __repr__(self) -> str:
        return f"Directory({self.company.name!r}, {len(self._targets)} targets)"
