import pytest

from dialpad_nb.core import errors
from dialpad_nb.core.errors import (
    APIError,
    BadRequest,
    DialpadError,
    RateLimited,
    ServerError,
    Unauthorized,
    ValidationError,
    error_for_status,
)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, errors.BadRequest),
        (401, errors.Unauthorized),
        (403, errors.Forbidden),
        (404, errors.NotFound),
        (409, errors.Conflict),
        (413, errors.BadRequest),
        (429, errors.RateLimited),
        (500, errors.ServerError),
        (503, errors.ServerError),
        (418, errors.APIError),
    ],
)
def test_error_for_status_maps_every_documented_status(status, cls):
    assert error_for_status(status) is cls


def test_every_error_is_a_dialpad_error():
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type):
            assert issubclass(obj, DialpadError), name


def test_api_error_carries_status_message_and_request_without_query():
    exc = BadRequest("name is required", status=400, method="POST", url="http://x/api/v2/callrouters")
    assert exc.status == 400 and exc.message == "name is required"
    assert "HTTP 400: name is required (POST http://x/api/v2/callrouters)" == str(exc)
    assert isinstance(exc, APIError)


def test_rate_limited_keeps_retry_after():
    exc = RateLimited("slow down", status=429, retry_after_s=120.0)
    assert exc.retry_after_s == 120.0


def test_validation_error_names_field_and_is_a_value_error():
    exc = ValidationError("must be at least 32 characters", field="secret")
    assert str(exc) == "secret: must be at least 32 characters"
    assert exc.field == "secret"
    assert isinstance(exc, ValueError)


def test_server_and_auth_errors_are_distinct():
    assert not issubclass(ServerError, Unauthorized)
    assert issubclass(Unauthorized, APIError)


# --------------------------------------------------------------------------- the tree holds


BUILTIN_ERRORS = {
    name
    for name, obj in vars(__import__("builtins")).items()
    if isinstance(obj, type) and issubclass(obj, BaseException)
}


ALLOWED = {
    "AssertionError",  # invariants that cannot fail (accepted + rejected == records)
    "AttributeError",  # the protocol of a module's __getattr__ (lazy exports)
    "TimeoutError",  # EndpointLog.wait_for_call: waiting for the server, not a user's input
}


def test_every_error_the_package_raises_is_in_its_tree():
    """No ``raise ValueError(...)``/``TypeError``/``KeyError``/... anywhere in dialpad_nb: every
    error a user can cause is a DialpadError (still a ValueError etc. where that is what it is)."""
    import ast
    import pathlib

    import dialpad_nb

    offenders = []
    for path in sorted(pathlib.Path(dialpad_nb.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                func = node.exc.func
                if isinstance(func, ast.Name) and func.id in BUILTIN_ERRORS - ALLOWED:
                    offenders.append(f"{path.name}:{node.lineno} raise {func.id}")
    assert offenders == []


def test_user_errors_keep_their_builtin_meaning():
    assert issubclass(errors.InvalidType, ValueError) and issubclass(errors.InvalidType, TypeError)
    assert issubclass(errors.SourceNotFound, FileNotFoundError)
    assert issubclass(errors.ServerNotStarted, RuntimeError)
    from dialpad_nb.sandbox.store import MissingRecord, StoreClosed

    assert issubclass(MissingRecord, DialpadError) and issubclass(MissingRecord, LookupError)
    assert issubclass(StoreClosed, DialpadError) and issubclass(StoreClosed, RuntimeError)
