"""`gemtui auth ...` through `gemtui.cli.main`, keys on stdin, output captured."""

from __future__ import annotations

import io
import json
import socket
import stat
import tomllib

import pytest

from gemtui import exitcodes, paths
from gemtui.auth import KeyringStore
from gemtui.cli import main

KEY = "AIzaSyCLI-TEST-KEY-0123456789abcd9xQk"
OTHER = "AIzaSyCLI-OTHER-KEY-9876543210zyxwvu"


class _TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(monkeypatch, capsys, *argv: str, stdin: str | None = None) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin if stdin is not None else ""))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# add --------------------------------------------------------------------------------------------


def test_add_reads_key_from_stdin_into_the_keyring(secret_service, monkeypatch, capsys):
    code, out, err = run(
        monkeypatch, capsys, "auth", "add", "work", "--tier", "tier1", "--project", "acme", stdin=KEY + "\n"
    )
    assert code == exitcodes.EXIT_OK, err
    assert KeyringStore().get_api_key("work") == KEY
    assert "AIza…9xQk" in out and "now the active profile" in out
    assert KEY not in out + err


def test_add_uses_a_hidden_prompt_on_a_terminal(secret_service, monkeypatch, capsys):
    prompts = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return KEY

    monkeypatch.setattr("getpass.getpass", fake_getpass)
    monkeypatch.setattr("sys.stdin", _TTY(""))
    assert main(["auth", "add", "work"]) == exitcodes.EXIT_OK
    assert prompts and "work" in prompts[0]
    assert KeyringStore().get_api_key("work") == KEY
    assert KEY not in "".join(capsys.readouterr())


def test_add_refuses_an_empty_key(secret_service, monkeypatch, capsys):
    code, _, err = run(monkeypatch, capsys, "auth", "add", "work", stdin="\n")
    assert code == exitcodes.EXIT_USAGE and "empty" in err
    assert KeyringStore().get_api_key("work") is None
    assert not paths.config_file().exists()


def test_the_key_is_never_an_argument(secret_service, monkeypatch, capsys):
    with pytest.raises(SystemExit) as info:
        main(["auth", "add", "work", KEY])
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        main(["auth", "add", "work", "--key", KEY])
    capsys.readouterr()


def test_add_replaces_a_key(secret_service, monkeypatch, capsys):
    run(monkeypatch, capsys, "auth", "add", "work", stdin=KEY)
    code, out, _ = run(monkeypatch, capsys, "auth", "add", "work", stdin=OTHER)
    assert code == 0 and out.startswith("replaced profile 'work'")
    assert KeyringStore().get_api_key("work") == OTHER


def test_add_without_keyring_offers_the_choices(no_keyring, isolated_dirs, monkeypatch, capsys):
    code, out, err = run(monkeypatch, capsys, "auth", "add", "work", stdin=KEY)
    assert code == exitcodes.EXIT_AUTH
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "no OS keyring" in err and "GEMINI_API_KEY" in err and "--file-store" in err
    assert KEY not in out + err
    files = [p for p in isolated_dirs.rglob("*") if p.is_file()]
    assert all(KEY not in p.read_text(errors="replace") for p in files)
    assert not paths.config_file().exists()


def test_file_store_opt_in(no_keyring, monkeypatch, capsys):
    code, out, err = run(monkeypatch, capsys, "auth", "add", "work", "--file-store", stdin=KEY)
    assert code == 0
    assert "NOT encrypted" in err and "0600" in err
    secrets = paths.data_dir() / "secrets.json"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert tomllib.loads(paths.config_file().read_text())["auth"] == {"file_store": True}
    # later commands find the key without being told again
    code, out, _ = run(monkeypatch, capsys, "auth", "list")
    assert code == 0 and "AIza…9xQk" in out and "file store" in out
    assert KEY not in out


def test_insecure_http_needs_the_flag(secret_service, monkeypatch, capsys):
    code, _, err = run(
        monkeypatch, capsys, "auth", "add", "lan", "--endpoint", "http://192.168.1.5:8080/T0KEN", stdin=KEY
    )
    assert code == exitcodes.EXIT_USAGE and "--allow-insecure-http" in err and "T0KEN" not in err
    assert KeyringStore().get_api_key("lan") is None
    code, _, err = run(
        monkeypatch,
        capsys,
        "auth",
        "add",
        "lan",
        "--endpoint",
        "http://192.168.1.5:8080/T0KEN",
        "--allow-insecure-http",
        stdin=KEY,
    )
    assert code == 0 and "plain http://" in err


@pytest.mark.parametrize("url", ["relay.example.com", "ftp://relay.example.com", "https://"])
def test_bad_endpoint_is_a_usage_error(secret_service, monkeypatch, capsys, url):
    code, _, err = run(monkeypatch, capsys, "auth", "add", "r", "--endpoint", url, stdin=KEY)
    assert code == exitcodes.EXIT_USAGE and err.startswith("gemtui: ") and err.count("\n") == 1


def test_bad_name_is_a_usage_error(secret_service, monkeypatch, capsys):
    code, _, err = run(monkeypatch, capsys, "auth", "add", "env", stdin=KEY)
    assert code == exitcodes.EXIT_USAGE and "reserved" in err


# list / use / remove / set ------------------------------------------------------------------------


def test_list_masks_keys_and_relay_paths(secret_service, monkeypatch, capsys):
    run(monkeypatch, capsys, "auth", "add", "free", "--project", "shared", stdin=KEY)
    run(
        monkeypatch,
        capsys,
        "auth",
        "add",
        "relay",
        "--endpoint",
        "https://relay.example.com/acct/T0KEN",
        "--tier",
        "tier1",
        "--project",
        "shared",
        "--api-version",
        "v1beta",
        "--backup",
        "free",
        stdin=OTHER,
    )
    code, out, err = run(monkeypatch, capsys, "auth", "list")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "API", "KEY", "ENDPOINT", "TIER", "PROJECT", "BACKUP"]
    free = next(line for line in lines if " free " in line and "AIza" in line)
    assert " gemini " in free
    relay = next(line for line in lines if "relay" in line and "AIza" in line)
    assert free.startswith("*") and "AIza…9xQk" in free and "official API" in free and "shared" in free
    assert "AIza…xwvu" in relay and "https://relay.example.com/… (v1beta)" in relay
    assert relay.endswith("free")
    assert KEY not in out and OTHER not in out and "T0KEN" not in out and "acct" not in out
    code, out, _ = run(monkeypatch, capsys, "auth", "list", "--json")
    document = json.loads(out)
    assert [p["name"] for p in document["profiles"]] == ["free", "relay"]
    assert KEY not in out and OTHER not in out and "T0KEN" not in out


def test_list_empty_and_env(secret_service, monkeypatch, capsys):
    code, out, _ = run(monkeypatch, capsys, "auth", "list")
    assert code == 0 and "no profiles yet" in out
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    code, out, _ = run(monkeypatch, capsys, "auth", "list")
    assert "env" in out and "AIza…9xQk" in out and KEY not in out


def test_list_without_keyring_still_lists(no_keyring, monkeypatch, capsys):
    paths.config_file().write_text('[profiles.work]\ntier = "free"\n')
    code, out, err = run(monkeypatch, capsys, "auth", "list")
    assert code == 0 and "work" in out and "(store unavailable)" in out
    assert "no OS keyring" in err


def test_use_remove_set(secret_service, monkeypatch, capsys):
    run(monkeypatch, capsys, "auth", "add", "a", stdin=KEY)
    run(monkeypatch, capsys, "auth", "add", "b", stdin=OTHER)
    code, out, _ = run(monkeypatch, capsys, "auth", "use", "b")
    assert code == 0 and "'b' is now the active profile" in out
    code, out, _ = run(monkeypatch, capsys, "auth", "set", "b", "--tier", "tier2", "--backup", "a")
    assert code == 0 and "tier tier2" in out and "backup a" in out
    code, out, _ = run(monkeypatch, capsys, "auth", "remove", "b")
    assert code == 0 and "removed profile 'b'" in out and "no profile is active" in out
    assert KeyringStore().get_api_key("b") is None
    code, _, err = run(monkeypatch, capsys, "auth", "remove", "b")
    assert code == exitcodes.EXIT_USAGE and "no profile named 'b'" in err
    code, _, err = run(monkeypatch, capsys, "auth", "use", "zzz")
    assert code == exitcodes.EXIT_USAGE
    code, _, err = run(monkeypatch, capsys, "auth", "set", "a")
    assert code == exitcodes.EXIT_USAGE and "nothing to change" in err
    code, out, _ = run(monkeypatch, capsys, "auth", "use", "env")
    assert code == 0 and "GEMINI_API_KEY" in out


def test_auth_without_action_prints_help(monkeypatch, capsys):
    code, _, err = run(monkeypatch, capsys, "auth")
    assert code == exitcodes.EXIT_USAGE and "add" in err and "list" in err


def test_corrupt_config_is_a_usage_error(secret_service, monkeypatch, capsys):
    paths.config_file().write_text("[profiles\n")
    code, _, err = run(monkeypatch, capsys, "auth", "list")
    assert code == exitcodes.EXIT_USAGE and "not valid TOML" in err


# test (against the emulator) -----------------------------------------------------------------------


def test_auth_test_good_key(secret_service, emulator, monkeypatch, capsys):
    run(monkeypatch, capsys, "auth", "add", "emu", "--endpoint", emulator.base_url, stdin="demo-key")
    code, out, err = run(monkeypatch, capsys, "auth", "test")
    assert code == exitcodes.EXIT_OK, err
    assert out.startswith("ok: profile 'emu' (active") and "gemini-2.5-flash is available" in out
    assert emulator.base_url in out and "demo-key" not in out


def test_auth_test_bad_key_exit_3(secret_service, emulator, monkeypatch, capsys):
    run(monkeypatch, capsys, "auth", "add", "emu", "--endpoint", emulator.base_url, stdin="demo-key")
    run(monkeypatch, capsys, "auth", "add", "bad", "--endpoint", emulator.base_url, stdin=KEY)
    code, out, err = run(monkeypatch, capsys, "auth", "test", "bad")
    assert code == exitcodes.EXIT_AUTH
    assert out == "" and err.count("\n") == 1 and "refused" in err and "AIza…9xQk" in err
    assert KEY not in err
    code, _, _ = run(monkeypatch, capsys, "--profile", "bad", "auth", "test")  # the global flag works too
    assert code == exitcodes.EXIT_AUTH


def test_auth_test_unreachable_relay_hides_its_token(secret_service, monkeypatch, capsys):
    url = f"http://127.0.0.1:{_closed_port()}/acct/T0KEN"
    run(monkeypatch, capsys, "auth", "add", "relay", "--endpoint", url, stdin=KEY)
    code, out, err = run(monkeypatch, capsys, "auth", "test", "relay")
    assert code == exitcodes.EXIT_UNREACHABLE
    assert "T0KEN" not in out + err and KEY not in out + err and err.count("\n") == 1


def test_auth_test_env_key(emulator, monkeypatch, capsys):
    monkeypatch.setenv("GEMINI_API_KEY", "demo-key")
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", emulator.base_url)
    code, out, err = run(monkeypatch, capsys, "auth", "test")
    assert code == 0, err
    assert "profile 'env' (env" in out


def test_auth_test_without_any_key(monkeypatch, capsys):
    code, out, err = run(monkeypatch, capsys, "auth", "test")
    assert code == exitcodes.EXIT_AUTH and "no API key" in err and err.count("\n") == 1


def test_locked_keyring_is_one_line_not_a_traceback(fresh_secret_service, monkeypatch, capsys):
    import contextlib

    assert run(monkeypatch, capsys, "auth", "add", "work", stdin=KEY)[0] == 0
    with contextlib.closing(fresh_secret_service.connection()) as conn:
        fresh_secret_service.collection(conn).lock()
    code, out, err = run(monkeypatch, capsys, "auth", "test")
    assert code == exitcodes.EXIT_AUTH and "locked" in err and err.count("\n") == 1
    assert "Traceback" not in err and KEY not in out + err
    code, out, err = run(monkeypatch, capsys, "auth", "list")
    assert code == 0 and "(store unavailable)" in out and "locked" in err
    code, out, err = run(monkeypatch, capsys, "auth", "add", "other", stdin=OTHER)
    assert code == exitcodes.EXIT_AUTH and "locked" in err and OTHER not in out + err


def test_dead_secret_service_is_one_line(fresh_secret_service, monkeypatch, capsys):
    fresh_secret_service.stop()
    code, out, err = run(monkeypatch, capsys, "auth", "add", "work", stdin=KEY)
    assert code == exitcodes.EXIT_AUTH and err.startswith("gemtui: the OS keyring failed")
    assert err.count("\n") == 1 and KEY not in out + err
