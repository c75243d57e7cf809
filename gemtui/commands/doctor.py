"""`gemtui doctor`: is everything gemtui depends on in order? One line per check (ok / warn / fail), then a
verdict; exit status 0 only when every check is ok.

Each check is read-only: a broken ledger is reported, not moved aside (the next command that opens it does
that), and the endpoint is asked for one page of its model list, nothing that spends quota. Every line
passes the masking function with the profile's secrets, so a key or a relay token never reaches it.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

OK, WARN, FAIL = "ok", "warn", "fail"
ENDPOINT_TIMEOUT_S = 5.0
CLOCK_SKEW_WARN_S = 60.0  # the quota windows are a minute wide: a clock this far off misplaces them
PACIFIC = "America/Los_Angeles"


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from gemtui.commands._runtime import add_common_options, add_header_option

    parser = subparsers.add_parser(
        "doctor",
        help="check keyring, profile, endpoint, ledger, clock and log file",
        description="Check what gemtui depends on: the config file, the OS keyring, the active profile, "
        "the endpoint (one model-list request, no quota spent), the quota ledger, the time-zone "
        "data and clock, and the log file. Exit status 0 only when every check is ok.",
    )
    add_common_options(parser)
    add_header_option(parser)


def run(args: argparse.Namespace) -> int:
    from gemtui import exitcodes

    checks = diagnose(args)
    width = max(len(c.name) for c in checks)
    for check in checks:
        print(f"{check.status:<4}  {check.name:<{width}}  {check.detail}")
    failed = sum(c.status == FAIL for c in checks)
    warned = sum(c.status == WARN for c in checks)
    if not failed and not warned:
        print(f"verdict: all {len(checks)} checks ok")
        return exitcodes.EXIT_OK
    parts = [f"{failed} failed" if failed else "", f"{warned} warned" if warned else ""]
    print(f"verdict: {', '.join(p for p in parts if p)} of {len(checks)} checks")
    return exitcodes.EXIT_DOCTOR


def diagnose(args: argparse.Namespace) -> list[Check]:
    """Every check, in order; a check that cannot run says why instead of stopping the others."""
    from gemtui import log
    from gemtui.config import Config

    state: dict[str, Any] = {"config": Config({}), "secrets": ()}
    checks: list[Check] = []
    for step in (check_config, check_keyring, check_profile, check_endpoint, check_zone, check_ledger, check_log):
        try:
            found = step(args, state)
        except Exception as exc:  # a check's own bug is a failed check, never a traceback
            from gemtui.errors import one_line

            log.get_logger(__name__).exception("doctor check %s failed unexpectedly", step.__name__)
            found = [Check(step.__name__.removeprefix("check_"), FAIL, one_line(exc, state["secrets"]))]
        checks += [Check(c.name, c.status, _scrub(c.detail, state["secrets"])) for c in found]
    return checks


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    from gemtui.errors import scrub

    return scrub(" ".join(text.split()), secrets)


def check_config(_args: argparse.Namespace, state: dict[str, Any]) -> list[Check]:
    from gemtui import paths
    from gemtui.config import ConfigError, load_config

    try:
        state["config"] = load_config()
    except ConfigError as exc:
        return [Check("config", FAIL, str(exc))]
    path = paths.config_file()
    return [Check("config", OK, str(path) if path.exists() else f"{path} (not written yet: defaults apply)")]


def check_keyring(_args: argparse.Namespace, state: dict[str, Any]) -> list[Check]:
    from gemtui.auth.secrets import FileStore, keyring_available, open_store

    store = open_store(state["config"])
    if isinstance(store, FileStore):
        return [Check("keyring", WARN, f"{store.describe()}: {store.warning()}")]
    if not keyring_available():
        return [
            Check(
                "keyring",
                WARN,
                "no OS keyring backend: stored profiles cannot be read; keys come "
                "from GEMINI_API_KEY only (see docs/profiles.md)",
            )
        ]
    try:
        store.get_api_key("gemtui-doctor-probe")  # a read of an entry that does not exist: usable, or why not
    except Exception as exc:  # locked, D-Bus down: the store's one line says what to do
        from gemtui import log
        from gemtui.errors import one_line

        log.get_logger(__name__).exception("doctor: the keyring check failed")
        return [Check("keyring", FAIL, one_line(exc))]
    return [Check("keyring", OK, f"{store.describe()} answers")]


def check_profile(args: argparse.Namespace, state: dict[str, Any]) -> list[Check]:
    import os

    from gemtui.auth.errors import AuthError
    from gemtui.auth.resolve import resolve_profile

    if getattr(args, "demo", False):
        return [Check("profile", OK, "demo (the bundled emulator, no key)")]
    try:
        profile = resolve_profile(
            getattr(args, "profile", None) or os.environ.get("GEMTUI_PROFILE"), config=state["config"]
        )
    except AuthError as exc:
        return [Check("profile", FAIL, str(exc))]
    state["profile"] = profile
    _remember_secrets(state, profile.secrets)
    return [
        Check(
            "profile",
            OK,
            f"{profile.name} ({profile.source}; key {profile.masked_key}; project "
            f"{profile.project}; tier {profile.tier}; {profile.masked_endpoint})",
        )
    ]


def _remember_secrets(state: dict[str, Any], secrets: tuple[str, ...]) -> None:
    """Mask these on screen and in the log file (a traceback of a failed request names its URL)."""
    from gemtui import log

    state["secrets"] = tuple(dict.fromkeys((*state["secrets"], *secrets)))
    log.add_secrets(*secrets)


def check_endpoint(args: argparse.Namespace, state: dict[str, Any]) -> list[Check]:
    """One page of `models.list` against the resolved endpoint; its Date header checks the clock."""
    import time

    from gemtui.auth.endpoints import mask_endpoint, validate_endpoint
    from gemtui.commands._runtime import parse_header_args

    emulator = None
    if getattr(args, "demo", False):
        from gemtui.commands._demo import DEMO_KEY, start_demo_emulator

        emulator = start_demo_emulator()
        key, endpoint, headers, proxy = DEMO_KEY, emulator.base_url, (), None
        api_version = getattr(args, "api_version", None)
    elif "profile" in state and getattr(state["profile"], "api", "gemini") == "openai":
        return _check_openai_endpoint(state["profile"], state)
    elif "profile" in state:
        profile = state["profile"]
        endpoint = getattr(args, "endpoint", None) or profile.endpoint
        if endpoint:
            validate_endpoint(endpoint)
        key, proxy = profile.api_key, profile.proxy
        headers = (*profile.headers, *parse_header_args(getattr(args, "header", None)))
        api_version = getattr(args, "api_version", None) or profile.api_version
    else:
        return [
            Check("endpoint", FAIL, "not checked: no profile to send as"),
            Check("clock", WARN, f"system clock {_utc(time.time())}; no server to compare with"),
        ]
    from gemtui.auth.resolve import profile_secrets

    _remember_secrets(state, profile_secrets(key, endpoint, tuple(headers), proxy))  # --endpoint/--header too
    where = mask_endpoint(endpoint) if endpoint else "the official API"
    try:
        from gemtui.gemini.client import make_client
        from gemtui.gemini.errors import classify

        client = make_client(key, endpoint, api_version, timeout_s=ENDPOINT_TIMEOUT_S, headers=headers, proxy=proxy)
        sent = time.time()
        try:
            pager = client.models.list(config={"page_size": 50})
        except Exception as exc:  # any failure to list is the finding: classified into one line
            from gemtui import log

            log.get_logger(__name__).exception("doctor: the endpoint check failed")
            failure = classify(exc, secrets=state["secrets"])
            return [
                Check("endpoint", FAIL, f"{where}: {failure.message}"),
                Check("clock", WARN, f"system clock {_utc(time.time())}; the server did not answer"),
            ]
        received = time.time()
        listed = len(pager.page)
        headers_seen = dict(getattr(getattr(pager, "sdk_http_response", None), "headers", None) or {})
    finally:
        if emulator is not None:
            emulator.stop()
    count = f"{listed}+" if listed >= 50 else str(listed)
    endpoint_check = Check(
        "endpoint", OK, f"{where} answers in {1000 * (received - sent):.0f} ms ({count} models listed)"
    )
    return [endpoint_check, _clock_check(headers_seen, (sent + received) / 2)]


def _check_openai_endpoint(profile: Any, state: dict[str, Any]) -> list[Check]:
    """An OpenAI-compatible profile: its model list (no tokens spent), and the clock against its Date."""
    import asyncio
    import time

    from gemtui.auth.endpoints import mask_endpoint
    from gemtui.providers.openai_compat import OpenAICompatProvider

    provider = OpenAICompatProvider(
        profile.api_key,
        profile.endpoint or "",
        headers=profile.headers,
        proxy=profile.proxy,
        timeout_s=ENDPOINT_TIMEOUT_S,
    )
    where = f"{mask_endpoint(profile.endpoint)} (API openai)"

    async def listed() -> tuple[int, dict[str, str]]:
        try:
            raw = await provider.client.models.with_raw_response.list()
            return len(raw.parse().data), dict(raw.headers)
        finally:
            await provider.aclose()

    sent = time.time()
    try:
        count, headers_seen = asyncio.run(listed())
    except Exception as exc:  # any failure to list is the finding: classified into one line
        from gemtui import log

        log.get_logger(__name__).exception("doctor: the endpoint check failed")
        failure = provider.classify(exc, secrets=state["secrets"])
        return [
            Check("endpoint", FAIL, f"{where}: {failure.message}"),
            Check("clock", WARN, f"system clock {_utc(time.time())}; the server did not answer"),
        ]
    received = time.time()
    return [
        Check("endpoint", OK, f"{where} answers in {1000 * (received - sent):.0f} ms ({count} models listed)"),
        _clock_check(headers_seen, (sent + received) / 2),
    ]


def _utc(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _clock_check(headers: dict[str, str], local: float) -> Check:
    """The system clock against the server's Date header (whole seconds, so ±1 s is noise)."""
    from email.utils import parsedate_to_datetime

    date = next((v for k, v in headers.items() if k.lower() == "date"), None)
    if not date:
        return Check("clock", WARN, f"system clock {_utc(local)}; the server sent no Date header")
    try:
        server = parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError):
        return Check("clock", WARN, f"system clock {_utc(local)}; the server's Date header is unreadable")
    skew = local - server
    if abs(skew) > CLOCK_SKEW_WARN_S:
        way = "ahead of" if skew > 0 else "behind"
        return Check(
            "clock",
            WARN,
            f"system clock is {abs(skew):.0f} s {way} the server's: windows and "
            "resets will be misplaced; sync the clock (NTP)",
        )
    return Check("clock", OK, f"within {max(1.0, abs(skew)):.0f} s of the server's ({_utc(local)})")


def check_zone(_args: argparse.Namespace, _state: dict[str, Any]) -> list[Check]:
    """Daily limits reset at Pacific midnight: without the zone data no reset time can be right."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(PACIFIC)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return [
            Check(
                "zone data",
                FAIL,
                f"no time-zone data for {PACIFIC}: install tzdata (pip install tzdata, or the system's tzdata package)",
            )
        ]
    import time

    from gemtui.quota.pacific import next_midnight, pacific_day

    now = time.time()
    reset = time.strftime("%H:%M", time.localtime(next_midnight(now)))
    return [
        Check(
            "zone data",
            OK,
            f"{PACIFIC}: today is {pacific_day(now).isoformat()} Pacific; daily limits reset at {reset} local time",
        )
    ]


def check_ledger(_args: argparse.Namespace, _state: dict[str, Any]) -> list[Check]:
    """Opened read-only and checked page by page; a broken file is reported, never repaired here."""
    import sqlite3

    from gemtui import paths

    path = paths.ledger_file()
    if not path.exists():
        return [Check("ledger", OK, f"{path} (not created yet)")]
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            verdict = conn.execute("PRAGMA quick_check").fetchone()
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return [Check("ledger", FAIL, f"{path}: {exc}; the next gemtui command moves it aside and starts a new one")]
    if not verdict or verdict[0] != "ok":
        return [
            Check(
                "ledger",
                FAIL,
                f"{path}: integrity check says {verdict[0] if verdict else 'nothing'}; "
                "the next gemtui command moves it aside and starts a new one",
            )
        ]
    if not tables:
        return [Check("ledger", WARN, f"{path}: an empty database (gemtui will set it up)")]
    return [Check("ledger", OK, f"{path} (integrity ok)")]


def check_log(_args: argparse.Namespace, _state: dict[str, Any]) -> list[Check]:
    import os

    from gemtui import log

    path = log.log_path()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.close(fd)
    except OSError as exc:
        return [Check("log file", FAIL, f"{path}: cannot write ({exc.strerror or exc})")]
    return [Check("log file", OK, str(path))]
