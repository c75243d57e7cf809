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
    add.add_argument("--tier", choices=TIER_CHOICES, default="free", help="billing tier of the key's project")
    add.add_argument("--project", metavar="LABEL", help="quota ledger label; same label = shared quota")
    add.add_argument("--api-version", metavar="V", help="API version path, e.g. v1beta")
    add.add_argument("--backup", metavar="NAME", help="fail over to this profile when quota cannot admit")
    add.add_argument(
        "--allow-insecure-http", action="store_true",
        help="accept an http:// endpoint on another host (sends the key in clear)",
    )
    add.add_argument(
        "--file-store", action="store_true",
        help="opt in to an unencrypted 0600 file instead of the OS keyring (for machines without one)",
    )
    use_group = add.add_mutually_exclusive_group()
    use_group.add_argument("--use", dest="activate", action="store_const", const=True, default=None,
                           help="make it the active profile")
    use_group.add_argument("--no-use", dest="activate", action="store_const", const=False,
                           help="do not make it active (default: active when no other profile is)")

    lst = actions.add_parser("list", help="show profiles with masked keys and endpoints")
    lst.add_argument("--json", action="store_true", help="machine-readable output (still masked)")

    use = actions.add_parser("use", help="make a profile the active one ('env' = the environment key)")
    use.add_argument("name")

    remove = actions.add_parser("remove", help="delete a profile and its secrets")
    remove.add_argument("name")

    test = actions.add_parser("test", help="one cheap call (a model lookup) to check key and endpoint")
    test.add_argument("name", nargs="?", help="profile to test (default: what `gemtui ask` would use)")

    edit = actions.add_parser("set", help="change a profile's tier, project, backup or API version")
    edit.add_argument("name")
    edit.add_argument("--tier", choices=TIER_CHOICES)
    edit.add_argument("--project", metavar="LABEL")
    edit.add_argument("--api-version", metavar="V", help="'' to clear")
    backup = edit.add_mutually_exclusive_group()
    backup.add_argument("--backup", metavar="NAME")
    backup.add_argument("--no-backup", action="store_true")
    edit.add_argument("--allow-insecure-http", action=argparse.BooleanOptionalAction, default=None)

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
    """Hidden prompt on a terminal; else exactly one line of stdin (a pipe, a file, a secret manager)."""
    stream = sys.stdin
    if stream is None:
        return ""
    if stream.isatty():
        import getpass

        try:
            return getpass.getpass(f"API key for profile {name!r} (input hidden): ")
        except EOFError:
            return ""
    return stream.readline()


def _add(args: argparse.Namespace, secrets: list[str]) -> int:
    from gemtui import exitcodes
    from gemtui.auth.endpoints import mask_endpoint, validate_endpoint
    from gemtui.auth.manage import add_profile
    from gemtui.auth.profiles import check_name
    from gemtui.auth.secrets import FileStore, KeyringStore, enable_file_store, open_store
    from gemtui.errors import mask

    # everything that can be checked is checked before the user types a key
    check_name(args.name)
    if args.endpoint is not None:
        validate_endpoint(args.endpoint, allow_insecure_http=args.allow_insecure_http)
    store = FileStore() if args.file_store else open_store()
    if isinstance(store, KeyringStore):
        store.ensure_available()
    if args.allow_insecure_http and args.endpoint and args.endpoint.strip().lower().startswith("http://"):
        print("gemtui: warning: this profile sends its key over plain http:// (--allow-insecure-http)",
              file=sys.stderr)

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
    )
    if args.file_store:
        enable_file_store()
    if result.warning:
        print(f"gemtui: {result.warning}", file=sys.stderr)
    verb = "replaced" if result.replaced else "added"
    endpoint = mask_endpoint(args.endpoint)
    print(
        f"{verb} profile {args.name!r}: key {mask(key)}, {endpoint}, tier {result.profile.tier}, "
        f"project {result.profile.project!r} (stored in the {store.describe()})"
    )
    if result.profile.backup:
        print(f"failover: when its quota cannot admit a request, {args.name!r} sends as "
              f"{result.profile.backup!r}")
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
    rows = [("", "NAME", "KEY", "ENDPOINT", "TIER", "PROJECT", "BACKUP")]
    for v in views:
        endpoint = v.endpoint + (f" ({v.api_version})" if v.api_version else "")
        rows.append(("*" if v.active else "", v.name, v.key, endpoint, v.tier, v.project, v.backup or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print(f"secrets: {store.describe()}; * = active")
    notes = sorted({v.note for v in views if v.note})
    for note in notes:
        print(f"gemtui: {note}", file=sys.stderr)
    for v in views:
        if v.key_state == "missing":
            print(f"gemtui: profile {v.name!r} has no key stored; run `gemtui auth add {v.name}`",
                  file=sys.stderr)
    return exitcodes.EXIT_OK


def _use(args: argparse.Namespace, secrets: list[str]) -> int:
    from gemtui import exitcodes
    from gemtui.auth.manage import use_profile

    profile = use_profile(args.name)
    if profile is None:
        print("no profile is active now: requests use GEMINI_API_KEY / GOOGLE_API_KEY")
    else:
        print(f"{profile.name!r} is now the active profile (tier {profile.tier}, "
              f"project {profile.project!r})")
    return exitcodes.EXIT_OK


def _remove(args: argparse.Namespace, secrets: list[str]) -> int:
    from gemtui import exitcodes
    from gemtui.auth.manage import remove_profile

    result = remove_profile(args.name)
    print(f"removed profile {result.name!r} and its secrets" if not result.warning
          else f"removed profile {result.name!r}")
    if result.warning:
        print(f"gemtui: warning: {result.warning}", file=sys.stderr)
    if result.was_active:
        print("no profile is active now: requests use GEMINI_API_KEY / GOOGLE_API_KEY "
              "until `gemtui auth use NAME`")
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
    if not changes:
        print("gemtui: nothing to change; see `gemtui auth set --help`", file=sys.stderr)
        return exitcodes.EXIT_USAGE
    profile = update_profile(args.name, **changes)
    print(
        f"profile {profile.name!r}: tier {profile.tier}, project {profile.project!r}, "
        f"api version {profile.api_version or 'default'}, backup {profile.backup or 'none'}"
        + (", insecure http allowed" if profile.allow_insecure_http else "")
    )
    return exitcodes.EXIT_OK


def _test(args: argparse.Namespace, secrets: list[str]) -> int:
    from gemtui.auth.check import check_profile
    from gemtui.auth.resolve import resolve_profile

    profile = resolve_profile(args.name or getattr(args, "profile", None))
    secrets.extend(profile.secrets)
    from gemtui.gemini.client import make_client
    from gemtui.gemini.errors import classify

    result = check_profile(profile, make_client=make_client, classify=classify)
    if not result.ok:
        print(f"gemtui: {result.message}", file=sys.stderr)
        return result.exit_code
    print(result.message)
    if profile.backup:
        print(f"failover: {profile.name!r} falls back to {profile.backup!r} when its quota cannot admit "
              "a request")
    return result.exit_code


_ACTIONS = {
    "add": _add,
    "list": _list,
    "use": _use,
    "remove": _remove,
    "set": _set,
    "test": _test,
}
