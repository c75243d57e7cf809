"""/context: what the next request sends for the preferred model, and what the budget leaves out."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static


def context_report(messages: list[Any], runtime: Any, preference: str) -> list[str]:
    """Report lines from `plan_context`; falls back to a count when planning is unavailable."""
    from gemtui.quota.limits import FALLBACK_ORDER, resolve_model

    model = FALLBACK_ORDER[0] if preference in ("", "auto") else resolve_model(preference)
    try:
        from gemtui.chat.context import ContextBudget, plan_context, tpm_from_engine
        from gemtui.chat.tokens import TokenEstimator

        tpm_for = tpm_from_engine(runtime.engine, runtime.project) if runtime is not None else None
        config = getattr(runtime, "config", None)
        budget = ContextBudget.from_config(config, tpm_for=tpm_for)
        plan = plan_context(messages, None, model, budget, TokenEstimator())
    except Exception as exc:
        return [f"{len(messages)} messages in this conversation", f"(context plan unavailable: {exc})"]
    return [f"next request to {model}", *plan.report(), *([plan.marker] if plan.marker else [])]


class ContextScreen(Screen[None]):
    CSS_PATH = "context.tcss"
    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back")]

    def __init__(self, messages: list[Any], runtime: Any, preference: str) -> None:
        super().__init__()
        self.messages = messages
        self.runtime = runtime
        self.preference = preference

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="context-body"):
            yield Static("Context", classes="title")
            yield Static("\n".join(context_report(self.messages, self.runtime, self.preference)),
                         classes="report", id="context-report")
            yield Static("The system prompt, pinned messages and the newest turns are sent; the oldest are "
                         "left out first. Esc back.", classes="hint")
        yield Footer()
