"""The /webhook/* builders: what they send, and what they refuse before the network."""

from __future__ import annotations

import pytest

from airflow_provider_smtp2go.client import Smtp2goValidationError, endpoints
from airflow_provider_smtp2go.client.settings import ClientSettings

SETTINGS = ClientSettings.of("api-test-key")


def test_add_sends_only_what_was_given() -> None:
    call = endpoints.webhook_add(
        SETTINGS,
        "https://airflow.example.com/smtp2go/webhooks/",
        events=["bounce", "open"],
        output_format="json",
        auth_header_type="bearer",
        auth_header_value="tok",
    )
    assert call.endpoint == "webhook/add"
    assert call.body == {
        "url": "https://airflow.example.com/smtp2go/webhooks/",
        "events": ["bounce", "open"],
        "output_format": "json",
        "auth_header_type": "bearer",
        "auth_header_value": "tok",
    }
    assert endpoints.webhook_view(SETTINGS, subaccount_id="sub1").body == {"subaccount_id": "sub1"}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"url": "ftp://example.com/"}, "url"),
        ({"url": "https://exa mple.com/"}, "url"),
        ({"url": "http://[::1"}, "url"),
        ({"events": ["hard-bounced"]}, "events"),  # the activity spelling, which SMTP2GO would ignore
        ({"sms_events": ["sms_delivered"]}, "sms_events"),
        ({"output_format": "xml"}, "output_format"),
        ({"auth_header_type": "digest", "auth_header_value": "x"}, "auth_header_type"),
        ({"auth_header_type": "bearer"}, "auth_header_value"),
        ({"headers": ["X-Bad:Header"]}, "headers"),
    ],
)
def test_bad_fields_are_refused_naming_the_field(kwargs: dict[str, object], field: str) -> None:
    url = str(kwargs.pop("url", "https://example.com/hook"))
    with pytest.raises(Smtp2goValidationError) as caught:
        endpoints.webhook_add(SETTINGS, url, **kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_a_bad_auth_value_is_refused_without_echoing_it() -> None:
    secret = "s3cret-value\r\nX-Injected: 1"
    with pytest.raises(Smtp2goValidationError) as caught:
        endpoints.webhook_add(SETTINGS, "https://example.com/hook", auth_header_type="bearer", auth_header_value=secret)
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize("webhook_id", [0, -3, True, "4317", 1.5])
def test_edit_and_remove_need_a_positive_integer_id(webhook_id: object) -> None:
    for build in (endpoints.webhook_edit, endpoints.webhook_remove):
        with pytest.raises(Smtp2goValidationError) as caught:
            build(SETTINGS, webhook_id)  # type: ignore[operator]
        assert caught.value.field == "id"


def test_view_answers_are_read_as_a_list_whatever_their_shape() -> None:
    assert endpoints.parse_webhooks([{"id": 1}, "junk", {"id": 2}]) == [{"id": 1}, {"id": 2}]
    assert endpoints.parse_webhooks({}) == [] and endpoints.parse_webhooks(None) == []


@pytest.mark.parametrize("status", [500, 502, 504])
def test_an_unanswered_add_is_ambiguous_like_a_send(status: int) -> None:
    # A retried add that had reached SMTP2GO would create a second webhook (plans allow one).
    from airflow_provider_smtp2go.client import Smtp2goAmbiguousSendError
    from airflow_provider_smtp2go.client.protocol import interpret_response

    call = endpoints.webhook_add(SETTINGS, "https://example.com/hook", events=["bounce"])
    with pytest.raises(Smtp2goAmbiguousSendError):
        interpret_response(call, status, {}, b"{}")
