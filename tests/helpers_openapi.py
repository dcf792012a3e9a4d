"""Validate requests and responses against Dialpad's own schemas (shared/dialpad/openapi-callrouters.json).

The spec is read from the repo's copy in ``tests/data/`` when present, else from ``../shared``.
OpenAPI 3.0 ``nullable`` is honoured via openapi-schema-validator's OAS30 validator.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from openapi_schema_validator import OAS30Validator

HERE = Path(__file__).parent
SPEC_PATH = HERE / "data" / "openapi-callrouters.json"


@cache
def spec() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text())


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref:
        name = ref.rsplit("/", 1)[-1]
        return spec()["components"]["schemas"][name]
    return schema


def validator_for(schema: dict[str, Any]) -> OAS30Validator:
    # Wrap so internal $refs ("#/components/schemas/...") resolve against the whole spec.
    root = dict(spec())
    root_schema = {**_resolve(schema), "components": root["components"]}
    return OAS30Validator(root_schema)


def _operation(method: str, path: str) -> dict[str, Any]:
    """The spec operation for a concrete path like /api/v2/callrouters/123."""
    for template, ops in spec()["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", r"[^/]+", template) + "$"
        if re.match(pattern, path) and method.lower() in ops:
            return ops[method.lower()]
    raise KeyError(f"no operation {method.upper()} {path} in the spec")


def has_operation(method: str, path: str) -> bool:
    try:
        _operation(method, path)
    except KeyError:
        return False
    return True


def validate_response(method: str, path: str, body: Any) -> None:
    """Raise jsonschema.ValidationError if ``body`` does not match the 200 response schema."""
    op = _operation(method, path)
    content = op["responses"]["200"].get("content")
    if not content:
        return
    validator_for(content["application/json"]["schema"]).validate(body)


def validate_request(method: str, path: str, body: Any) -> None:
    """Raise jsonschema.ValidationError if ``body`` does not match the request body schema."""
    op = _operation(method, path)
    rb = op.get("requestBody")
    if rb is None:
        if body not in (None, b"", ""):
            raise AssertionError(f"{method} {path} takes no body, got {body!r}")
        return
    validator_for(rb["content"]["application/json"]["schema"]).validate(body)
