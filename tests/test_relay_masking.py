"""Everything after the host stays hidden: a canary in a relay's path, its query token, a custom header
value, and a proxy password never reach stdout, stderr, the --out JSONL, the sqlite stores, the config
file or any other file gemtui writes, whatever succeeds or fails on the way. Header values live in the
keyring with the key, never in the config file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gemtui import exitcodes
from gemtui.auth.secrets import KeyringStore
from tests.cli_helpers import Gemtui, closed_port

KEY = "AIzaSyMASKING-canary-3b7c1d9e2f40a6"
PATH_TOKEN = "acc-PATHCANARY77"
QUERY_TOKEN = "qtok-CANARY-a41f"
HEADER_VALUE = "hdr-CANARY-e6b5c2"
WRONG_HEADER = "wrong-CANARY-77d0"
PROXY_PASSWORD = "proxypw-CANARY-19"
CANARIES = (KEY, PATH_TOKEN, QUERY_TOKEN, HEADER_VALUE, WRONG_HEADER, PROXY_PASSWORD)


def test_no_fragment_of_a_relays_secrets_reaches_any_output_or_file(
    secret_service, emulator, tmp_path, monkeypatch, capsys
):
    emulator.add_key(KEY, "masking-project")
    emulator.set_relay(prefix=f"/gw/{PATH_TOKEN}", header=f"X-Relay-Key: {HEADER_VALUE}", query=f"token={QUERY_TOKEN}")
    endpoint = f"{emulator.base_url}/gw/{PATH_TOKEN}?token={QUERY_TOKEN}"
    dead_proxy = f"http://user:{PROXY_PASSWORD}@127.0.0.1:{closed_port()}"
    batch = tmp_path / "prompts.txt"
    batch.write_text("first question\nsecond question\n", encoding="utf-8")
    out_jsonl, failed_jsonl = tmp_path / "results.jsonl", tmp_path / "failed.jsonl"
    gemtui = Gemtui(monkeypatch, capsys)

    assert (
        gemtui(
            "auth",
            "add",
            "relay",
            "--endpoint",
            endpoint,
            "--api-version",
            "v1beta",
            "--header",
            f"X-Relay-Key: {HEADER_VALUE}",
            stdin=KEY + "\n",
        )
        == 0
    )
    assert (
        gemtui(
            "auth",
            "add",
            "proxied",
            "--endpoint",
            endpoint,
            "--api-version",
            "v1beta",
            "--no-use",
            "--header",
            f"X-Relay-Key: {HEADER_VALUE}",
            "--proxy",
            dead_proxy,
            stdin=KEY + "\n",
        )
        == 0
    )
    assert gemtui("auth", "list") == 0
    assert gemtui("auth", "list", "--json") == 0
    assert gemtui("auth", "test", "relay") == 0
    assert gemtui("auth", "test", "proxied") == exitcodes.EXIT_UNREACHABLE
    assert gemtui("ask", "--model", "flash", "hello [[tokens=10]]") == 0
    assert gemtui("ask", "--session", "canary", "--model", "flash", "remember this") == 0
    assert gemtui("ask", "--batch", str(batch), "--out", str(out_jsonl), "--model", "flash") == 0
    # failures of every kind, each with the secrets in play
    assert gemtui("ask", "--model", "flash", "--header", f"X-Relay-Key: {WRONG_HEADER}", "hi") == exitcodes.EXIT_AUTH
    # (another --out: a rerun into the same file would resume the batch, which is all answered; --no-cache:
    # the response cache would answer both prompts without sending them)
    assert (
        gemtui(
            "ask",
            "--batch",
            str(batch),
            "--out",
            str(failed_jsonl),
            "--model",
            "flash",
            "--no-cache",
            "--header",
            f"X-Relay-Key: {WRONG_HEADER}",
        )
        == exitcodes.EXIT_QUOTA
    )
    assert gemtui("ask", "--profile", "proxied", "--model", "flash", "hi") == exitcodes.EXIT_UNREACHABLE
    assert (
        gemtui(
            "ask", "--model", "flash", "--endpoint", f"{emulator.base_url}/gw/{PATH_TOKEN}x?token={QUERY_TOKEN}", "hi"
        )
        == exitcodes.EXIT_UNREACHABLE
    )  # the relay's own 404 page
    assert gemtui("quota", "--json") == 0

    printed = "\n".join(text for _, text in gemtui.outputs)
    assert f"{emulator.base_url}/…" in printed and "X-Relay-Key: …" in printed and "127.0.0.1" in printed
    for command, text in gemtui.outputs:
        for canary in CANARIES:
            assert canary not in text, f"`gemtui {command}` printed {canary}"
    results = [
        json.loads(line) for path in (out_jsonl, failed_jsonl) for line in path.read_text(encoding="utf-8").splitlines()
    ]
    assert len(results) == 4 and sum(1 for r in results if r.get("error")) == 2

    written = [p for p in Path(tmp_path).rglob("*") if p.is_file()]
    assert any(p.name == "queue.sqlite3" for p in written) and any(p.name == "sessions.sqlite3" for p in written)
    assert any(p.name == "responses.sqlite3" for p in written), "the response cache is searched too"
    for path in written:
        data = path.read_bytes()
        for canary in CANARIES:
            assert canary.encode() not in data, f"{canary} found in {path}"
            assert canary.encode("utf-16-le") not in data, f"{canary} (UTF-16) found in {path}"

    # the secrets are in the keyring, with the key
    store = KeyringStore()
    assert store.get_headers("relay") == (("X-Relay-Key", HEADER_VALUE),)
    assert store.get_proxy("proxied") == dead_proxy
    assert store.get_endpoint("relay") == endpoint


def test_a_profiles_header_is_replaced_by_the_command_lines(secret_service, emulator, monkeypatch, capsys):
    emulator.set_relay(header=f"X-Relay-Key: {HEADER_VALUE}")
    gemtui = Gemtui(monkeypatch, capsys)
    assert (
        gemtui(
            "auth",
            "add",
            "hdr",
            "--endpoint",
            emulator.base_url,
            "--api-version",
            "v1beta",
            "--header",
            f"x-relay-key: {WRONG_HEADER}",
            stdin="demo-key\n",
        )
        == 0
    )
    assert gemtui("ask", "--model", "flash", "hi") == exitcodes.EXIT_AUTH
    assert gemtui("ask", "--model", "flash", "--header", f"X-Relay-Key: {HEADER_VALUE}", "hi") == 0
    assert (
        gemtui("auth", "add", "hdr", "--endpoint", emulator.base_url, "--api-version", "v1beta", stdin="demo-key\n")
        == 0
    )  # re-adding without --header forgets the headers
    assert KeyringStore().get_headers("hdr") == ()
    for _, text in gemtui.outputs:
        assert WRONG_HEADER not in text and HEADER_VALUE not in text


@pytest.mark.parametrize(
    "proxy, words",
    [
        ("ftp://proxy.example:21", "not usable"),
        ("http://proxy.example:3128/path", "path"),
        ("http://proxy.example:99999", "malformed"),
    ],
)
def test_bad_proxies_are_refused_before_the_key_is_read(secret_service, monkeypatch, capsys, proxy, words):
    gemtui = Gemtui(monkeypatch, capsys)
    assert gemtui("auth", "add", "p", "--proxy", proxy, stdin="demo-key\n") == exitcodes.EXIT_USAGE
    assert words in gemtui.outputs[-1][1] and KeyringStore().get_api_key("p") is None


def test_auth_set_changes_headers_and_proxy_without_the_key(secret_service, emulator, monkeypatch, capsys):
    emulator.set_relay(header=f"X-Relay-Key: {HEADER_VALUE}")
    dead_proxy = f"http://me:{PROXY_PASSWORD}@127.0.0.1:{closed_port()}"
    gemtui = Gemtui(monkeypatch, capsys)
    assert gemtui("auth", "add", "s", "--endpoint", emulator.base_url, stdin="demo-key\n") == 0
    assert gemtui("ask", "--model", "flash", "hi") == exitcodes.EXIT_AUTH
    assert gemtui("auth", "set", "s", "--header", f"X-Relay-Key: {HEADER_VALUE}") == 0
    assert "headers X-Relay-Key: …, proxy none" in gemtui.outputs[-1][1]
    assert gemtui("ask", "--model", "flash", "hi") == 0
    assert gemtui("auth", "set", "s", "--proxy", dead_proxy, "--tier", "tier1") == 0
    assert gemtui("ask", "--model", "flash", "hi") == exitcodes.EXIT_UNREACHABLE
    assert gemtui("auth", "set", "s", "--no-proxy") == 0
    assert gemtui("ask", "--model", "flash", "hi") == 0
    assert gemtui("auth", "set", "s", "--no-headers") == 0
    assert gemtui("ask", "--model", "flash", "hi") == exitcodes.EXIT_AUTH
    assert gemtui("auth", "set", "s", "--proxy", "ftp://x:1") == exitcodes.EXIT_USAGE
    assert gemtui("auth", "set", "nobody", "--header", "X-A: secret-value-1") == exitcodes.EXIT_USAGE
    store = KeyringStore()
    assert store.get_api_key("s") == "demo-key" and store.get_headers("s") == () and store.get_proxy("s") is None
    for command, text in gemtui.outputs:
        for canary in (HEADER_VALUE, PROXY_PASSWORD, "secret-value-1"):
            assert canary not in text, f"`gemtui {command}` printed {canary}"


def test_a_server_echoing_secrets_decoded_or_in_base64_is_masked_too(
    secret_service, emulator, tmp_path, monkeypatch, capsys
):
    """Servers echo what they received, not what was typed: a path token and a query token percent-decoded,
    the key or an Authorization value in base64. None of those forms may reach an output or a file."""
    import base64

    key = "AIzaSyENCODED-canary-5d2e8a1c04b9f7"
    path_token, query_token = "acc%2BPATHENC%2B77", "q%2BTOKENC%2F%3D%3D9"
    decoded_path, decoded_query = "acc+PATHENC+77", "q+TOKENC/==9"
    echoes = (
        decoded_path,
        decoded_query,
        base64.b64encode(key.encode()).decode(),
        base64.b64encode(f"Bearer {key}".encode()).decode(),
        base64.urlsafe_b64encode(f"user:{decoded_path}".encode()).decode(),
    )
    emulator.add_key(key, "encoded-project")
    emulator.set_relay(prefix=f"/gw/{decoded_path}", query=f"token={decoded_query}")
    emulator.set_fault("stream_error", count=1, after_chunks=2, echo=" ".join(f"[{e}]" for e in echoes))
    monkeypatch.setenv("GEMINI_API_KEY", key)
    endpoint = f"{emulator.base_url}/gw/{path_token}?token={query_token}"
    gemtui = Gemtui(monkeypatch, capsys)
    out_jsonl = tmp_path / "answers.jsonl"
    batch = tmp_path / "prompts.txt"
    batch.write_text("a long answer [[tokens=200]]\n", encoding="utf-8")
    code = gemtui(
        "ask", "--endpoint", endpoint, "--api-version", "v1beta", "--model", "flash", "--no-cache",
        "--batch", str(batch), "--out", str(out_jsonl),
    )  # fmt: skip
    assert code != 0
    emulator.set_fault("stream_error", count=1, after_chunks=2, echo=" ".join(f"[{e}]" for e in echoes))
    code = gemtui(
        "ask", "--endpoint", endpoint, "--api-version", "v1beta", "--model", "flash", "--session", "enc",
        "another long answer [[tokens=200]]",
    )  # fmt: skip
    assert code == exitcodes.EXIT_SERVER
    printed = "\n".join(text for _, text in gemtui.outputs)
    assert "[…]" in printed, printed  # the echo arrived, masked
    for form in (*echoes, key, decoded_path, decoded_query):
        assert form not in printed, f"printed {form}"
    for path in [p for p in Path(tmp_path).rglob("*") if p.is_file()]:
        data = path.read_bytes()
        for form in echoes:
            assert form.encode() not in data, f"{form} found in {path}"
