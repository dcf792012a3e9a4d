"""``dialpad-nb endpoint``: serve a routing matrix (or a Python rule) as Dialpad's routing endpoint.

::

    dialpad-nb endpoint --matrix routing.csv --timezone America/Los_Angeles --crm crm.csv \\
        --secret-env ROUTER_SECRET --log endpoint.jsonl --workers 2 --watch

    # try a candidate on live calls: a shadow, and 5 % of callers answered by it
    dialpad-nb endpoint --matrix routing.csv --shadow candidate=routing_candidate.csv \\
        --canary candidate=0.05 --admin-token-env CANARY_ADMIN_TOKEN --alert-url-env CANARY_ALERT_URL ...

The command line becomes one JSON *spec* (:func:`endpoint_spec`); :func:`app_from_spec` builds
the app from it, in this process (one worker) or in each of ``--workers`` processes
(``dialpad_nb.cli._endpoint_worker``). A bad matrix, CRM export, secret or flag is refused
before anything listens (status 2), naming every row and column at fault.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from collections.abc import Mapping
from typing import Any

from ..core.policy import DIALPAD

__all__ = ["SPEC_ENV", "add", "app_from_spec", "endpoint_app", "endpoint_spec", "rule_source"]

SPEC_ENV = "DIALPAD_NB_ENDPOINT_SPEC"
"""The environment variable that carries the spec to worker processes (never the secret itself:
only the name of the variable holding it)."""

WORKER_FACTORY = "dialpad_nb.cli._endpoint_worker:app"


def endpoint_spec(args: argparse.Namespace, environ: Mapping[str, str]) -> dict[str, Any]:
    """The serving settings of a parsed command line, as JSON-able data (ValidationError if a flag
    is bad). ``--check-directory`` fetches the company directory here, once."""
    from ..core.errors import ValidationError

    shadows = _shadow_args(args.shadow or [])
    canary = _canary_args(args.canary or [], shadows)
    if args.matrix is None:
        for flag, value in (("timezone", args.timezone), ("crm", args.crm), ("watch", args.watch)):
            if value and not (shadows and flag != "watch"):
                raise ValidationError(
                    "only with --matrix" + (" or --shadow" if flag != "watch" else ""), field=flag
                )
        if args.check_directory:
            raise ValidationError("only with --matrix", field="check-directory")
    if (args.matrix is not None or shadows) and not args.timezone:
        raise ValidationError(
            "give the timezone the matrix's hours and days are in, e.g. --timezone America/Los_Angeles "
            "(--timezone UTC if they are in UTC)",
            field="timezone",
        )
    spec: dict[str, Any] = {
        "rules": args.rules,
        "matrix": os.path.abspath(args.matrix) if args.matrix else None,
        "timezone": args.timezone,
        "crm": os.path.abspath(args.crm) if args.crm else None,
        "directory": None,
        "fallback": list(args.fallback) if args.fallback else None,
        "secret_env": args.secret_env,
        "budget": args.budget,
        "log": os.path.abspath(args.log) if args.log else None,
        "log_max_bytes": args.log_max_bytes,
        "log_keep": args.log_keep,
        "watch": args.watch_interval if args.watch else None,
        "shadows": [[name, os.path.abspath(path)] for name, path in shadows],
        "shadow_budget": args.shadow_budget,
        "canary": canary,
        "canary_min_calls": args.canary_min_calls,
        "canary_margin": args.canary_margin,
        "canary_salt": args.canary_salt,
        "canary_state": None,
        "admin_token_env": args.admin_token_env,
        "alert_url_env": args.alert_url_env,
    }
    if args.check_directory:
        spec["directory"] = _fetch_directory(environ)
    return spec


def _fetch_directory(environ: Mapping[str, str]) -> list[list[Any]]:
    from ..connection import connect

    client = connect(environ)
    try:
        return [[e.id, e.type, e.name] for e in client.targets()]
    finally:
        client.close()


def _shadow_args(values: list[str]) -> list[tuple[str, str]]:
    from ..core.errors import ValidationError

    out: list[tuple[str, str]] = []
    for text in values:
        name, sep, path = text.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ValidationError(
                f"expected NAME=CSV such as candidate=routing_candidate.csv, got {text!r}", field="shadow"
            )
        if name.strip() in [n for n, _ in out]:
            raise ValidationError(f"two shadows named {name.strip()!r}", field="shadow")
        out.append((name.strip(), path.strip()))
    return out


def _canary_args(values: list[str], shadows: list[tuple[str, str]]) -> dict[str, float] | None:
    from ..core.errors import ValidationError
    from ..endpoint.canary import check_share

    if not values:
        return None
    names = [n for n, _ in shadows]
    out: dict[str, float] = {}
    for text in values:
        name, sep, share = text.partition("=")
        name = name.strip()
        if not sep:
            raise ValidationError(f"expected NAME=SHARE such as candidate=0.05, got {text!r}", field="canary")
        if name not in names:
            raise ValidationError(
                f"{name!r} is not a shadow: give it with --shadow {name}=CSV (shadows: {', '.join(names) or 'none'})",
                field="canary",
            )
        try:
            value = float(share)
        except ValueError:
            raise ValidationError(
                f"{share.strip()!r} is not a number from 0 to 1", field=f"canary {name}"
            ) from None
        out[name] = check_share(value, field=f"canary {name}")
    return out


def _env_value(name: str | None, environ: Mapping[str, str], flag: str) -> str | None:
    from ..core.errors import ValidationError

    if not name:
        return None
    value = environ.get(name)
    if not value:
        raise ValidationError(f"environment variable {name} is not set", field=flag)
    return value


def _directory(spec: Mapping[str, Any]) -> Any:
    from ..core.models import DirectoryEntry

    if spec.get("directory") is None:
        return None
    return [DirectoryEntry(int(i), str(t), str(n)) for i, t, n in spec["directory"]]


def shadow_sources(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The shadows (``--shadow NAME=CSV``) a spec serves, as matrix sources."""
    from ..rules.matrix_file import MatrixSource

    return {
        name: MatrixSource(
            path, timezone=spec["timezone"], crm=spec["crm"], directory=_directory(spec), name=name
        )
        for name, path in spec.get("shadows") or []
    }


def rule_source(spec: Mapping[str, Any]) -> Any:
    """The rule (``--rules``) or the matrix source (``--matrix``) a spec serves."""
    from ..endpoint.app import load_rules
    from ..rules.matrix_file import MatrixSource

    if spec["matrix"]:
        return MatrixSource(
            spec["matrix"], timezone=spec["timezone"], crm=spec["crm"], directory=_directory(spec)
        )
    import inspect

    rules = load_rules(spec["rules"])
    return rules() if inspect.isclass(rules) else rules


def _secret(spec: Mapping[str, Any], environ: Mapping[str, str]) -> str | None:
    from ..core.errors import ValidationError
    from ..core.models import validate_secret

    name = spec["secret_env"]
    if not name:
        return None
    secret = environ.get(name)
    if not secret:
        raise ValidationError(f"environment variable {name} is not set", field="secret-env")
    validate_secret(secret, field=f"${name}")
    return secret


def app_from_spec(spec: Mapping[str, Any], environ: Mapping[str, str]) -> Any:
    """The routing-endpoint app of a spec (in this process or a worker)."""
    from ..core.errors import ValidationError
    from ..endpoint.app import routing_endpoint
    from ..endpoint.log import EndpointLog

    source = rule_source(spec)
    fallback = tuple(spec["fallback"]) if spec["fallback"] else getattr(source, "fallback", None)
    if fallback is None and not spec["matrix"]:
        raise ValidationError(
            "give --fallback TYPE:ID (the rules object has no 'fallback')", field="fallback"
        )
    log = EndpointLog(spec["log"], max_bytes=spec["log_max_bytes"], max_files=spec["log_keep"])
    experiment: dict[str, Any] = {}
    if spec.get("shadows"):
        experiment.update(shadows=shadow_sources(spec), shadow_budget_s=spec.get("shadow_budget"))
    if spec.get("canary") is not None:
        experiment.update(
            canary=spec["canary"],
            canary_min_calls=spec["canary_min_calls"],
            canary_margin=spec["canary_margin"],
            canary_salt=spec["canary_salt"],
            canary_state=spec.get("canary_state"),
        )
    return routing_endpoint(
        source,
        secret=_secret(spec, environ),
        fallback=fallback,
        budget_s=spec["budget"],
        log=log,
        watch_s=spec["watch"],
        admin_token=_env_value(spec.get("admin_token_env"), environ, "admin-token-env"),
        alert_url=_env_value(spec.get("alert_url_env"), environ, "alert-url-env"),
        directory=_directory(spec),
        **experiment,
    )


def endpoint_app(args: argparse.Namespace, environ: Mapping[str, str]) -> Any:
    """The routing-endpoint app the ``endpoint`` subcommand serves (ValidationError if a flag is bad)."""
    return app_from_spec(endpoint_spec(args, environ), environ)


def _check_spec(spec: Mapping[str, Any], environ: Mapping[str, str]) -> Any:
    """Everything a worker will do at start that can fail, done once here (nothing written)."""
    from ..core.errors import DialpadError, ValidationError

    _secret(spec, environ)
    _env_value(spec.get("admin_token_env"), environ, "admin-token-env")
    _env_value(spec.get("alert_url_env"), environ, "alert-url-env")
    for name, shadow in shadow_sources(spec).items():
        try:
            shadow.load()
        except DialpadError as exc:
            raise ValidationError(str(exc), field=f"shadow {name!r}") from None
    source = rule_source(spec)
    if spec["matrix"]:
        return source.load()
    if not spec["fallback"] and getattr(source, "fallback", None) is None:
        raise ValidationError(
            "give --fallback TYPE:ID (the rules object has no 'fallback')", field="fallback"
        )
    return source


def _fallback_arg(text: str) -> tuple[int, str]:
    kind, sep, ident = text.partition(":")
    if not sep or not ident.strip().isdigit():
        raise argparse.ArgumentTypeError(
            f"expected TYPE:ID such as callcenter:5002000000000202, got {text!r}"
        )
    return int(ident), kind.strip()


def _size_arg(text: str) -> int:
    units = {"": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3, "gb": 1024**3}
    digits = text.strip().rstrip("BbKkMmGg")
    unit = text.strip()[len(digits) :].lower()
    if not digits.isdigit() or unit not in units or int(digits) < 1:
        raise argparse.ArgumentTypeError(f"expected a size such as 100MB or 1048576, got {text!r}")
    return int(digits) * units[unit]


def _positive_int(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


class _Stderr(logging.StreamHandler):
    """A handler writing to whatever ``sys.stderr`` is when it writes (not when it was made)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def _setup_logging() -> None:
    log = logging.getLogger("dialpad_nb.endpoint")
    if not log.handlers:
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("%(asctime)s [%(process)d] %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)


def _run_endpoint(args: argparse.Namespace) -> int:
    import shutil
    import signal

    from ..core.errors import DialpadError
    from ..core.serving import run_workers
    from ..endpoint.app import serve_endpoint_foreground
    from ..endpoint.metrics import MULTIPROC_ENV

    if hasattr(signal, "SIGHUP"):  # until the app listens for it, a SIGHUP must not kill the process
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    _setup_logging()
    try:
        spec = endpoint_spec(args, os.environ)
        if args.workers == 1:
            return serve_endpoint_foreground(app_from_spec(spec, os.environ), host=args.host, port=args.port)
        loaded = _check_spec(spec, os.environ)
    except (DialpadError, OSError) as exc:
        print(f"dialpad-nb endpoint: {exc}", file=sys.stderr)
        return 2

    def banner(url: str) -> list[str]:
        lines = [f"Routing endpoint listening on {url}/"]
        lines.append(f"Signed requests: {'required (HS256)' if spec['secret_env'] else 'no (plain JSON)'}")
        if spec["matrix"]:
            lines.append(
                f"Rules: {loaded.name} ({len(loaded.rule_names)} rules, sha256 {loaded.sha256[:12]}); "
                f"fallback {loaded.fallback.target_type} {loaded.fallback.target_id}"
            )
        lines.append(f"Log: {spec['log'] or '(memory only)'}")
        lines.append("Health: GET /healthz; metrics: GET /metrics (all workers)")
        if spec.get("shadows"):
            lines.append("Shadows: " + ", ".join(name for name, _ in spec["shadows"]))
        if spec.get("canary") is not None:
            shares = ", ".join(f"{n} {v:.0%}" for n, v in spec["canary"].items())
            lines.append(
                f"Canary: {shares} (stops itself; state shared by the workers, counts per worker)"
                + ("; admin: /admin/canary" if spec.get("admin_token_env") else "")
            )
        if spec["matrix"]:
            lines.append("Reload: send SIGHUP" + (" (watching the files)" if spec["watch"] else ""))
        return lines

    metrics_dir = tempfile.mkdtemp(prefix="dialpad-nb-metrics-")
    if spec.get("canary") is not None:  # the workers share the canary's shares and stops through this file
        spec["canary_state"] = os.path.join(metrics_dir, "canary-state.json")
    try:
        return run_workers(
            WORKER_FACTORY,
            workers=args.workers,
            host=args.host,
            port=args.port,
            label="endpoint",
            banner=banner,
            environ={SPEC_ENV: json.dumps(spec), MULTIPROC_ENV: metrics_dir},
        )
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def add(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "endpoint",
        help="serve a routing matrix (or a Python rule) as a routing endpoint",
        description="Serve Dialpad routing requests from a routing matrix CSV (the same decisions replay "
        "gives) or a Python rule; verifies HS256 JWTs when a secret is given, answers a fallback when the "
        "rule is slow or fails, appends one JSON line per request to the log, answers GET /healthz and "
        "GET /metrics (Prometheus). SIGHUP reloads the matrix (a bad one is refused, the old one keeps "
        "serving). Stops on Ctrl-C/SIGTERM after finishing the requests in flight.",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--matrix", metavar="CSV", default=None, help="a routing matrix (data/ROUTING_MATRIX.md)"
    )
    what.add_argument(
        "--rules", metavar="MODULE:CALLABLE", default=None, help="a Python rule, e.g. mypkg.rules:decide"
    )
    p.add_argument(
        "--timezone", metavar="AREA/CITY", default=None, help="where the matrix's hours/days are read"
    )
    p.add_argument(
        "--crm", metavar="CSV", default=None, help="contact export joined on the caller (crm.* fields)"
    )
    p.add_argument(
        "--check-directory",
        action="store_true",
        help="check the matrix's targets against the company directory (connect(): DIALPAD_API_KEY, "
        "else the embedded sandbox), fetched once at start",
    )
    p.add_argument(
        "--fallback",
        type=_fallback_arg,
        default=None,
        metavar="TYPE:ID",
        help="target answered when the rule is slow or fails (default: the matrix's default row, "
        "or the rule's .fallback)",
    )
    p.add_argument(
        "--secret-env",
        metavar="VAR",
        default=None,
        help="environment variable holding the router secret (default: none; unsigned JSON requests are accepted)",
    )
    p.add_argument(
        "--budget",
        type=float,
        default=4.0,
        help="seconds the rule may take before the fallback is answered "
        f"(default: 4, below Dialpad's {DIALPAD.deadline_s:g} s deadline)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 = any free port)")
    p.add_argument("--workers", type=_positive_int, default=1, help="worker processes (default: 1)")
    p.add_argument("--log", metavar="FILE", default=None, help="JSONL log to append to (default: none)")
    p.add_argument(
        "--log-max-bytes",
        type=_size_arg,
        default=None,
        metavar="SIZE",
        help="rotate the log when it would pass SIZE (e.g. 100MB); rotated files are gzipped",
    )
    p.add_argument(
        "--log-keep",
        type=_positive_int,
        default=None,
        metavar="N",
        help="keep N rotated files (default: all)",
    )
    p.add_argument(
        "--watch", action="store_true", help="reload the matrix (and CRM) when the files change and settle"
    )
    p.add_argument(
        "--shadow",
        action="append",
        metavar="NAME=CSV",
        help="a candidate matrix evaluated on every request beside the answer, never delaying it "
        "(repeatable; same --timezone and --crm; reloaded with the matrix)",
    )
    p.add_argument(
        "--shadow-budget",
        type=float,
        default=None,
        metavar="S",
        help="seconds each shadow may take (default: half of --budget)",
    )
    p.add_argument(
        "--canary",
        action="append",
        metavar="NAME=SHARE",
        help="answer SHARE of callers (0-1, sticky per caller) with the shadow NAME; its failing answers "
        "are replaced by the control's and it stops itself when it fails more than the control",
    )
    p.add_argument(
        "--canary-min-calls", type=_positive_int, default=50, metavar="N",
        help="candidate calls counted before the automatic stop may decide (default: 50)",
    )  # fmt: skip
    p.add_argument(
        "--canary-margin", type=float, default=0.05, metavar="RATE",
        help="stop when the candidate's failure rate exceeds the control's by more than this (default: 0.05)",
    )  # fmt: skip
    p.add_argument(
        "--canary-salt", default="dialpad_nb-canary", metavar="TEXT",
        help="salt of the caller hash (change it to draw other callers)",
    )  # fmt: skip
    p.add_argument(
        "--admin-token-env", metavar="VAR", default=None,
        help="environment variable holding the token of /admin/canary (32+ characters; default: no admin route)",
    )  # fmt: skip
    p.add_argument(
        "--alert-url-env", metavar="VAR", default=None,
        help="environment variable holding a URL told (Slack-style JSON {\"text\"}) when the canary stops",
    )  # fmt: skip
    p.add_argument(
        "--watch-interval", type=float, default=1.0, metavar="S", help="seconds between checks (default: 1)"
    )
    p.set_defaults(func=_run_endpoint)
