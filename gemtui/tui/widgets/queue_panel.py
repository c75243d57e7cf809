"""The queue panel: each waiting prompt with its reason and a countdown to its ETA.

Focus it (Tab or click) to act on the highlighted item: x cancel, e edit, m merge all into one
request — one request instead of many saves RPM.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Label, ListItem, ListView, Static

from gemtui.timefmt import duration
from gemtui.tui.literal import literal, visible
from gemtui.tui.messages import QueueCancel, QueueEdit, QueueMerge


def preview(prompt: str, width: int = 30) -> str:
    line = " ".join(prompt.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def row_text(item: Any, now: float) -> str:
    """`waiting · gemini-2.5-pro RPM · 0:42` — why the item waits and for how long."""
    reason = getattr(item, "reason", None) or "after the message ahead"
    eta = getattr(item, "eta", None)
    if eta:
        return f"{reason} · {duration(eta - now)}"
    return reason


class QueueRow(ListItem):
    DEFAULT_CSS = """
    QueueRow { height: auto; padding: 0 1; }
    QueueRow .prompt { text-style: bold; }
    QueueRow .why { color: $warning; width: 1fr; }
    QueueRow .prompt { width: 1fr; }
    """

    def __init__(self, item: Any, now: float) -> None:
        super().__init__()
        self.item = item
        # Worked out here, not in compose: a row that cannot be shown raises where the panel can catch it.
        self._texts = preview(item.prompt), row_text(item, now)

    def compose(self) -> ComposeResult:
        # The prompt and the server's reason are the user's and the server's words: never markup.
        prompt, why = self._texts
        yield Label(literal(prompt), classes="prompt", markup=False)
        yield Label(literal(why), classes="why", markup=False)

    def show(self, item: Any, now: float) -> None:
        """The same queue item, perhaps changed (edited text, a new wait): its row follows it."""
        changed = item.prompt != self.item.prompt
        self.item = item
        if changed:
            for label in self.query(".prompt"):  # not composed yet: it will render with the new text
                label.update(Content(preview(item.prompt)))
        self.tick(now)

    def tick(self, now: float) -> None:
        found = self.query(".why")
        if not found:  # not composed yet: it will render with the current text
            return
        label = found.first(Label)
        text = row_text(self.item, now)
        if str(label.content) != visible(text):
            label.update(literal(text))


class QueuePanel(Vertical):
    DEFAULT_CSS = """
    QueuePanel { height: auto; max-height: 50%; padding: 0 1; }
    QueuePanel .title { text-style: bold; color: $primary; margin-top: 1; }
    QueuePanel .hint { color: $text-muted; }
    QueuePanel ListView { height: auto; max-height: 16; background: transparent; }
    """

    BINDINGS = [
        Binding("x,delete", "cancel_item", "Cancel item"),
        Binding("e", "edit_item", "Edit item"),
        Binding("m", "merge", "Merge queue"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._ids: tuple[str, ...] = ()

    def compose(self) -> ComposeResult:
        yield Static("queue", classes="title", id="queue-title")
        yield ListView(id="queue-list")
        yield Static("x cancel · e edit · m merge", classes="hint", id="queue-hint")

    def on_mount(self) -> None:
        self.display = False

    @property
    def list_view(self) -> ListView:
        return self.query_one(ListView)

    async def show_items(self, items: list[Any], now: float) -> None:
        ids = tuple(str(i.id) for i in items)
        self.display = bool(items)
        self.query_one("#queue-title", Static).update(f"queue ({len(items)})")
        if ids != self._ids:
            self._ids = ids
            view = self.list_view
            index = view.index
            await view.clear()
            await view.extend([QueueRow(item, now) for item in items])
            if items:
                view.index = min(index or 0, len(items) - 1)
            return
        for row, item in zip(self.list_view.query(QueueRow), items, strict=False):
            row.show(item, now)

    def tick(self, now: float) -> None:
        for row in self.list_view.query(QueueRow):
            row.tick(now)

    def _current(self) -> Any:
        child = self.list_view.highlighted_child
        return child.item if isinstance(child, QueueRow) else None

    def action_cancel_item(self) -> None:
        item = self._current()
        if item is not None:
            self.post_message(QueueCancel(str(item.id)))

    def action_edit_item(self) -> None:
        item = self._current()
        if item is not None:
            self.post_message(QueueEdit(str(item.id)))

    def action_merge(self) -> None:
        self.post_message(QueueMerge())
