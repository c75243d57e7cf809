"""Which model a user may choose: the aliases, the ids the limits table knows, and whatever else the
server lists — so a typo is refused at once instead of failing later with a 404, and a model newer
than the table is still usable by its full id."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from gemtui.chat.router import route_chain
from gemtui.chat.runtime_view import ComposedRuntime, SdkClient
from gemtui.quota.limits import ALIASES, FALLBACK_ORDER, resolve_model

SHORT_NAMES: tuple[str, ...] = ("auto", "pro", "flash", "lite")
SHOWN_SERVER_IDS = 6  # a refusal names this many of the server's other ids, then says how many more


@dataclass(frozen=True)
class ModelChoice:
    """`model` is what to use ("auto" or a full id); when None, `problem` says why, in one line."""

    model: str | None
    problem: str = ""


def known_choice(word: str, table_models: Iterable[str]) -> str | None:
    """The model `word` names without asking the server: auto, an alias, or an id the table (or the
    user's config) has limits for. None when only the server can say."""
    cleaned = word.strip()
    if cleaned.lower() == "auto":
        return "auto"
    model = resolve_model(cleaned)
    if cleaned.lower() in ALIASES or model in FALLBACK_ORDER or model in set(table_models):
        return model
    if model in route_chain():  # a link of the configured chain (`profile:model`)
        return model
    return None


def accepted(table_models: Iterable[str], server_ids: Iterable[str] = ()) -> str:
    """What `/model` accepts, as one line."""
    full = [m for m in dict.fromkeys([*FALLBACK_ORDER, *table_models])]
    others = [m for m in dict.fromkeys(server_ids) if m not in full]
    text = ", ".join([*SHORT_NAMES, *full])
    if others:
        shown = ", ".join(others[:SHOWN_SERVER_IDS])
        more = f" and {len(others) - SHOWN_SERVER_IDS} more" if len(others) > SHOWN_SERVER_IDS else ""
        text += f", or one the server lists: {shown}{more}"
    else:
        text += ", or a full id the server lists"
    return text


async def check_model(
    word: str, table_models: Iterable[str], client: SdkClient | None, secrets: tuple[str, ...] = ()
) -> ModelChoice:
    """Resolve a `/model` argument, asking the server's model list for an id nothing else knows.

    A server that cannot be asked (no client, offline, a relay without `models.list`) leaves only
    the known names: an unknown id is refused then too, with the reason, rather than sent blind."""
    table_models = tuple(table_models)
    known = known_choice(word, table_models)
    if known is not None:
        return ModelChoice(known)
    model = resolve_model(word)
    shown = word.strip()
    if client is None:
        return ModelChoice(
            None, f"no model {shown!r} known, and the server cannot be asked now; choose {accepted(table_models)}"
        )
    from gemtui.providers.switchboard import classify_via, models_via

    try:
        server_ids = await models_via(client, model)  # for `profile:model`, that profile's, so prefixed
    except Exception as exc:  # offline, or an endpoint without a model list: say so, refuse
        why = classify_via(client, model, exc, secrets=secrets).message
        return ModelChoice(None, f"cannot check {shown!r} with the server ({why}); choose {accepted(table_models)}")
    if model in server_ids:
        return ModelChoice(model)
    return ModelChoice(None, f"no model {shown!r} on this server: choose {accepted(table_models, server_ids)}")


def offered_models(runtime: ComposedRuntime | None) -> tuple[str, ...]:
    """The models the runtime's server offers for generateContent, as last listed (the day's cache that
    opening the runtime filled); empty when it has not been listed. Never asks the network: a picker
    must open at once."""
    if runtime is None:
        return ()
    from gemtui.chat.model_aliases import cache_path, read_cache

    try:
        return read_cache(cache_path(runtime.endpoint, runtime.api_version), time.time()) or ()
    except OSError:  # the cache folder cannot even be made: nothing listed
        return ()


def picker_choices(
    current: str, server_ids: Iterable[str], profile_models: Iterable[str] = ()
) -> list[tuple[str, str]]:
    """What `/model` lists, as (id, note): auto, the fallback chain (what pro/flash/lite mean now), the
    route chain's links, every other model the server offers, other profiles' models (`NAME:model`), then
    the current choice if it is none of those."""
    aliases = {model: family for family, model in ALIASES.items() if family in ("pro", "flash", "lite")}
    choices = [("auto", "Pro first; falls back to Flash, then Flash-Lite at a limit")]
    choices += [(m, aliases.get(m, "")) for m in FALLBACK_ORDER]
    seen = {"auto", *FALLBACK_ORDER}
    for model in route_chain():  # the configured chain's links to other profiles: `profile:model`
        if model not in seen:
            choices.append((model, "route chain link (another profile)"))
            seen.add(model)
    for model in server_ids:
        if model not in seen:
            choices.append((model, "offered by the server"))
            seen.add(model)
    for model in profile_models:
        if model not in seen:
            choices.append((model, f"profile {model.partition(':')[0]}"))
            seen.add(model)
    if current not in seen:
        choices.append((current, ""))
    return choices
