"""Endpoint validation (scheme, host, insecure http) and masking of relay URLs."""

from __future__ import annotations

import pytest

from gemtui.auth import (
    EndpointError,
    endpoint_secrets,
    is_loopback,
    mask_endpoint,
    redact_endpoint,
    validate_endpoint,
)


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://relay.example.com", "https://relay.example.com"),
        ("https://relay.example.com/", "https://relay.example.com"),
        ("  https://relay.example.com/acct/T0KEN/  ", "https://relay.example.com/acct/T0KEN"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://localhost:9000/gemini", "http://localhost:9000/gemini"),
        ("http://[::1]:8000", "http://[::1]:8000"),
        ("HTTPS://Relay.Example.com", "HTTPS://Relay.Example.com"),
        ("https://relay.example.com/p?token=abc/", "https://relay.example.com/p?token=abc/"),
    ],
)
def test_valid_endpoints(url, expected):
    assert validate_endpoint(url) == expected


@pytest.mark.parametrize(
    "url, words",
    [
        ("", "empty"),
        ("relay.example.com", "no scheme"),
        ("ftp://relay.example.com", "'ftp'"),
        ("https://", "no host"),
        ("https:///path", "no host"),
        ("https://relay.example.com:99999", "malformed"),
        ("https://relay example.com", "blanks"),
        ("https://relay.example.com/#frag", "fragment"),
    ],
)
def test_invalid_endpoints_are_one_line_errors(url, words):
    with pytest.raises(EndpointError) as info:
        validate_endpoint(url)
    assert words in str(info.value)
    assert "\n" not in str(info.value)


def test_plain_http_to_a_remote_host_is_refused_without_consent():
    with pytest.raises(EndpointError) as info:
        validate_endpoint("http://relay.example.com/acct/SECRET-TOKEN")
    message = str(info.value)
    assert "in clear" in message and "--allow-insecure-http" in message
    assert "SECRET-TOKEN" not in message  # the refused URL is shown masked
    assert validate_endpoint("http://relay.example.com/x", allow_insecure_http=True) == "http://relay.example.com/x"


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "127.0.0.1", "127.8.9.10", "::1", "[::1]"])
def test_loopback_hosts(host):
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host", ["example.com", "10.0.0.1", "192.168.1.1", "localhost.example.com", "::2", "api.localhost"]
)
def test_non_loopback_hosts(host):
    assert not is_loopback(host)


@pytest.mark.parametrize(
    "url, shown",
    [
        (None, "official API"),
        ("https://relay.example.com", "https://relay.example.com"),
        ("https://relay.example.com/acct/T0KEN", "https://relay.example.com/…"),
        ("https://relay.example.com?key=T0KEN", "https://relay.example.com/…"),
        ("https://user:T0KEN@relay.example.com", "https://relay.example.com/…"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://[::1]:8080/x", "http://[::1]:8080/…"),
        ("not a url", "(invalid URL)"),
    ],
)
def test_mask_endpoint_shows_scheme_and_host_only(url, shown):
    assert mask_endpoint(url) == shown
    if url and "T0KEN" in url:
        assert "T0KEN" not in mask_endpoint(url)


def test_endpoint_secrets_and_redaction():
    url = "https://user:PASSWD@relay.example.com/acct/T0KEN-123?key=QUERYSECRET&x=1"
    pieces = endpoint_secrets(url)
    assert {"/acct/T0KEN-123", "QUERYSECRET", "PASSWD", "user"} <= set(pieces)
    text = f"GET {url} failed; the server said: /acct/T0KEN-123/v1/models not found (key=QUERYSECRET)"
    redacted = redact_endpoint(text, url)
    for secret in ("T0KEN", "QUERYSECRET", "PASSWD"):
        assert secret not in redacted
    assert "https://relay.example.com/…" in redacted and "/…/v1/models not found" in redacted
    assert endpoint_secrets(None) == () and endpoint_secrets("https://relay.example.com") == ()
    plain = "http://127.0.0.1:8080 said no"
    assert redact_endpoint(plain, "http://127.0.0.1:8080") == plain
