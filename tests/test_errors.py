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
