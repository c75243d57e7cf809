"""Relays that fail like relays, through the real SDK against the emulator's relay mode.

A relay's own 429 (HTML, plain text or foreign JSON) is a rate limit with no quota evidence that
honours Retry-After; its 401/403 is an authentication failure naming the relay, never the key or a
header value; its 5xx pages are transient. Headers and query tokens reach the relay on every request.
"""

from __future__ import annotations

import io
import time

import httpx2
import pytest

from gemtui import exitcodes
from gemtui.chat.sender import Failed, Finished, Request, Retrying, send
from gemtui.cli import main
from gemtui.exitcodes import for_failure as status_for
from gemtui.gemini.client import make_client
from gemtui.gemini.errors import classify
from gemtui.gemini.ratelimit import parse_retry_after
from gemtui.turns import Turn
from tests.fixtures_e2e import collect

FLASH = "gemini-2.5-flash"
PREFIX = "/relay/acc-PATHCANARY91"
HEADER_VALUE = "hdr-CANARY-5c1e77"
QUERY_TOKEN = "qtok-CANARY-0b9d3"
CANARIES = ("PATHCANARY91", HEADER_VALUE, QUERY_TOKEN)


def relay_url(emulator, query: bool = False) -> str:
    return emulator.base_url + PREFIX + (f"?token={QUERY_TOKEN}" if query else "")


def host_of(emulator) -> str:
    return f"the relay {emulator.base_url}/…"


@pytest.fixture
def relay(emulator):
    emulator.set_relay(prefix=PREFIX, header=f"X-Relay-Key: {HEADER_VALUE}")
    return emulator


def _failure(client, secrets=()):
    try:
        client.models.generate_content(model=FLASH, contents="hi")
    except Exception as exc:  # the real SDK's exception, classified as the sender would
        return classify(exc, secrets=secrets)
    raise AssertionError("the request should have failed")


@pytest.mark.parametrize("kind", ["relay_html_429", "relay_text_429", "relay_json_429"])
def test_a_relay_429_in_any_format_is_a_rate_limit_without_quota_evidence(relay, kind):
    relay.set_fault(kind, seconds=7)
    client = make_client("demo-key", relay_url(relay), "v1beta", headers=[("X-Relay-Key", HEADER_VALUE)])
    failure = _failure(client)
    assert failure.kind == "capacity" and failure.transient and status_for(failure.kind) == exitcodes.EXIT_QUOTA
    assert failure.hit is not None and failure.hit.is_bare  # nothing learned about any quota
    assert failure.retry_after_s == 7 and failure.hit.retry_delay_s == 7
    assert host_of(relay) in failure.message and "429" in failure.message
    assert "not the Gemini API" not in failure.message
    assert not any(c in failure.message for c in CANARIES)


@pytest.mark.parametrize("kind,expected", [("relay_html_502", "server"), ("relay_html_503", "overloaded")])
def test_relay_5xx_pages_are_transient(relay, kind, expected):
    relay.set_fault(kind)
    client = make_client("demo-key", relay_url(relay), "v1beta", headers=[("X-Relay-Key", HEADER_VALUE)])
    failure = _failure(client)
    assert failure.kind == expected and failure.transient and status_for(failure.kind) == exitcodes.EXIT_SERVER
    assert host_of(relay) in failure.message
    assert ("Bad Gateway" if expected == "server" else "Unavailable") in failure.message


def test_a_relay_401_names_the_relay_not_the_key(relay):
    client = make_client("demo-key", relay_url(relay), "v1beta", headers=[("X-Relay-Key", "wrong-value")])
    failure = _failure(client)
    assert failure.kind == "auth" and status_for(failure.kind) == exitcodes.EXIT_AUTH and not failure.transient
    assert host_of(relay) in failure.message and "401" in failure.message
    assert "API key" not in failure.message and "wrong-value" not in failure.message


def test_an_html_answer_of_another_status_is_still_not_gemini(relay):
    client = make_client("demo-key", relay.base_url + "/wrong/prefix", "v1beta")
    failure = _failure(client)
    assert failure.kind == "not_gemini" and status_for(failure.kind) == exitcodes.EXIT_UNREACHABLE
    assert "404" in failure.message and "/wrong" not in failure.message


def test_google_errors_through_a_relay_keep_their_meaning(relay):
    relay.add_key("refused-key", "demo", status="invalid")
    client = make_client("refused-key", relay_url(relay), "v1beta", headers=[("X-Relay-Key", HEADER_VALUE)])
    failure = _failure(client)
    assert failure.kind == "auth" and "API key was refused" in failure.message


async def test_the_sender_waits_the_relays_retry_after_then_answers(relay, engine_factory, shared_clock):
    engine = engine_factory()
    relay.set_fault("relay_html_429", seconds=30)
    client = make_client("demo-key", relay_url(relay), "v1beta", headers=[("X-Relay-Key", HEADER_VALUE)])
    started = shared_clock.now()
    events = await collect(
        send(
            Request([Turn("user", "hi [[tokens=8]]")], preference="flash"), engine=engine, client=client, project="demo"
        )
    )
    (retry,) = [e for e in events if isinstance(e, Retrying)]
    assert retry.until - started >= 30, "Retry-After is a floor under the jittered backoff"
    assert "429" in retry.reason and host_of(relay) in retry.reason
    assert isinstance(events[-1], Finished) and shared_clock.now() - started >= 30
    assert relay.counters()["demo"][FLASH]["accepted"] == 1
    gauge = engine.gauges("demo", [FLASH])[FLASH]["rpm"]
    assert gauge.source == "table" and gauge.invisible == 0, "a relay's 429 teaches nothing about Gemini quota"


async def test_in_auto_a_relays_429_on_pro_is_transient_and_teaches_no_quota(relay, engine_factory):
    """Whether the sender retries Pro after the wait or re-routes at once, the request is answered and the
    engine books no limit, lowering or block for Pro: a relay's limiter says nothing about Gemini's quota."""
    engine = engine_factory()
    relay.set_fault("relay_html_429", seconds=5, model="gemini-2.5-pro")
    client = make_client("demo-key", relay_url(relay), "v1beta", headers=[("X-Relay-Key", HEADER_VALUE)])
    events = await collect(
        send(
            Request([Turn("user", "hi [[tokens=8]]")], preference="auto"), engine=engine, client=client, project="demo"
        )
    )
    assert isinstance(events[-1], Finished), events[-1]
    assert relay.relay_status()["counts"]["429"] == 1
    for gauge in engine.gauges("demo", ["gemini-2.5-pro"])["gemini-2.5-pro"].values():
        assert gauge.source in ("table", "unknown") and gauge.invisible == 0


async def test_a_relay_that_keeps_refusing_ends_in_one_failure(relay, engine_factory):
    engine = engine_factory()
    relay.set_fault("relay_text_429", seconds=1, count=50)
    client = make_client("demo-key", relay_url(relay), "v1beta", headers=[("X-Relay-Key", HEADER_VALUE)])
    events = await collect(
        send(Request([Turn("user", "hi")], preference="flash"), engine=engine, client=client, project="demo")
    )
    assert isinstance(events[-1], Failed) and events[-1].failure.kind == "capacity"
    assert status_for(events[-1].failure.kind) == exitcodes.EXIT_QUOTA


# ---- through `gemtui ask` ----------------------------------------------------------------------------


@pytest.fixture
def ask(monkeypatch, capsys):
    def invoke(*argv: str) -> tuple[int, str, str]:
        monkeypatch.setenv("GEMINI_API_KEY", "demo-key")
        monkeypatch.setattr("sys.stdin", io.StringIO(""))
        code = main(["ask", "--api-version", "v1beta", "--model", "flash", *argv])
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        return code, out, err

    return invoke


def test_ask_through_a_header_authenticated_relay(relay, ask):
    code, out, err = ask(
        "hello [[tokens=10]]", "--endpoint", relay_url(relay), "--header", f"X-Relay-Key: {HEADER_VALUE}"
    )
    assert code == exitcodes.EXIT_OK and out.strip() and err == ""
    assert relay.relay_status()["counts"] == {"passed": 2}  # the day's model list (for `flash`), the answer


def test_ask_without_the_relays_header_is_refused_in_one_line(relay, ask):
    code, out, err = ask("hello", "--endpoint", relay_url(relay), "--header", "X-Relay-Key: not-the-one")
    assert code == exitcodes.EXIT_AUTH and out == ""
    (line,) = err.strip().splitlines()
    assert host_of(relay) in line and "401" in line and "not-the-one" not in line
    assert not any(c in line for c in CANARIES)


def test_ask_honours_a_relays_retry_after(relay, ask):
    relay.set_fault("relay_html_429", seconds=1)
    started = time.monotonic()
    code, out, err = ask(
        "hello [[tokens=10]]", "--endpoint", relay_url(relay), "--header", f"X-Relay-Key: {HEADER_VALUE}"
    )
    assert code == exitcodes.EXIT_OK and out.strip()
    assert time.monotonic() - started >= 1.0
    (line,) = err.strip().splitlines()
    # The bare-429 backoff (2 s base, full jitter) never waits less than the relay's Retry-After.
    assert "429" in line and ("retrying gemini-2.5-flash in 0:01" in line or "in 0:02" in line)


def test_ask_through_a_query_token_endpoint(emulator, ask):
    emulator.set_relay(prefix=PREFIX, query=f"token={QUERY_TOKEN}")
    code, out, err = ask("hello [[tokens=10]]", "--endpoint", relay_url(emulator, query=True))
    assert code == exitcodes.EXIT_OK and out.strip() and err == ""  # streamed: `?alt=sse` and the token
    assert emulator.relay_status()["counts"] == {"passed": 2}  # the day's model list, the answer
    emulator.set_fault("relay_html_502", count=9)
    code, out, err = ask("hello", "--endpoint", relay_url(emulator, query=True))
    assert code == exitcodes.EXIT_SERVER and not any(c in out + err for c in CANARIES)


@pytest.mark.parametrize("header", ["no colon", "Bad Name: x", "X-Goog-Api-Key: other", "X-Empty:"])
def test_bad_headers_are_usage_errors_that_never_echo_a_value(emulator, ask, header):
    code, _, err = ask("hi", "--endpoint", emulator.base_url, "--header", header)
    assert code == exitcodes.EXIT_USAGE and len(err.strip().splitlines()) == 1 and "header" in err
    assert "other" not in err


# ---- the pieces ---------------------------------------------------------------------------------------


def test_retry_after_as_seconds_or_an_http_date_against_the_servers_date():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2026 07:28:30 GMT", "Wed, 21 Oct 2026 07:28:00 GMT") == 30.0
    assert parse_retry_after("Wed, 21 Oct 2026 07:28:30 GMT") is None  # no server clock to measure against
    assert parse_retry_after("soon") is None and parse_retry_after("-4") is None


@pytest.mark.parametrize(
    "exc",
    [
        httpx2.ConnectTimeout("timed out"),
        httpx2.ProxyError("502 Bad Gateway from the proxy"),
        httpx2.ConnectError("[Errno 111] Connection refused"),
    ],
)
def test_connect_failures_are_network_failures_never_rate_limits(exc):
    failure = classify(exc)
    assert failure.kind == "unreachable" and status_for(failure.kind) == exitcodes.EXIT_UNREACHABLE
    assert not failure.transient


def test_a_read_timeout_is_still_a_slow_server():
    assert classify(httpx2.ReadTimeout("read timed out")).kind == "server"


def test_an_echoed_relay_path_shows_no_fragment_of_its_token(emulator, ask):
    """The emulator's 404 names the requested path; once it showed `/acc…KN42` (masked like a key)."""
    code, _, err = ask("hi", "--endpoint", f"{emulator.base_url}/acc-SECRETTOKN42")
    assert code == exitcodes.EXIT_NOT_FOUND
    (line,) = err.strip().splitlines()
    assert "/…/v1beta/models/" in line
    for fragment in ("acc-", "/acc", "TOKN42", "KN42", "SECRET"):
        assert fragment not in line, line


def test_scrub_hides_relay_parts_whole_and_masks_only_the_key():
    from gemtui.auth.resolve import ResolvedProfile
    from gemtui.errors import scrub

    profile = ResolvedProfile(
        "r",
        "AIzaSyKEYKEYKEYKEY1234",
        "https://relay.example:8443/acc-T0KEN?token=Q7Q7Q7",
        "v1beta",
        "free",
        "r",
        "flag",
        headers=(("Authorization", "Bearer BEARER-99"),),
        proxy="http://me:PROXYPW@proxy.example:3128",
    )
    text = (
        "POST https://relay.example:8443/acc-T0KEN/v1beta/models/x?token=Q7Q7Q7 with AIzaSyKEYKEYKEYKEY1234, "
        "Authorization: Bearer BEARER-99 via http://me:PROXYPW@proxy.example:3128 (acc-T0KEN)"
    )
    shown = scrub(text, profile.secrets)
    assert "AIza…1234" in shown and "https://relay.example:8443/…" in shown
    for fragment in ("T0KEN", "Q7Q7", "BEARER", "PROXYPW", "acc-"):
        assert fragment not in shown, shown
    assert "BEARER" not in repr(profile) and "PROXYPW" not in repr(profile)


def test_a_plain_relay_path_is_hidden_without_eating_model_names():
    from gemtui.errors import scrub, url_secrets

    secrets = url_secrets("https://gw.example/gemini")
    text = "POST https://gw.example/gemini/v1beta/models/gemini-2.5-flash: models/gemini-2.5-flash not found"
    shown = scrub(text, secrets)
    assert shown == "POST https://gw.example/…/v1beta/models/gemini-2.5-flash: models/gemini-2.5-flash not found"
    assert scrub("the path /acc-T0KEN.", url_secrets("https://r.example/acc-T0KEN")) == "the path /…."


def test_a_hostile_relay_page_reaches_the_terminal_as_one_plain_line(relay, monkeypatch):
    from gemtui.emulator import relay as relay_module

    page = "\x1b[31mslow\x1b[0m [b]down[/]\r\nnow\x07 " + "x" * 300
    monkeypatch.setattr(relay_module, "TEXT_TOO_MANY_REQUESTS", page)
    relay.set_fault("relay_text_429")
    client = make_client("demo-key", relay_url(relay), "v1beta", headers=[("X-Relay-Key", HEADER_VALUE)])
    failure = _failure(client)
    assert failure.kind == "capacity"
    assert "\x1b" not in failure.message and "\x07" not in failure.message and "\n" not in failure.message
    assert "[b]down[/]" in failure.message and len(failure.message) < 300


def test_a_stream_cut_says_whether_anything_of_the_answer_is_kept():
    """The cut before the first chunk said 'the partial answer is kept' about an answer that never began."""
    from gemtui.gemini.errors import classify

    class RemoteProtocolError(Exception):  # the HTTP client's cut, recognised by its name
        pass

    cut = RemoteProtocolError("peer closed connection without sending complete message body")
    assert classify(cut, streaming_started=True).message.endswith("the partial answer is kept")
    before = classify(cut, streaming_started=False)
    assert before.kind == "stream_cut" and "partial" not in before.message and "nothing of it" in before.message
