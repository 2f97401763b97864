"""Secrets never survive the shared redaction helper, whatever text they hide in."""

from __future__ import annotations

import logging

from griddesk.redaction import RedactingFilter, redact_text, redact_url, register_secret

TOKEN = "unit-test-token-5c1e/+="


def test_security_token_in_a_requests_error_is_masked():
    text = (
        "ConnectionError: HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded with url: "
        "/api?documentType=A44&securityToken=abc-123-def&periodStart=201606150000 (Caused by NewConnectionError)"
    )
    out = redact_text(text)
    assert "abc-123-def" not in out and "securityToken=***&periodStart=201606150000" in out


def test_registered_secrets_are_masked_plain_and_url_encoded():
    register_secret(TOKEN)
    text = f"echo: GET /api?x=1&tok={TOKEN} and /api?tok=unit-test-token-5c1e%2F%2B%3D and body {TOKEN}"
    out = redact_text(text)
    assert "unit-test-token" not in out and out.count("***") == 3


def test_extra_secrets_passed_by_the_caller_are_masked():
    assert redact_text("client_id=x&client=my-own-secret", ["my-own-secret"]) == "client_id=x&client=***"


def test_urls_lose_their_password_and_secret_query_parameters():
    assert redact_url("postgresql://griddesk:pw-42@db:5432/griddesk") == "postgresql://griddesk:***@db:5432/griddesk"
    assert redact_url("https://x/oauth?client_secret=s3&grant_type=client_credentials") == (
        "https://x/oauth?client_secret=***&grant_type=client_credentials"
    )
    assert redact_text("Authorization: Bearer eyJhbGciOi.eyJzdWIi.c2ln") == "Authorization: Bearer ***"


def test_short_or_empty_secrets_do_not_mask_ordinary_words():
    register_secret("t")
    register_secret("")
    assert redact_text("the token endpoint") == "the token endpoint"


def test_redacting_filter_masks_a_library_log_record_before_any_handler():
    record = logging.LogRecord(
        "urllib3.connectionpool",
        logging.DEBUG,
        __file__,
        1,
        '%s://%s:%s "%s %s %s" %s %s',
        ("http", "127.0.0.1", 8765, "GET", "/api?documentType=A44&securityToken=zz-top-secret", "HTTP/1.1", 503, 40),
        None,
    )
    assert RedactingFilter().filter(record)
    assert "zz-top-secret" not in record.getMessage() and "securityToken=***" in record.getMessage()
