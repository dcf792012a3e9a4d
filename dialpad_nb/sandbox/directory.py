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
