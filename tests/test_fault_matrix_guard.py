"""Fault matrix, guard slice: secrets never leak out of server text, only real loopback is local, bad bytes
and bad config values are stopped at the door with one line that says where.

The canary part plants the process's own secrets (a key that does not look like a Google key, a relay
path token, a query token, a header value, a proxy password) in every kind of text a server can send
back, through the emulator's relay mode and its faults' `echo`, then reads stdout, stderr, the --out
JSONL, the log and every byte of every file under the XDG folders: no canary anywhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gemtui import exitcodes
from tests.cli_helpers import Gemtui, closed_port

KEY = "ck-KEYCANARY-5f1e2d3c4b"  # not AIza-shaped: only the registry of known secrets can hide it
PATH_TOKEN = "acc-PATHCANARY-91"
QUERY_TOKEN = "qtok-QUERYCANARY-a4"
HEADER_VALUE = "hdr-HEADERCANARY-e6"
PROXY_PASSWORD = "pw-PROXYCANARY-19"
CANARIES = (KEY, PATH_TOKEN, QUERY_TOKEN, HEADER_VALUE, PROXY_PASSWORD)
ALL_IN_ONE = f"key={KEY} path=/gw/{PATH_TOKEN} token={QUERY_TOKEN} X-Relay-Key: {HEADER_VALUE}"


def _assert_no_canary(outputs: list[tuple[str, str]], root: Path) -> None:
    for command, text in outputs:
        for canary in CANARIES:
            assert canary not in text, f"`gemtui {command}` printed {canary}: {text!r}"
    written = [p for p in root.rglob("*") if p.is_file()]
    assert any(p.name == "queue.sqlite3" for p in written) and any(p.name == "sessions.sqlite3" for p in written)
    for path in written:
        data = path.read_bytes()
        for canary in CANARIES:
            assert canary.encode() not in data, f"{canary} found in {path}"
            assert canary.encode("utf-16-le") not in data, f"{canary} (UTF-16) found in {path}"


# (fault kind, echo, what kind of server text it is)
SERVER_TEXTS = [
    ("relay_html_429", ALL_IN_ONE, "HTML <title> and body of a relay's 429 page"),
    ("html_page", ALL_IN_ONE, "HTML body of a 502 page (title clean)"),
    ("relay_text_429", ALL_IN_ONE, "plain-text 429 from a CDN"),
    ("relay_json_429", ALL_IN_ONE, "a relay's own JSON error"),
    ("internal", ALL_IN_ONE, "Google's error envelope message"),
    ("bare_429", ALL_IN_ONE, "Google's bare 429 message"),
    ("stream_error", ALL_IN_ONE, "a stream's error event message"),
    ("relay_html_503", HEADER_VALUE, "a relay echoing the header value alone"),
    ("relay_html_502", PATH_TOKEN, "a relay echoing its path token alone"),
    ("relay_text_429", KEY, "a relay echoing the key alone"),
]


@pytest.mark.parametrize("kind, echo, what", SERVER_TEXTS, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(SERVER_TEXTS)])
def test_a_canary_in_server_text_reaches_no_output_store_or_log(
    secret_service, emulator, tmp_path, monkeypatch, capsys, kind, echo, what
):
    emulator.add_key(KEY, "canary-project")
    emulator.set_relay(prefix=f"/gw/{PATH_TOKEN}", header=f"X-Relay-Key: {HEADER_VALUE}", query=f"token={QUERY_TOKEN}")
    endpoint = f"{emulator.base_url}/gw/{PATH_TOKEN}?token={QUERY_TOKEN}"
    batch = tmp_path / "prompts.txt"
    batch.write_text("first question\nsecond question\n", encoding="utf-8")
    out_jsonl = tmp_path / "results.jsonl"
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

    # Two strikes per command: the failure is reported (re-route notice, retry line) and the answer
    # still comes, so the run is quick; the failure's text passed the mask on its way to stderr.
    for argv in (
        ("ask", "hello there"),
        ("ask", "--session", "canary", "remember this"),
        ("ask", "--batch", str(batch), "--out", str(out_jsonl)),
    ):
        emulator.set_fault(kind, count=2, seconds=0, after_chunks=1, echo=echo)
        gemtui(*argv)
        emulator.clear_faults()

    printed = "\n".join(text for _, text in gemtui.outputs)
    assert "…" in printed.split("auth add", 1)[-1]  # the failure was reported, masked
    assert out_jsonl.read_text(encoding="utf-8").strip()
    _assert_no_canary(gemtui.outputs, tmp_path)


def test_a_canary_in_an_exception_message_reaches_no_output_store_or_log(
    secret_service, emulator, tmp_path, monkeypatch, capsys
):
    """Transport exceptions name the URL they failed on (a dead relay with its path token, a dead proxy
    with its password): scrubbed too."""
    port = closed_port()
    endpoint = f"http://127.0.0.1:{port}/gw/{PATH_TOKEN}?token={QUERY_TOKEN}"
    proxy = f"http://user:{PROXY_PASSWORD}@127.0.0.1:{closed_port()}"
    batch = tmp_path / "prompts.txt"
    batch.write_text("one\n", encoding="utf-8")
    out_jsonl = tmp_path / "results.jsonl"
    gemtui = Gemtui(monkeypatch, capsys)
    assert (
        gemtui(
            "auth",
            "add",
            "dead",
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
            "auth", "add", "proxied", "--endpoint", emulator.base_url, "--no-use", "--proxy", proxy, stdin=KEY + "\n"
        )
        == 0
    )
    assert gemtui("ask", "hi") == exitcodes.EXIT_UNREACHABLE
    assert gemtui("ask", "--session", "s", "hi") == exitcodes.EXIT_UNREACHABLE
    assert gemtui("ask", "--batch", str(batch), "--out", str(out_jsonl)) != 0
    assert gemtui("ask", "--profile", "proxied", "--session", "s", "hi") == exitcodes.EXIT_UNREACHABLE
    assert gemtui("auth", "test", "dead") == exitcodes.EXIT_UNREACHABLE
    _assert_no_canary(gemtui.outputs, tmp_path)


# --- only real loopback is local ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://127.8.9.10",
        "http://[::1]:9000/v1",
        "http://localhost:1234",
        "http://LOCALHOST.",
    ],
)
def test_real_loopback_may_use_plain_http(url):
    from gemtui.auth.endpoints import validate_endpoint

    assert validate_endpoint(url).startswith("http://")


@pytest.mark.parametrize(
    "url",
    [
        "http://evil.localhost",
        "http://localhost.evil.com",
        "http://127.0.0.1.nip.io",
        "http://[::ffff:127.0.0.1]",
        "http://0.0.0.0:8080",
        "http://localhost@evil.com",
        "http://127.0.0.1@evil.com/x",
        "http://evil.com#@localhost",
        "http://[::]:80",
        "http://10.0.0.1",
    ],
)
def test_hostile_look_alikes_of_loopback_are_not_local(url, secret_service, monkeypatch, capsys):
    """ "Local" lets the key travel over plain http; a look-alike is refused before any key is read."""
    from gemtui.auth.endpoints import EndpointError, validate_endpoint

    with pytest.raises(EndpointError):
        validate_endpoint(url)
    gemtui = Gemtui(monkeypatch, capsys)
    assert gemtui("auth", "add", "x", "--endpoint", url, stdin="demo-key\n") == exitcodes.EXIT_USAGE


# --- bad bytes at the door ---------------------------------------------------------------------------------


def _run_cli(args: list[bytes], stdin: bytes, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI", "GOOGLE"))}
    env.update(
        {
            "GEMINI_API_KEY": "demo-key",
            "GOOGLE_GEMINI_BASE_URL": "http://127.0.0.1:9",
            "XDG_CONFIG_HOME": str(tmp_path / "c"),
            "XDG_DATA_HOME": str(tmp_path / "d"),
            "XDG_STATE_HOME": str(tmp_path / "s"),
            "XDG_CACHE_HOME": str(tmp_path / "k"),
            "LC_ALL": "C.UTF-8",
        }
    )
    return subprocess.run(
        [os.fsencode(sys.executable), b"-m", b"gemtui.cli", *args],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=60,
    )


@pytest.mark.parametrize(
    "args, where",
    [
        ([b"ask", b"caf\xe9 au lait"], b"argument 2 is not valid UTF-8 (byte offset 3)"),
        ([b"ask", b"--session", b"n\xff", b"hi"], b"argument 3 is not valid UTF-8 (byte offset 1)"),
    ],
)
def test_an_argument_that_is_not_utf8_is_refused_with_where(args, where, tmp_path):
    done = _run_cli(args, b"", tmp_path)
    assert done.returncode == exitcodes.EXIT_USAGE
    assert done.stderr.strip().splitlines() == [b"gemtui: " + where + b"; gemtui accepts UTF-8 text only"]
    assert not (tmp_path / "d").exists() or not any((tmp_path / "d").rglob("*.sqlite3"))


@pytest.mark.parametrize("extra", [[], [b"--session", b"s"]])
def test_stdin_that_is_not_utf8_is_refused_with_the_offset(extra, tmp_path):
    done = _run_cli([b"ask", *extra], "héllo ".encode() + b"\xc3\x28 rest", tmp_path)
    assert done.returncode == exitcodes.EXIT_USAGE
    assert done.stderr.strip().splitlines() == [
        b"gemtui: stdin is not valid UTF-8 (byte offset 7); gemtui accepts UTF-8 text only"
    ]


# --- bad config values -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, words",
    [
        ('[limits."gemini-2.5-pro"]\nrpm = "ten"\n', ["[limits.\"gemini-2.5-pro\"] rpm = 'ten'", '"unlimited"']),
        ('[limits."gemini-2.5-pro"]\ntpm = -5\n', ['[limits."gemini-2.5-pro"] tpm = -5', "whole number from 0"]),
        ('[limits."gemini-2.5-pro"]\nrpn = 5\n', ["has no setting 'rpn'", "rpm, tpm, rpd, ipm"]),
        ('[general]\non_limit = "later"\n', ["[general] on_limit = 'later'", "switch | wait | ask"]),
        ('[general]\nwait_threshold_s = "soon"\n', ["[general] wait_threshold_s", "seconds from 0"]),
        ('[general]\ntier = "gold"\n', ["[general] tier = 'gold'", "free | tier1"]),
        ("[context]\ntpm_share = 1.5\n", ["[context] tpm_share = 1.5", "up to 1.0"]),
        ('[context]\ntruncate_oversized = "yes"\n', ["[context] truncate_oversized", "true or false"]),
        ("[tui]\ntheme = 3\n", ["[tui] theme = 3", "a theme name"]),
        ("[breaker]\nthreshold = 2\n", ["[breaker] threshold = 2"]),
    ],
)
def test_a_bad_config_value_is_refused_naming_file_key_and_allowed_values(text, words, monkeypatch, capsys):
    from gemtui import paths

    config = paths.config_file()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(text, encoding="utf-8")
    monkeypatch.setenv("GEMINI_API_KEY", "demo-key")
    gemtui = Gemtui(monkeypatch, capsys)
    assert gemtui("quota") == exitcodes.EXIT_USAGE
    line = gemtui.outputs[-1][1].strip()
    assert len(line.splitlines()) == 1 and str(config) in line
    for word in words:
        assert word in line


def test_a_config_that_is_not_utf8_is_refused_naming_the_file(monkeypatch, capsys):
    from gemtui import paths

    config = paths.config_file()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_bytes(b'[general]\nmodel = "caf\xe9"\n')
    monkeypatch.setenv("GEMINI_API_KEY", "demo-key")
    gemtui = Gemtui(monkeypatch, capsys)
    assert gemtui("quota") == exitcodes.EXIT_USAGE
    line = gemtui.outputs[-1][1].strip()
    assert line == f"gemtui: config file {config} is not valid UTF-8 (byte offset 22); fix it or move it aside"


def test_good_config_values_still_load(monkeypatch, capsys):
    from gemtui import paths
    from gemtui.config import load_config

    config = paths.config_file()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        '[general]\nmodel = "pro"\non_limit = "wait"\nwait_threshold_s = 5\n'
        '[limits."gemini-2.5-pro"]\nrpm = 0\ntpm = 250000\nrpd = "unlimited"\n'
        '[context]\ntpm_share = 0.5\n[tui]\ntheme = "x"\n[general.extra]\nfuture = 1\n',
        encoding="utf-8",
    )
    loaded = load_config()
    assert loaded.on_limit == "wait" and loaded.limit_overrides["gemini-2.5-pro"]["rpd"] == "unlimited"


# --- one mask, one registry --------------------------------------------------------------------------------


def test_registered_secrets_are_hidden_by_every_scrub_even_when_the_caller_passes_none(tmp_path):
    from gemtui import log
    from gemtui.errors import Hidden, forget_secrets, one_line, register_secrets, scrub

    try:
        register_secrets(KEY, Hidden(HEADER_VALUE))
        assert KEY not in scrub(f"echo {KEY}") and "ck-K…3c4b" in scrub(f"echo {KEY}")
        assert scrub(f"hdr {HEADER_VALUE}") == "hdr …"
        # scrubbed before it is cut: a secret across the 300-character cut leaves no prefix behind
        cut = one_line(RuntimeError("x" * 290 + HEADER_VALUE + "y" * 20))
        assert HEADER_VALUE[:8] not in cut
        path = log.setup(path=tmp_path / "gemtui.log")
        try:
            raise RuntimeError(f"boom {KEY} {HEADER_VALUE}")
        except RuntimeError:
            log.get_logger("test").exception("failed with %s", KEY)
        log.flush()
        data = path.read_bytes()
        assert b"boom" in data and KEY.encode() not in data and HEADER_VALUE.encode() not in data
    finally:
        log.stop()
        forget_secrets()
