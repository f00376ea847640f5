"""Redaction: no secret, nor any run of 8+ of its characters, leaves in any encoding (issue 10, finding 9)."""

from __future__ import annotations

import json

import pytest

from airflow_provider_smtp2go.client import Smtp2goApiError, Smtp2goAuthError
from airflow_provider_smtp2go.client.protocol import ApiCall, interpret_response
from airflow_provider_smtp2go.client.redaction import MIN_FRAGMENT, REDACTED, contains_secret, redact, redact_obj

READ = ApiCall("activity/search", {})


def leaked_fragments(text: str, key: str) -> list[str]:
    """Every window of 8 characters of ``key`` still present in ``text``."""
    return [key[i : i + MIN_FRAGMENT] for i in range(len(key) - MIN_FRAGMENT + 1) if key[i : i + MIN_FRAGMENT] in text]


def everything_about(exc: Smtp2goApiError) -> str:
    return "\n".join(
        [str(exc), repr(exc), repr(exc.args), repr(exc.field_validation_errors), repr(vars(exc)), exc.message]
    )


def all_escaped(text: str) -> str:
    """``text`` as a JSON string literal where every character is a ``\\uXXXX`` escape."""
    return '"' + "".join(f"\\u{ord(ch):04x}" for ch in text) + '"'


def test_a_json_error_echoing_the_key_in_unicode_escapes_is_redacted(fake_api_key: str) -> None:
    escaped = all_escaped(fake_api_key)
    raw = (
        '{"request_id": "r-1", "data": {"error_code": "E_ApiResponseCodes.API_KEY_INVALID",'
        f' "error": "The API key {escaped[1:-1]} is not valid",'
        f' "field_validation_errors": {{"api_key": {escaped}, {escaped}: ["bad", {escaped}]}}}}}}'
    ).encode()
    assert fake_api_key.encode() not in raw and json.loads(raw)  # only the decoded body holds the key
    with pytest.raises(Smtp2goAuthError) as info:
        interpret_response(READ, 401, {}, raw, secret=fake_api_key)
    assert leaked_fragments(everything_about(info.value), fake_api_key) == []
    assert info.value.field_validation_errors == {"api_key": REDACTED, REDACTED: ["bad", REDACTED]}
    assert info.value.request_id == "r-1"


@pytest.mark.parametrize("offset", [165, 190])
def test_a_non_json_body_is_redacted_before_it_is_cut(fake_api_key: str, offset: int) -> None:
    # The old order (cut at 200 bytes, then look for the whole key) left 35 of its 36 characters.
    raw = ("x" * offset + fake_api_key + " was refused" + "y" * 300).encode()
    with pytest.raises(Smtp2goApiError) as info:
        interpret_response(READ, 400, {}, raw, secret=fake_api_key)
    text = everything_about(info.value)
    assert leaked_fragments(text, fake_api_key) == []
    assert "xxxx" in text  # the start of the body is still shown


def test_fragments_of_eight_or_more_characters_are_removed_anywhere(fake_api_key: str) -> None:
    text = f"a {fake_api_key[:8]} b {fake_api_key[-9:]} c {fake_api_key[5:30]} d {fake_api_key[3:10]} e"
    cleaned = redact(text, fake_api_key)
    assert leaked_fragments(cleaned, fake_api_key) == []
    assert cleaned.startswith("a *** b *** c *** d ")
    assert fake_api_key[3:10] in cleaned  # seven characters identify nothing and stay
    assert redact(fake_api_key.lower(), fake_api_key) != REDACTED  # case-sensitive, like the key


def test_several_secrets_and_no_secret() -> None:
    assert redact("one SECRET-AAAA two SECRET-BBBB", "SECRET-AAAA", "SECRET-BBBB", None, "") == "one *** two ***"
    assert redact("nothing to hide", None) == "nothing to hide"
    assert redact_obj({"k": ("SECRET-AAAA",)}, "SECRET-AAAA") == {"k": [REDACTED]}
    assert not contains_secret("plain text", "SECRET-AAAA")
    assert contains_secret("xx" + "ECRET-AA" + "yy", "SECRET-AAAA")
