"""`gemtui auth`: add, list, use, remove, set and test profiles (keys live in the OS keyring).

Only argparse is imported at module level: the parser is built for every `gemtui` invocation.
The key is never taken from argv (it would land in shell history and `ps`): a hidden prompt on a
terminal, otherwise one line of stdin.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

TIER_CHOICES = ("free", "tier1", "tier2", "tier3")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "auth",
        help="manage profiles: API keys and relay endpoints kept in the OS keyring",
        description=(
            "Profiles say what a request is sent as. Precedence: --profile NAME (or GEMTUI_PROFILE), "
            "then the active profile, then GEMINI_API_KEY/GOOGLE_API_KEY with GOOGLE_GEMINI_BASE_URL."
        ),
    )
    actions = parser.add_subparsers(dest="auth_command", metavar="ACTION")

    add = actions.add_parser(
        "add",
        help="store a profile (the key is read from a hidden prompt or stdin, never from arguments)",
        description="Create or replace a profile. The key comes from a hidden prompt, or one line of stdin.",
    )
    add.add_argument("name", help="profile name (letters, digits, '.', '_', '-')")
    add.add_argument("--endpoint", metavar="URL", help="relay base URL (default: the official API)")
    add.add_argument(
        "--api",
        choices=("gemini", "openai"),
        default="gemini",
        help="the wire: gemini (default) or openai (OpenAI-compatible Chat Completions; needs --endpoint)",
    )
    add.add_argument("--model", metavar="ID", help="openai: the model it answers with when none is named")
    add.add_argument("--rpm", type=int, metavar="N", help="requests per minute, where the server's headers state none")
    add.add_argument(
        "--tpm", type=int, metavar="N", help="input tokens per minute, where the server's headers state none"
    )
    add.add_argument("--tier", choices=TIER_CHOICES, default="free", help="billing tier of the key's project")
    add.add_argument("--project", metavar="LABEL", help="quota ledger label; same label = shared quota")
    add.add_argument("--api-version", metavar="V", help="API version path, e.g. v1beta")
    add.add_argument("--backup", metavar="NAME", help="fail over to this profile when quota cannot admit")
    add.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="accept an http:// endpoint on another host (sends the key in clear)",
    )
    add.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="send this header on every request (repeatable; kept in the keyring with the key)",
    )
    add.add_argument(
        "--proxy",
        metavar="URL",
        help="send through this proxy (http://[user:pass@]host:port); default: HTTPS_PROXY/ALL_PROXY",
    )
    add.add_argument(
        "--file-store",
        action="store_true",
        help="opt in to an unencrypted 0600 file instead of the OS keyring (for machines without one)",
    )
    use_group = add.add_mutually_exclusive_group()
    use_group.add_argument(
        "--use", dest="activate", action="store_const", const=True, default=None, help="make it the active profile"
    )
    use_group.add_argument(
        "--no-use",
        dest="activate",
        action="store_const",
        const=False,
        help="do not make it active (default: active when no other profile is)",
    )

    lst = actions.add_parser("list", help="show profiles with masked keys and endpoints")
    lst.add_argument("--json", action="store_true", help="machine-readable output (still masked)")

    use = actions.add_parser("use", help="make a profile the active one ('env' = the environment key)")
    use.add_argument("name")

    remove = actions.add_parser("remove", help="delete a profile and its secrets")
    remove.add_argument("name")

    test = actions.add_parser("test", help="one cheap call (a model lookup) to check key and endpoint")
    test.add_argument("name", nargs="?", help="profile to test (default: what `gemtui ask` would use)")

    edit = actions.add_parser(
        "set", help="change a profile's tier, project, backup, API version, headers or proxy (not its key)"
    )
    edit.add_argument("name")
    edit.add_argument("--tier", choices=TIER_CHOICES)
    edit.add_argument("--project", metavar="LABEL")
    edit.add_argument("--api-version", metavar="V", help="'' to clear")
    backup = edit.add_mutually_exclusive_group()
    backup.add_argument("--backup", metavar="NAME")
    backup.add_argument("--no-backup", action="store_true")
    edit.add_argument("--allow-insecure-http", action=argparse.BooleanOptionalAction, default=None)
    headers = edit.add_mutually_exclusive_group()
    headers.add_argument(
        "--header",
        action="append",
        metavar="'NAME: VALUE'",
        help="replace the profile's custom headers with these (repeatable)",
    )
    headers.add_argument("--no-headers", action="store_true", help="forget the profile's custom headers")
    proxy = edit.add_mutually_exclusive_group()
    proxy.add_argument("--proxy", metavar="URL", help="send through this proxy")
    proxy.add_argument("--no-proxy", action="store_true", help="forget the profile's proxy (the environment's applies)")

    ledger = actions.add_parser(
        "ledger-password",
        help="store the team ledger's Redis password in the keyring and name it in [ledger] password_secret",
        description=(
            "The password comes from a hidden prompt, or one line of stdin; it is stored as NAME:ledger_password "
            "and `[ledger] password_secret = NAME` is written to the config file (never the password itself)."
        ),
    )
    ledger.add_argument(
        "name", nargs="?", help="the entry's name (default: the configured password_secret, else 'team')"
    )
    ledger.add_argument("--forget", action="store_true", help="delete the stored password and the config's mention")

    parser.set_defaults(_auth_parser=parser)


def run(args: argparse.Namespace) -> int:
    from gemtui import exitcodes
    from gemtui.auth.errors import AuthError, EndpointError, ProfileError
    from gemtui.config import ConfigError
    from gemtui.errors import scrub

    action = getattr(args, "auth_command", None)
    if action is None:
        args._auth_parser.print_help(sys.stderr)
        return exitcodes.EXIT_USAGE
    secrets: list[str] = []
    try:
        return _ACTIONS[action](args, secrets)
    except (ConfigError, ProfileError, EndpointError) as exc:
        print(f"gemtui: {scrub(str(exc), tuple(secrets))}", file=sys.stderr)
        return exitcodes.EXIT_USAGE
    except AuthError as exc:  # no keyring, locked keyring, missing key
        print(f"gemtui: {scrub(str(exc), tuple(secrets))}", file=sys.stderr)
        return exitcodes.EXIT_AUTH


def _read_key(name: str) -> str:
    return _read_secret(f"API key for profile {name!r} (input hidden): ")


def _read_secret(prompt: str) -> str:
    """Hidden prompt on a terminal; else exactly one line of stdin (a pipe, a file, a secret manager)."""
    stream = sys.stdin
    if stream is None:
        return ""
    if stream.isatty():
        import getpass

        try:
            return getpass.getpass(prompt)
        except EOFError:
            return ""
    return stream.readline()


def _add(args: argparse.Namespace, secrets: list[str]) -> int:
    from gemtui import exitcodes
    from gemtui.auth.endpoints import endpoint_secrets, mask_endpoint, mask_proxy, validate_endpoint, validate_proxy
    from gemtui.auth.headers import describe_headers, header_secrets
    from gemtui.auth.manage import add_profile
    from gemtui.auth.profiles import check_name
    from gemtui.auth.secrets import FileStore, KeyringStore, enable_file_store, open_store
    from gemtui.commands._runtime import parse_header_args
    from gemtui.errors import mask

    # everything that can be checked is checked before the user types a key
    check_name(args.name)
    if any(v is not None and v < 0 for v in (args.rpm, args.tpm)):
        print("gemtui: --rpm and --tpm take a whole number from 0", file=sys.stderr)
        return exitcodes.EXIT_USAGE
    if args.api == "openai" and not args.endpoint:
        print("gemtui: --api openai needs --endpoint URL (e.g. https://api.deepseek.com/v1)", file=sys.stderr)
        return exitcodes.EXIT_USAGE
    if args.endpoint is not None:
        validate_endpoint(args.endpoint, allow_insecure_http=args.allow_insecure_http)
    headers = parse_header_args(args.header)
    secrets.extend(header_secrets(headers))
    if args.proxy is not None:
        secrets.extend(endpoint_secrets(args.proxy))
        validate_proxy(args.proxy)
    store = FileStore() if args.file_store else open_store()
    if isinstance(store, KeyringStore):
        store.ensure_available()
    if args.allow_insecure_http and args.endpoint and args.endpoint.strip().lower().startswith("http://"):
        print("gemtui: warning: this profile sends its key over plain http:// (--allow-insecure-http)", file=sys.stderr)

    key = _read_key(args.name).strip()
    if key:
        secrets.append(key)
    if not key:
        print("gemtui: the API key is empty; nothing was stored", file=sys.stderr)
        return exitcodes.EXIT_USAGE
    result = add_profile(
        args.name,
        key,
        endpoint=args.endpoint,
        tier=args.tier,
        project=args.project,
        api_version=args.api_version,
        backup=args.backup,
        allow_insecure_http=args.allow_insecure_http,
        activate=args.activate,
        store=store,
        headers=headers,
        proxy=args.proxy,
        api=args.api,
        model=args.model,
        rpm=args.rpm,
        tpm=args.tpm,
    )
    if args.file_store:
        enable_file_store()
    if result.warning:
        print(f"gemtui: {result.warning}", file=sys.stderr)
    verb = "replaced" if result.replaced else "added"
    endpoint = mask_endpoint(args.endpoint)
    extras = (f", headers {describe_headers(headers)}" if headers else "") + (
        f", proxy {mask_proxy(args.proxy)}" if args.proxy else ""
    )
    if args.api != "gemini":
        extras += f", API {args.api}" + (f", model {args.model}" if args.model else "")
    print(
        f"{verb} profile {args.name!r}: key {mask(key)}, {endpoint}{extras}, tier {result.profile.tier}, "
        f"project {result.profile.project!r} (stored in the {store.describe()})"
    )
    if result.profile.backup:
        print(f"failover: when its quota cannot admit a request, {args.name!r} sends as {result.profile.backup!r}")
    if result.activated:
        print(f"{args.name!r} is now the active profile")
    return exitcodes.EXIT_OK


def _list(args: argparse.Namespace, secrets: list[str]) -> int:
    from gemtui import exitcodes
    from gemtui.auth.manage import list_profile_views
    from gemtui.auth.secrets import open_store

    store = open_store()
    views = list_profile_views(store=store)
    if args.json:
        import json
        from dataclasses import asdict

        print(json.dumps({"store": store.describe(), "profiles": [asdict(v) for v in views]}, indent=2))
        return exitcodes.EXIT_OK
    if not views:
        print("no profiles yet: `gemtui auth add NAME` stores one (or set GEMINI_API_KEY)")
        return exitcodes.EXIT_OK
    rows = [("", "NAME", "API", "KEY", "ENDPOINT", "TIER", "PROJECT", "BACKUP")]
    for v in views:
        endpoint = v.endpoint + (f" ({v.api_version})" if v.api_version else "")
        if v.headers:
            endpoint += f" [{v.headers}]"
        if v.proxy not in ("none", "?"):
            endpoint += f" via {v.proxy}"
        rows.append(("*" if v.active else "", v.name, v.api, v.key, endpoint, v.tier, v.project, v.backup or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print(f"secrets: {store.describe()}; * = active")
    notes = sorted({v.note for v in views if v.note})
    for note in notes:
        print(f"gemtui: {note}", file=sys.stderr)
    for v in views:
        if v.key_state == "missing":
            print(f"gemtui: profile {v.name!r} has no key stored; run `gemtui auth add {v.name}`", file=sys.stderr)
    return exitcodes.EXIT_OK


def _ledger_password(args: argparse.Namespace, secrets: list[str]) -> int:
    """The team ledger's password: into the keyring (or out of it with --forget), named in the config."""
    from gemtui import exitcodes
    from gemtui.auth.secrets import LEDGER_PASSWORD, KeyringStore, open_store
    from gemtui.config import SETTINGS, ConfigError, load_config, update_config

    config = load_config()
    name = (args.name or config.ledger.get("password_secret") or "team").strip()
    allowed, expected = SETTINGS["ledger"]["password_secret"]  # what the config file will be checked for
    if not allowed(name):
        raise ConfigError(f"the entry's name {name!r} is not allowed: use {expected}")
    store = open_store(config)
    if isinstance(store, KeyringStore):
        store.ensure_available()

    def name_it(data: dict[str, Any]) -> None:
        section = data.setdefault("ledger", {})
        if args.forget:
            if section.get("password_secret") == name:
                del section["password_secret"]
        else:
            section["password_secret"] = name

    if args.forget:
        store.delete(name, LEDGER_PASSWORD)
        update_config(name_it)
        print(f"forgot the team ledger password {name!r}; the ledger connects without one")
        return exitcodes.EXIT_OK
    password = _read_secret(f"Redis password for the team ledger {name!r} (input hidden): ").strip()
    if not password:
        print("gemtui: the password is empty; nothing was stored", file=sys.stderr)
        return exitcodes.EXIT_USAGE
    secrets.append(password)
    store.set(name, LEDGER_PASSWORD, password)
    update_config(name_it)
    print(
        f"stored the team ledger password as {name!r} in the {store.describe()}; "
        f'the config says [ledger] password_secret = "{name}"'
    )
    if not config.ledger.get("url"):
        print("gemtui: no [ledger] url is set yet: see docs/team.md", file=sys.stderr)
    return exitcodes.EXIT_OK


def _use(args: argparse.Namespace, secrets: list[str]) -> int:
    from gemtui import exitcodes
    from gemtui.auth.manage import use_profile

    profile = use_profile(args.name)
    if profile is None:
        print("no profile is active now: requests use GEMINI_API_KEY / GOOGLE_API_KEY")
    else:
        print(f"{profile.name!r} is now the active profile (tier {profile.tier}, project {profile.project!r})")
    return exitcodes.EXIT_OK


def _remove(args: argparse.Namespace, secrets: list[str]) -> int:
    from gemtui import exitcodes
    from gemtui.auth.manage import remove_profile

    result = remove_profile(args.name)
    print(
        f"removed profile {result.name!r} and its secrets" if not result.warning else f"removed profile {result.name!r}"
    )
    if result.warning:
        print(f"gemtui: warning: {result.warning}", file=sys.stderr)
    if result.was_active:
        print("no profile is active now: requests use GEMINI_API_KEY / GOOGLE_API_KEY until `gemtui auth use NAME`")
    return exitcodes.EXIT_OK if not result.warning else exitcodes.EXIT_AUTH


def _set(args: argparse.Namespace, secrets: list[str]) -> int:
    from gemtui import exitcodes
    from gemtui.auth.manage import update_profile

    changes: dict[str, Any] = {}
    if args.tier is not None:
        changes["tier"] = args.tier
    if args.project is not None:
        changes["project"] = args.project
    if args.api_version is not None:
        changes["api_version"] = args.api_version or None
    if args.backup is not None or args.no_backup:
        changes["backup"] = None if args.no_backup else args.backup
    if args.allow_insecure_http is not None:
        changes["allow_insecure_http"] = args.allow_insecure_http
    secret_changes: dict[str, Any] = {}
    if args.header or args.no_headers:
        from gemtui.auth.headers import header_secrets
        from gemtui.commands._runtime import parse_header_args

        secret_changes["headers"] = () if args.no_headers else parse_header_args(args.header)
        secrets.extend(header_secrets(secret_changes["headers"]))
    if args.proxy is not None or args.no_proxy:
        from gemtui.auth.endpoints import endpoint_secrets, validate_proxy

        secrets.extend(endpoint_secrets(args.proxy))
        secret_changes["proxy"] = None if args.no_proxy else validate_proxy(args.proxy)
    if not changes and not secret_changes:
        print("gemtui: nothing to change; see `gemtui auth set --help`", file=sys.stderr)
        return exitcodes.EXIT_USAGE
    profile = update_profile(args.name, **changes)  # checks the name and the settings before any secret moves
    if secret_changes:
        from gemtui.auth.endpoints import mask_proxy
        from gemtui.auth.headers import describe_headers
        from gemtui.auth.manage import update_secrets

        headers, proxy = update_secrets(args.name, **secret_changes)
        print(f"profile {args.name!r}: headers {describe_headers(headers) or 'none'}, proxy {mask_proxy(proxy)}")
        if not changes:
            return exitcodes.EXIT_OK
    print(
        f"profile {profile.name!r}: tier {profile.tier}, project {profile.project!r}, "
        f"api version {profile.api_version or 'default'}, backup {profile.backup or 'none'}"
        + (", insecure http allowed" if profile.allow_insecure_http else "")
    )
    return exitcodes.EXIT_OK


def _test(args: argparse.Namespace, secrets: list[str]) -> int:
    from gemtui import exitcodes
    from gemtui.auth.check import check_profile
    from gemtui.auth.resolve import resolve_profile

    profile = resolve_profile(args.name or getattr(args, "profile", None))
    secrets.extend(profile.secrets)
    from gemtui.gemini.client import make_client
    from gemtui.gemini.errors import classify

    if profile.api == "openai":
        from gemtui.runtime_links import check_openai_profile

        result = check_openai_profile(profile)
    else:
        result = check_profile(profile, make_client=make_client, classify=classify)
    if not result.ok:
        print(f"gemtui: {result.message}", file=sys.stderr)
        return exitcodes.for_failure(result.kind)
    print(result.message)
    if profile.backup:
        print(f"failover: {profile.name!r} falls back to {profile.backup!r} when its quota cannot admit a request")
    return exitcodes.EXIT_OK


_ACTIONS = {
    "add": _add,
    "list": _list,
    "use": _use,
    "remove": _remove,
    "set": _set,
    "test": _test,
    "ledger-password": _ledger_password,
}
