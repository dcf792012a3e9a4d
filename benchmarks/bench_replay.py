"""Replay speed: vectorised RuleSet.decide_all vs the per-call loop (what an endpoint does), same run.

    .venv/bin/python benchmarks/bench_replay.py [--calls 1000000] [--sample 20000] [--repeat 3]

A generated month of traffic (``dialpad_nb.samples.generate``, typed like ``read_calls``'
output), a ~50-row routing matrix mixing every condition kind (dialled number,
caller prefixes, a regex, CRM segment/status, hours and weekday windows in
America/Los_Angeles, negation), joined to the generated CRM export.

* vectorised: ``rules.decide_all(calls)`` over all calls, CRM join included
  (best of ``--repeat`` runs, first run printed too);
* per call: ``rules.decide(RoutingRequest)`` with a CRM lookup per call, run on a
  random sample of ``--sample`` calls and extrapolated linearly to all calls.

Both paths are checked to give identical decisions on the sample. Targets on
the 2-core CI machine: ratio >= 30x and vectorised <= 1 s for 1,000,000 calls.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd

from dialpad_nb.core.models import RoutingRequest
from dialpad_nb.rules.enrich import Enrichment
from dialpad_nb.rules.ruleset import RuleSet
from dialpad_nb.samples import generate as datagen
from dialpad_nb.samples.company import CALLCENTERS, DEPARTMENTS, USERS

SEED = 7
TZ = "America/Los_Angeles"
AREA_CODES = ["212", "213", "214", "303", "305", "312", "323", "404", "415", "503", "512", "602", "617",
              "628", "702", "713", "714", "763", "818", "917", "951", "206", "571", "323"]  # fmt: skip


def build_matrix() -> str:
    """~50 rows over every condition kind, ending with a default."""
    cc = [c["id"] for c in CALLCENTERS]
    dept = [d["id"] for d in DEPARTMENTS]
    lines = [
        "rule,internal_number,external_number,contact_type,crm.segment,crm.status,hours,days,target_id,target_type"
    ]
    n = datagen.INTERNAL_NUMBERS
    add = lines.append
    add(f"vip,,,,enterprise,customer,07:00-19:00,mon-fri,{cc[3]},callcenter")
    add(f"spanish_night,{n['spanish']},,,,,18:00-08:00,,{cc[4]},callcenter")
    add(f"spanish,{n['spanish']},,,,,,,{cc[5]},callcenter")
    add(f"uk,,re:^\\+44,,,,,,{cc[1]},callcenter")
    add(f"campaign,{n['campaign']},,,,,,,{cc[0]},callcenter")
    add(f"winback,{n['support']},,,,churned,08:00-18:00,mon-fri,{dept[0]},department")
    for i, code in enumerate(dict.fromkeys(AREA_CODES)):  # regional sales desks by caller area code
        user = USERS[i % len(USERS)]["id"]
        add(f"sales_{code},{n['sales']},prefix:+1{code},,,,09:00-17:00,mon-fri,{user},user")
    for i, code in enumerate(["212", "312", "415", "617", "713"]):  # key accounts' regional support
        add(
            f"support_{code},{n['support']},prefix:+1{code},shared,!consumer,,08:00-17:00,mon-fri,{USERS[i]['id']},user"
        )
    for i, seg in enumerate(["smb", "consumer"]):
        add(f"support_{seg}_day,{n['support']},,shared,{seg},,07:00-19:00,mon-fri,{cc[1 + i]},callcenter")
        add(f"support_{seg}_sat,{n['support']},,,{seg},!churned,09:00-15:00,sat,{cc[1]},callcenter")
    for i, (h, d) in enumerate(
        [("06:00-09:00", "mon-fri"), ("17:00-20:00", "mon-fri"), ("10:00-16:00", "sat|sun")]
    ):
        add(f"sales_shift_{i},{n['sales']},,,,,{h},{d},{dept[0]},department")
        add(f"support_shift_{i},{n['support']},,,,,{h},{d},{cc[1]},callcenter")
    add(f"prospects,,,,,prospect,,weekdays,{cc[0]},callcenter")
    add(f"local_contacts,,,local,,,,,{dept[4]},department")
    add(f"unknown_callers,,,null,,,08:00-18:00,,{dept[4]},department")
    add(f"after_hours,,,,,,18:00-08:00,,{cc[4]},callcenter")
    add(f"weekend,,,,,,,weekend,{cc[4]},callcenter")
    add(f"default,,,,,,,,{dept[4]},department")
    return "\n".join(lines) + "\n"


def typed_calls(n: int) -> pd.DataFrame:
    """Generated payloads in ``read_calls``' column types (without reading a file)."""
    raw = datagen.generate_calls(n, seed=SEED)
    return pd.DataFrame(
        {
            "date_started": pd.to_datetime(raw["date_started"], unit="ms", utc=True).astype(
                "datetime64[ms, UTC]"
            ),
            "call_id": raw["call_id"].astype("int64"),
            "external_number": raw["external_number"].astype("string"),
            "internal_number": raw["internal_number"].astype("string"),
            "contact_id": raw["contact_id"].astype("string"),
            "contact_type": raw["contact_type"].astype("string"),
        }
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--sample", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    calls = typed_calls(args.calls)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        crm = Enrichment.from_frame(datagen.generate_crm(seed=SEED))
        rules = RuleSet.from_text(build_matrix(), timezone=TZ, name="bench").with_enrichment(crm)
    setup = time.perf_counter() - t0
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}, pandas {pd.__version__}")
    print(
        f"setup: {len(calls):,} generated calls, {len(rules.rule_names)}-row matrix, "
        f"{len(crm):,} CRM contacts ({setup:.1f} s, not timed below)"
    )

    times = []
    for _ in range(max(1, args.repeat)):
        t = time.perf_counter()
        decided = rules.decide_all(calls)
        times.append(time.perf_counter() - t)
    vec = min(times)
    hits = decided["rule"].value_counts()
    print(
        f"vectorised decide_all (CRM join included): best {vec:.3f} s of {len(times)} "
        f"(first {times[0]:.3f} s) = {len(calls) / vec:,.0f} calls/s; "
        f"{(hits > 0).sum()} of {len(rules.rule_names)} rules hit, {decided['is_default'].mean():.1%} to default"
    )

    rng = np.random.default_rng(SEED)
    sample_pos = np.sort(rng.choice(len(calls), size=min(args.sample, len(calls)), replace=False))
    sample = calls.iloc[sample_pos]
    requests = [
        RoutingRequest(
            date_started=int(ds.value // 1_000_000),
            call_id=int(cid),
            external_number=ext,
            internal_number=internal,
            contact_id=None if pd.isna(c_id) else c_id,
            contact_type=None if pd.isna(c_type) else c_type,
        )
        for ds, cid, ext, internal, c_id, c_type in zip(
            sample["date_started"], sample["call_id"], sample["external_number"], sample["internal_number"],
            sample["contact_id"], sample["contact_type"], strict=True,
        )
    ]  # fmt: skip
    t = time.perf_counter()
    answers = [rules.decide(r) for r in requests]
    loop = time.perf_counter() - t
    per_call = loop / len(requests)
    extrapolated = per_call * len(calls)
    print(
        f"per-call loop (decide(RoutingRequest) + CRM lookup): {len(requests):,} sampled calls in {loop:.2f} s "
        f"= {per_call * 1e6:.1f} µs/call; extrapolated to {len(calls):,} calls: {extrapolated:.1f} s"
    )

    got = decided.iloc[sample_pos]
    same = (
        got["rule"].astype(str).to_numpy() == np.array([a.rule for a in answers], dtype=object)
    ).all() and (
        got["target_id"].to_numpy(dtype=np.int64) == np.array([a.target_id for a in answers], dtype=np.int64)
    ).all()
    print(f"identical decisions on the sample: {bool(same)}")
    ratio = extrapolated / vec
    print(f"ratio (per-call extrapolated / vectorised): {ratio:.0f}x  [targets: >= 30x, <= 1 s for 1M calls]")
    verdict = ratio >= 30 and (vec <= 1.0 or len(calls) < 1_000_000)
    print("targets met" if verdict and same else "TARGETS NOT MET")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
