"""Slash commands about where and how prompts are sent: /model, /policy, /auth (and the profile
switch it makes), /quota."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from gemtui.log import get_logger
from gemtui.tui.slash.registry import SlashCommand

logger = get_logger(__name__)

if TYPE_CHECKING:
    from gemtui.tui.slash.context import SlashContext

POLICIES = ("switch", "wait", "ask")  # what auto mode does when the preferred model is at a limit


async def model(ctx: SlashContext, arg: str) -> None:
    from gemtui.chat.models import known_choice

    if not arg:
        from gemtui.tui.screens.model_picker import ModelPicker

        def picked(choice: str | None) -> None:
            if choice:
                set_preference(ctx, choice)

        ctx.push_screen(ModelPicker(ctx, ctx.preference), picked)
        return
    word = arg.split()[0]
    known = known_choice(word, _table_models(ctx))
    if known is not None:
        set_preference(ctx, known)
        return
    # Only the server knows newer ids: ask its model list without holding up the screen.
    ctx.run_worker(_set_checked_model(ctx, word), group="model-check", exclusive=True, exit_on_error=False)


def _table_models(ctx: SlashContext) -> tuple[str, ...]:
    runtime = ctx.runtime
    return runtime.engine.table.known_models() if runtime is not None else ()


async def _set_checked_model(ctx: SlashContext, word: str) -> None:
    from gemtui.chat.models import check_model

    runtime = ctx.runtime
    client = None
    if runtime is not None:
        await ctx.gemtui_app.client_ready.wait()
        try:
            client = runtime.client
        except Exception:  # the SDK would not load: check_model says the server cannot be asked
            logging.getLogger(__name__).exception("no client to check a model id with")
    choice = await check_model(word, _table_models(ctx), client, secrets=getattr(runtime, "secrets", ()))
    if choice.model is None:
        ctx.show_info(choice.problem, "warning")
        return
    set_preference(ctx, choice.model)


def set_preference(ctx: SlashContext, preference: str) -> None:
    ctx.preference = preference
    ctx.update_title()
    ctx.refresh_gauges()
    note = " (Pro first, falls back at a limit)" if preference == "auto" else ""
    ctx.show_info(f"model: {preference}{note}")
    ctx.call_later(ctx.refresh_marker)  # another model, another budget


async def policy(ctx: SlashContext, arg: str) -> None:
    choice = arg.strip().lower()
    if not choice:
        ctx.show_info(f"on limit: {ctx.policy} (choose /policy switch, wait or ask)")
        return
    if choice not in POLICIES:
        ctx.show_info(
            f"no policy {arg.strip()!r}: choose /policy switch, wait or ask (on limit stays {ctx.policy})", "warning"
        )
        return
    ctx.policy = choice
    ctx.update_title()
    ctx.show_info(f"at a limit auto mode will now {choice}")


async def auth(ctx: SlashContext, _arg: str) -> None:
    from gemtui.tui.screens.auth import AuthScreen

    ctx.push_screen(AuthScreen(ctx))


async def switch_profile(ctx: SlashContext, name: str) -> str | None:
    """Send as profile `name` from now on: it becomes the active profile, the runtime is rebuilt
    for it (its key, endpoint, tier, project ledger, backup), and a prompt still waiting for the old
    profile's quota is re-evaluated against the new one. Returns why not, in one line."""
    from gemtui.auth import resolve_profile, use_profile
    from gemtui.config import load_config
    from gemtui.errors import one_line
    from gemtui.runtime import runtime_for_profile

    app = ctx.gemtui_app
    # the engine's clock carries over (time is a parameter: tests run the app on a simulated one)
    clock = getattr(getattr(ctx.runtime, "engine", None), "clock", None)
    try:
        config = load_config()
        profile = resolve_profile(name, config=config)
        runtime = runtime_for_profile(profile, app.config if app.config is not None else config, clock=clock)
        use_profile(name)
    except Exception as exc:  # no keyring, locked keyring, missing key: one line
        logger.exception("switching to profile %s failed", name)
        return one_line(exc)
    ctx.use_runtime(runtime)
    app.resolve_models()  # the new profile's server may offer other models
    if ctx.chat_task.busy and not ctx.routed:
        ctx.stop_sending(requeue=True)  # waiting for the old profile's quota: back to the queue
    ctx.update_title()
    ctx.refresh_gauges()
    await ctx.refresh_queue()
    ctx.call_later(ctx.pump)
    ctx.call_later(ctx.refresh_marker)
    return None


async def quota(ctx: SlashContext, _arg: str) -> None:
    from gemtui.tui.screens.quota import QuotaScreen

    if ctx.runtime is None:
        ctx.show_info("not connected: no quota to show", "warning")
        return
    ctx.push_screen(QuotaScreen(ctx.runtime, ctx.store))


MODEL = SlashCommand(
    "model", "[pro|flash|lite|auto|<id>]", "choose the model; no argument opens a picker with gauges", model
)
AUTH = SlashCommand("auth", "", "profiles: list (keys masked), add, switch now, test, remove", auth)
QUOTA = SlashCommand("quota", "", "all models, all dimensions, where each limit came from, today's usage", quota)
POLICY = SlashCommand("policy", "[switch|wait|ask]", "what auto mode does at a limit", policy)
