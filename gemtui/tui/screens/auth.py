"""/auth: profiles without leaving the chat — list (keys and endpoints masked), add, switch, test, remove.

Switching takes effect at once: the chat screen rebuilds its runtime for the new profile and
re-evaluates the queue against that profile's quota. The key is typed into a masked input and is
never shown unmasked; every failure (no keyring, a locked one, a bad endpoint) is one line here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Header, Input, Select, Static

from gemtui.errors import mask, mask_url, one_line
from gemtui.log import get_logger
from gemtui.tui.literal import cell

logger = get_logger(__name__)

if TYPE_CHECKING:
    from gemtui.tui.slash.context import SlashContext

TIERS = ("free", "tier1", "tier2", "tier3")


def describe_runtime(rt: Any) -> str:
    """`sending as work · key AIza…9xQk · official API · project acme · tier tier1` (never the key)."""
    if rt is None:
        return "not connected: no key found — press a to add a profile (or set GEMINI_API_KEY, or gemtui --demo)"
    from gemtui.auth.endpoints import mask_endpoint

    endpoint = "bundled emulator" if rt.profile_name == "demo" else mask_endpoint(rt.endpoint)
    backup = f" · backup {rt.backup.profile_name}" if getattr(rt, "backup", None) is not None else ""
    headers = getattr(rt, "headers", ())
    if headers:  # names only: a header's value is a secret like the key
        endpoint += " · headers " + ", ".join(name for name, _ in headers)
    if getattr(rt, "proxy", None):
        endpoint += f" · via {mask_url(rt.proxy)}"
    if getattr(rt, "api", "gemini") != "gemini":
        endpoint = f"API {rt.api} · {endpoint}"
    return (
        f"sending as {rt.profile_name} · key {mask(rt.api_key)} · {endpoint} · "
        f"project {rt.project} · tier {rt.tier}{backup}"
    )


class AddProfileDialog(ModalScreen[dict[str, str] | None]):
    """Name, key (masked input), optional endpoint, tier, project."""

    CSS_PATH = ["dialog.tcss", "auth.tcss"]
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static("Add a profile", classes="title")
            yield Input(placeholder="name (letters, digits, . _ -)", id="add-name")
            yield Input(placeholder="API key (hidden)", password=True, id="add-key")
            yield Input(placeholder="endpoint (optional: a relay's base URL)", password=True, id="add-endpoint")
            yield Select([(t, t) for t in TIERS], value="free", allow_blank=False, id="add-tier")
            yield Input(placeholder="project label (optional; keys of one project share quota)", id="add-project")
            yield Static("The key and endpoint go to the OS keyring; the config file keeps the rest.", classes="hint")
            with Horizontal():
                yield Button("Add", id="add", variant="primary")
                yield Button("Cancel (Esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#add-name", Input).focus()

    def _values(self) -> dict[str, str]:
        values = {
            name: self.query_one(f"#add-{name}", Input).value.strip() for name in ("name", "key", "endpoint", "project")
        }
        values["tier"] = str(self.query_one("#add-tier", Select).value)
        return values

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self.dismiss(self._values())

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(self._values() if event.button.id == "add" else None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class AuthScreen(Screen[None]):
    CSS_PATH = "auth.tcss"
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("a", "add", "Add"),
        Binding("u", "use", "Switch to"),
        Binding("t", "test", "Test"),
        Binding("d", "remove", "Remove (twice)"),
    ]

    def __init__(self, chat: SlashContext) -> None:
        super().__init__()
        self.chat = chat  # the ChatScreen: switching rebuilds its runtime
        self._remove_armed: str | None = None

    @property
    def runtime(self) -> Any:
        return self.chat.runtime

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="auth-body"):
            yield Static(describe_runtime(self.runtime), classes="title", id="auth-current", markup=False)
            yield DataTable(id="auth-table", cursor_type="row")
            yield Static("", id="auth-result", markup=False)
            yield Static(
                "a add · u/Enter switch to it now · t test (one models.get, no generate quota) · "
                "d twice remove · Esc back",
                classes="hint",
                id="auth-hint",
            )
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("", "profile", "key", "endpoint", "tier", "project", "backup")
        self._fill()
        table.focus()

    def say(self, text: str, error: bool = False) -> None:
        """One line under the table: what happened, or why not (never a traceback, never the key)."""
        box = self.query_one("#auth-result", Static)
        box.update(text)
        box.set_class(error, "-error")

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        self.query_one("#auth-current", Static).update(describe_runtime(self.runtime))
        try:
            from gemtui.auth import list_profile_views

            views = list_profile_views()
        except Exception as exc:
            logger.exception("listing the profiles failed")
            self.say(f"profiles unavailable: {one_line(exc)}", error=True)
            return
        sending = getattr(self.runtime, "profile_name", None)
        for v in views:
            mark = "▶" if v.name == sending else ("●" if v.active else "")
            key = v.key if not v.note else f"{v.key}: {v.note}"
            endpoint = v.endpoint + (f" [{v.headers}]" if v.headers else "")
            endpoint += f" via {v.proxy}" if v.proxy not in ("none", "?") else ""
            if getattr(v, "api", "gemini") != "gemini":  # the wire, where it is not Gemini's
                endpoint = f"[{v.api}] {endpoint}" + (f" · {v.model}" if v.model else "")
            table.add_row(
                *(cell(value) for value in (mark, v.name, key, endpoint, v.tier, v.project, v.backup or "")), key=v.name
            )
        if not views:
            self.say("no profiles yet: press a to add one")

    def _selected(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    # ---- actions ---------------------------------------------------------------------------------

    def action_add(self) -> None:
        def added(values: dict[str, str] | None) -> None:
            if values:
                self.add(values)

        self.app.push_screen(AddProfileDialog(), added)

    def add(self, values: dict[str, str]) -> None:
        from gemtui.auth import add_profile

        key = values.get("key", "")
        try:
            result = add_profile(
                values.get("name", ""),
                key,
                endpoint=values.get("endpoint") or None,
                tier=values.get("tier") or "free",
                project=values.get("project") or None,
            )
        except Exception as exc:
            from gemtui.auth.endpoints import endpoint_secrets
            from gemtui.log import add_secrets

            secrets = (key, *endpoint_secrets(values.get("endpoint") or None))
            add_secrets(*secrets)  # the log's traceback may quote them
            logger.exception("adding a profile failed")
            self.say(f"not added: {one_line(exc, secrets)}", error=True)
            return
        name = result.profile.name
        text = f"{'replaced' if result.replaced else 'added'} {name} (key {mask(key)})"
        if result.activated:
            text += "; it is the active profile from the next start — u switches to it now"
        if result.warning:
            text += f" — {result.warning}"
        self.say(text)
        self._fill()

    async def on_data_table_row_selected(self, _event: DataTable.RowSelected) -> None:
        await self.action_use()

    async def action_use(self) -> None:
        name = self._selected()
        if name is None:
            return
        from gemtui.tui.slash.routing import switch_profile

        problem = await switch_profile(self.chat, name)
        if problem:
            self.say(f"still sending as {getattr(self.runtime, 'profile_name', 'nobody')}: {problem}", error=True)
        else:
            self.say(f"now sending as {name}; queued messages follow its quota")
        self._fill()

    def action_test(self) -> None:
        name = self._selected()
        if name is not None:
            self.say(f"testing {name}…")
            self._test(name)

    @work(thread=True, exclusive=True, group="auth-test")
    def _test(self, name: str) -> None:
        from gemtui.auth import check_profile, resolve_profile
        from gemtui.gemini.client import make_client
        from gemtui.gemini.errors import classify

        try:
            profile = resolve_profile(name)
            if profile.api == "openai":
                from gemtui.runtime_links import check_openai_profile

                result = check_openai_profile(profile)
            else:
                result = check_profile(profile, make_client=make_client, classify=classify)
            text, error = result.message, not result.ok
            text = ("ok: " if result.ok else "failed: ") + text
        except Exception as exc:
            logger.exception("checking a profile failed")
            text, error = f"failed: {one_line(exc)}", True
        self.app.call_from_thread(self.say, text, error)

    def action_remove(self) -> None:
        from gemtui.auth import remove_profile

        name = self._selected()
        if name is None:
            return
        if name == getattr(self.runtime, "profile_name", None):
            self.say(f"{name} is sending this session: switch to another profile first", error=True)
            return
        if self._remove_armed != name:
            self._remove_armed = name
            self.say(f"press d again to remove {name} (its key and endpoint leave the keyring)")
            return
        self._remove_armed = None
        try:
            result = remove_profile(name)
        except Exception as exc:
            logger.exception("removing profile %s failed", name)
            self.say(f"not removed: {one_line(exc)}", error=True)
            return
        self.say(f"removed {name}" + (f" — {result.warning}" if result.warning else ""))
        self._fill()
