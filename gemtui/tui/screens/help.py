"""/help (F1): every slash command and every key binding, generated from the tables themselves."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Markdown

from gemtui.tui.slash import REGISTRY

KEYS = (
    ("Enter", "send the prompt (or run the /command)"),
    ("Shift+Enter, Alt+Enter, Ctrl+J", "new line in the composer"),
    ("Up / Down", "recall earlier prompts (at the first / last line)"),
    ("Tab", "complete a /command; otherwise move focus (composer → queue panel)"),
    ("Esc", "cancel the answer being written (the partial text stays, marked)"),
    ("Ctrl+R", "/retry"),
    ("Ctrl+N", "/new"),
    ("Ctrl+O", "/model picker"),
    ("Ctrl+U", "/quota (from the composer too; Super+Backspace deletes to the line start)"),
    ("Ctrl+S", "/sessions"),
    ("Ctrl+T", "/theme"),
    ("F1", "/help"),
    ("Ctrl+B", "show / hide the side panel (hidden below 100 columns, where one quota line stands in)"),
    ("Ctrl+P", "command palette (every /command is there too)"),
    ("x / e / m (queue panel)", "cancel / edit the highlighted item / merge all into one request"),
    ("Ctrl+Q", "quit (asks first when prompts are waiting: keep or cancel them)"),
)


def help_markdown() -> str:
    lines = ["# gemtui", "", "## Commands", "", "| command | what it does |", "|---|---|"]
    for c in REGISTRY:
        usage = f"/{c.name}{' ' + c.args if c.args else ''}".replace("|", "\\|")  # a pipe ends a table cell
        also = "".join(f" (also `/{alias}`)" for alias in c.aliases)
        lines.append(f"| `{usage}`{also} | {c.help.replace('|', '/')} |")
    lines += [
        "",
        "A prompt that must start with `/` is sent by typing `//`.",
        "",
        "## Keys",
        "",
        "| key | action |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v} |" for k, v in KEYS]
    lines += [
        "",
        "## The quota panel",
        "",
        "One gauge per limit of the active model (RPM, TPM, RPD, IPM): used / limit, a bar that turns "
        "warning at 80 % and critical at 95 %, and the time until it frees. RPD resets at midnight "
        "Pacific time, shown in your local time. `n/a`: no such limit (unlimited or 0). "
        "`invisible usage`: another client of the same project is using quota gemtui cannot see.",
    ]
    return "\n".join(lines)


class HelpScreen(Screen[None]):
    CSS_PATH = "help.tcss"
    BINDINGS = [Binding("escape,q,f1", "app.pop_screen", "Back")]

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="help-body"):
            yield Markdown(help_markdown())
        yield Footer()
