"""The emulator's relay mode: a path prefix, a required header and query token, and the relay's own
error pages (HTML 401/403/404/429/502/503, plain-text and foreign-JSON 429s), seen through the real SDK."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from google import genai
from google.genai import errors, types

from gemtui.emulator import RELAY_FAULT_KINDS
from tests.fixtures_emulator import emulator_http

PREFIX = "/relay/acc-TOKEN42"
HEADER = ("X-Relay-Key", "hdr-secret-value")
FLASH = "gemini-2.5-flash"


def relay_client(emulator, *, prefix: str = PREFIX, headers: dict | None = None, query: str = ""):
    base = emulator.base_url + prefix + (f"?{query}" if query else "")
    return genai.Client(
        api_key="demo-key",
        http_options=types.HttpOptions(
            base_url=base, api_version="v1beta", headers=headers if headers is not None else dict([HEADER])
        ),
    )


def admin(emulator, method: str, action: str, body: dict | None = None) -> tuple[int, dict]:
    return emulator_http(emulator, method, f"/_emulator/{action}", body)


def test_the_api_answers_only_under_the_prefix_with_the_header(emulator):
    emulator.set_relay(prefix=PREFIX, header="X-Relay-Key: hdr-secret-value")
    client = relay_client(emulator)
    assert client.models.generate_content(model=FLASH, contents="hi").text
    assert client.models.get(model=FLASH).name.endswith(FLASH)
    chunks = list(client.models.generate_content_stream(model=FLASH, contents="hi"))
    assert "".join(c.text or "" for c in chunks)

    bare, wrong_value, outside_prefix = (
        relay_client(emulator, headers={}),
        relay_client(emulator, headers={"X-Relay-Key": "nope"}),
        relay_client(emulator, prefix="/elsewhere"),
    )
    with pytest.raises(errors.ClientError) as missing:
        bare.models.generate_content(model=FLASH, contents="hi")
    assert missing.value.code == 401 and "<title>401" in missing.value.message
    with pytest.raises(errors.ClientError) as wrong:
        wrong_value.models.generate_content(model=FLASH, contents="x")
    assert wrong.value.code == 401
    with pytest.raises(errors.ClientError) as outside:
        outside_prefix.models.generate_content(model=FLASH, contents="hi")
    assert outside.value.code == 404 and "<html>" in outside.value.message
    assert emulator.relay_status()["counts"] == {"passed": 3, "401": 2, "404": 1}


def test_a_query_token_is_required_when_configured(emulator):
    emulator.set_relay(prefix=PREFIX, query="token=q-secret")
    good = relay_client(emulator, headers={}, query="token=q-secret")
    assert good.models.generate_content(model=FLASH, contents="hi").text
    without = relay_client(emulator, headers={})
    with pytest.raises(errors.ClientError) as refused:
        without.models.generate_content(model=FLASH, contents="hi")
    assert refused.value.code == 403 and "<title>403" in refused.value.message


@pytest.mark.parametrize(
    "kind,code,content_type",
    [
        ("relay_html_429", 429, "text/html"),
        ("relay_text_429", 429, "text/plain"),
        ("relay_json_429", 429, "application/json"),
        ("relay_html_502", 502, "text/html"),
        ("relay_html_503", 503, "text/html"),
    ],
)
def test_relay_pages_come_with_their_status_and_retry_after(emulator, make_client, kind, code, content_type):
    emulator.set_fault(kind, seconds=7)
    client = make_client()
    with pytest.raises(errors.APIError) as info:
        client.models.generate_content(model=FLASH, contents="hi")
    response = info.value.response
    assert info.value.code == code and response.headers["content-type"].startswith(content_type)
    assert response.headers.get("retry-after") == ("7" if code != 502 else None)
    assert client.models.generate_content(model=FLASH, contents="hi").text  # one request spoilt, no more
    assert emulator.counters()["demo"][FLASH]["accepted"] == 1  # the relay page cost no Gemini quota


def test_relay_faults_hit_streams_before_any_chunk(emulator, make_client):
    emulator.set_fault("relay_html_429", seconds=3, model=FLASH)
    client = make_client()
    with pytest.raises(errors.ClientError) as info:
        list(client.models.generate_content_stream(model=FLASH, contents="hi"))
    assert info.value.code == 429


def test_relay_over_the_admin_api(emulator):
    status, body = admin(
        emulator,
        "POST",
        "relay",
        {"prefix": PREFIX, "header": "X-Relay-Key: hdr-secret-value", "query": {"token": "abc1"}},
    )
    assert status == 200 and body["relay"] == {"prefix": PREFIX, "header": "X-Relay-Key", "query": ["token"]}
    assert "hdr-secret-value" not in json.dumps(body)  # the admin view names the header, not its value
    status, _ = admin(emulator, "POST", "fault", {"kind": "relay_text_429", "seconds": 2})
    assert status == 200 and admin(emulator, "GET", "fault")[1]["faults"][0]["kind"] == "relay_text_429"
    status, body = admin(emulator, "POST", "relay", {"prefix": "no-slash"})
    assert status == 400 and "prefix" in body["error"]["message"]
    status, body = admin(emulator, "POST", "relay", {"clear": True})
    assert status == 200 and body["relay"] is None
    emulator.clear_faults()
    assert emulator.relay_status()["relay"] is None


def test_reset_everything_drops_the_relay(emulator):
    emulator.set_relay(prefix=PREFIX)
    emulator.reset(everything=True)
    assert emulator.relay_status() == {"relay": None, "counts": {}}


def test_unknown_relay_fault_names_every_kind(emulator):
    with pytest.raises(ValueError) as info:
        emulator.set_fault("relay_html_418")
    assert all(kind in str(info.value) for kind in RELAY_FAULT_KINDS)


def test_the_cli_serves_a_relay(tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gemtui",
            "emulator",
            "--relay-prefix",
            PREFIX,
            "--relay-header",
            "X-Relay-Key: hdr-secret-value",
            "--relay-query",
            "token=q1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert f"relay prefix {PREFIX}" in line
        base = line.split("listening on ", 1)[1].split()[0]
        client = genai.Client(
            api_key="demo-key",
            http_options=types.HttpOptions(
                base_url=f"{base}{PREFIX}?token=q1", api_version="v1beta", headers=dict([HEADER])
            ),
        )
        assert client.models.get(model=FLASH).name.endswith(FLASH)
        headerless = genai.Client(
            api_key="demo-key",
            http_options=types.HttpOptions(base_url=f"{base}{PREFIX}?token=q1", api_version="v1beta"),
        )
        with pytest.raises(errors.ClientError) as info:
            headerless.models.get(model=FLASH)
        assert info.value.code == 401
    finally:
        proc.terminate()
        proc.wait(10)
