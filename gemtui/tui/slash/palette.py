"""The command palette (Ctrl+P) lists the slash commands of the registry and runs them through the
same handlers as the composer, and every model `/model` can choose (other profiles' as `NAME:model`)."""

from __future__ import annotations

from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from gemtui.tui.literal import as_markup, literal
from gemtui.tui.slash import REGISTRY, run_slash
from gemtui.tui.slash.context import SlashContext


def chat_screen(app: Any) -> SlashContext | None:
    """The chat screen under the palette: what its hits act on."""
    from gemtui.tui.screens.chat import ChatScreen

    for screen in reversed(app.screen_stack):
        if isinstance(screen, ChatScreen):
            return screen
    return None


class SlashCommandProvider(Provider):
    """Every registered command, by name and help text."""

    def _context(self) -> SlashContext | None:
        return chat_screen(self.app)

    async def _run(self, name: str) -> None:
        ctx = self._context()
        if ctx is not None:
            await run_slash(ctx, f"/{name}")

    # Hit texts are Content, and help strings as_markup: the palette parses a plain help str as markup.
    async def discover(self) -> Hits:
        for command in REGISTRY:
            yield DiscoveryHit(
                literal(f"/{command.name}"), partial(self._run, command.name), help=as_markup(command.help)
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in REGISTRY:
            label = f"/{command.name}"
            score = max(matcher.match(label), matcher.match(command.help) * 0.5)
            if score > 0:
                run = partial(self._run, command.name)
                yield Hit(score, matcher.highlight(label), run, help=as_markup(command.help))


class ModelProvider(Provider):
    """`model ID` for each model the picker lists; choosing one does what choosing it there does. Ids come
    from the config and the server, so hits are shown as text, never read as markup."""

    _ctx: SlashContext | None = None
    _choices: list[tuple[str, str]] = []

    async def startup(self) -> None:
        """The choices are read once when the palette opens (they come from a file), not per keystroke."""
        from gemtui.tui.screens.model_picker import model_choices

        self._ctx = chat_screen(self.app)
        self._choices = model_choices(self._ctx, self._ctx.preference) if self._ctx is not None else []

    async def search(self, query: str) -> Hits:
        ctx = self._ctx
        if ctx is None:
            return
        from gemtui.tui.slash.routing import set_preference

        matcher = self.matcher(query)
        for model, note in self._choices:
            label = f"model {model}"
            score = matcher.match(label)
            if score > 0:
                yield Hit(score, literal(label), partial(set_preference, ctx, model), help=as_markup(note or "use it"))
