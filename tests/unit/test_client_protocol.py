"""The sans-IO protocol: request building and response judgement, without sockets."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_smtp2go.client import (
    Smtp2goAmbiguousSendError,
    Smtp2goApiError,
    Smtp2goAuthError,
    Smtp2goRateLimitError,
    Smtp2goSendFailed,
    Smtp2goServerError,
    Smtp2goValidationError,
    is_permanent,
)
from airflow_provider_smtp2go.client.limits import MAX_RETRY_AFTER
from airflow_provider_smtp2go.client.protocol import (
    ApiCall,
    build_http_request,
    interpret_response,
    parse_send_result,
)
from airflow_provider_smtp2go.client.regions import resolve_base_url
from airflow_provider_smtp2go.client.retry import parse_retry_after

SEND = ApiCall("email/send", {"to": ["a@example.com"]})
READ = ApiCall("activity/search", {})


def body(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def test_key_travels_only_in_the_header(fake_api_key: str) -> None:
    request = build_http_request(SEND, base_url="https://api.smtp2go.com/v3", api_key=fake_api_key)
    assert request.url == "https://api.smtp2go.com/v3/email/send"
    assert request.headers["X-Smtp2go-Api-Key"] == fake_api_key
    assert request.headers["Content-Type"] == "application/json"
    assert fake_api_key.encode() not in request.content
    assert fake_api_key not in repr(request)


def test_success_returns_data_and_request_id() -> None:
    result = interpret_response(
        SEND, 200, {}, body({"request_id": "r-1", "data": {"succeeded": 1, "failed": 0, "email_id": "E1"}})
    )
    sent = parse_send_result(result)
    assert (sent.email_id, sent.request_id, sent.succeeded) == ("E1", "r-1", 1)
    assert sent.to_dict() == {"email_id": "E1", "request_id": "r-1", "succeeded": 1, "failed": 0}


@pytest.mark.parametrize(
    "data",
    [
        {"succeeded": 0, "failed": 1, "failures": ["recipient suppressed"], "email_id": "E1"},
        {"succeeded": 1, "failed": 0, "failures": ["partial failure"]},
        {"succeeded": 0, "failed": 0},
    ],
)
def test_200_with_failures_is_a_failed_send(data: dict[str, Any]) -> None:
    result = interpret_response(SEND, 200, {}, body({"request_id": "r-2", "data": data}))
    with pytest.raises(Smtp2goSendFailed) as excinfo:
        parse_send_result(result)
    assert excinfo.value.request_id == "r-2"
    assert is_permanent(excinfo.value)


def test_200_with_data_error_raises() -> None:
    payload = {"request_id": "r-3", "data": {"error": "Sender not verified", "error_code": "E_ApiResponseCodes.X"}}
    with pytest.raises(Smtp2goSendFailed, match="Sender not verified") as sent:
        interpret_response(SEND, 200, {}, body(payload))
    assert type(sent.value) is Smtp2goSendFailed
    with pytest.raises(Smtp2goApiError, match="Sender not verified") as read:
        interpret_response(READ, 200, {}, body(payload))
    assert type(read.value) is Smtp2goApiError  # a read is not a refused email
    assert (sent.value.request_id, sent.value.error_code) == ("r-3", "E_ApiResponseCodes.X")


def test_fastaccept_success_needs_only_email_id() -> None:
    result = interpret_response(SEND, 200, {}, body({"data": {"email_id": "E9"}}))
    assert parse_send_result(result, fastaccept=True).email_id == "E9"


@pytest.mark.parametrize(
    "payload",
    [
        {
            "request_id": "r-4",
            "data": {
                "error": "bad sender",
                "error_code": "E_ApiResponseCodes.NON_VALIDATING_IN_PAYLOAD",
                "field_validation_errors": {"fieldname": "sender", "message": "bad"},
            },
        },
        {
            "request_id": "r-4",
            "error": "bad sender",
            "error_code": "E_ApiResponseCodes.NON_VALIDATING_IN_PAYLOAD",
            "field_validation_errors": {"fieldname": "sender", "message": "bad"},
        },
    ],
    ids=["nested-under-data", "at-root"],
)
def test_error_bodies_are_read_nested_or_at_root(payload: dict[str, Any]) -> None:
    with pytest.raises(Smtp2goApiError) as excinfo:
        interpret_response(SEND, 400, {}, body(payload))
    error = excinfo.value
    assert (error.status, error.error_code, error.request_id) == (
        400,
        "E_ApiResponseCodes.NON_VALIDATING_IN_PAYLOAD",
        "r-4",
    )
    assert error.field_validation_errors == {"fieldname": "sender", "message": "bad"}
    assert "bad sender" in str(error) and "r-4" in str(error)
    assert is_permanent(error)


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors(status: int) -> None:
    with pytest.raises(Smtp2goAuthError):
        interpret_response(READ, status, {}, body({"data": {"error": "nope"}}))


def test_permission_denied_under_400_is_an_auth_error() -> None:
    payload = {"data": {"error_code": "E_ApiResponseCodes.ENDPOINT_PERMISSION_DENIED", "error": "no access"}}
    with pytest.raises(Smtp2goAuthError, match="permission"):
        interpret_response(READ, 400, {}, body(payload))


def test_429_carries_retry_after() -> None:
    with pytest.raises(Smtp2goRateLimitError) as excinfo:
        interpret_response(READ, 429, {"Retry-After": "7"}, body({"data": {"error": "slow down"}}))
    assert excinfo.value.retry_after == 7.0
    assert not is_permanent(excinfo.value)


@pytest.mark.parametrize("status", [500, 502, 504])
def test_5xx_on_send_is_ambiguous_but_on_reads_a_server_error(status: int) -> None:
    with pytest.raises(Smtp2goAmbiguousSendError) as excinfo:
        interpret_response(SEND, status, {}, b"<html>Bad gateway</html>")
    assert "activity" in str(excinfo.value)
    with pytest.raises(Smtp2goServerError):
        interpret_response(READ, status, {}, b"<html>Bad gateway</html>")


@pytest.mark.parametrize("server_says", ["An error occurred processing your request.", "Internal error"])
@pytest.mark.parametrize(("call", "advice"), [(SEND, "The email may"), (ApiCall("webhook/add"), "The webhook may")])
def test_ambiguous_message_ends_the_servers_words_with_one_full_stop(
    server_says: str, call: ApiCall, advice: str
) -> None:
    with pytest.raises(Smtp2goAmbiguousSendError) as excinfo:
        interpret_response(call, 500, {}, body({"data": {"error": server_says}}))
    text = str(excinfo.value)
    assert f"{server_says.removesuffix('.')}. {advice}" in text
    assert ".." not in text
    assert excinfo.value.advice is not None and text.endswith(excinfo.value.advice)


def test_503_on_send_is_a_plain_server_error() -> None:
    with pytest.raises(Smtp2goServerError):
        interpret_response(SEND, 503, {}, body({"data": {"error": "maintenance"}}))


def test_malformed_200_is_not_a_success() -> None:
    with pytest.raises(Smtp2goAmbiguousSendError):
        interpret_response(SEND, 200, {}, b"not json")
    with pytest.raises(Smtp2goServerError, match="non-JSON"):
        interpret_response(READ, 200, {}, b"not json")


def test_key_echoed_by_the_api_is_redacted(fake_api_key: str) -> None:
    payload = {"data": {"error": f"The API Key passed was not in the correct format, {fake_api_key}"}}
    with pytest.raises(Smtp2goAuthError) as excinfo:
        interpret_response(READ, 401, {}, body(payload), secret=fake_api_key)
    assert fake_api_key not in str(excinfo.value)
    assert fake_api_key not in repr(excinfo.value.__dict__)


def test_retry_after_formats() -> None:
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"Retry-After": "Thu, 01 Jan 2026 00:00:10 GMT"}, now=1767225600.0) == 10.0
    assert parse_retry_after({"X-RateLimit-Reset": "1767225630"}, now=1767225600.0) == 30.0
    assert parse_retry_after({"X-RateLimit-Reset": "12"}) == 12.0
    assert parse_retry_after({}) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),  # "now" is a real answer, not an absent one
        ("inf", None),
        ("1e308", None),
        ("nan", None),
        ("-5", None),
        ("5.5", 5.5),  # a fraction is tolerated (RFC 9110 has whole digits only)
        ("+5", None),
        ("soon", None),
        ("99999999999999999999999", MAX_RETRY_AFTER),
        ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_RETRY_AFTER),
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0),
    ],
)
def test_retry_after_is_strict_and_clamped(value: str, expected: float | None) -> None:
    assert parse_retry_after({"Retry-After": value}, now=1767225600.0) == expected


def test_regions_and_base_url_rules() -> None:
    assert resolve_base_url() == "https://api.smtp2go.com/v3"
    assert resolve_base_url("AU") == "https://au-api.smtp2go.com/v3"
    assert resolve_base_url(base_url="http://localhost:8025/v3/") == "http://localhost:8025/v3"
    assert resolve_base_url(base_url="http://[::1]:8025/v3") == "http://[::1]:8025/v3"
    assert resolve_base_url(base_url="https://proxy.example.com/smtp2go/v3") == "https://proxy.example.com/smtp2go/v3"
    with pytest.raises(Smtp2goValidationError, match="region"):
        resolve_base_url("mars")
    with pytest.raises(Smtp2goValidationError) as excinfo:
        resolve_base_url(base_url="http://proxy.example.com/v3")
    assert excinfo.value.rule == "https_required"
    with pytest.raises(Smtp2goValidationError):
        resolve_base_url(base_url="https://user:pw@proxy.example.com/v3")
