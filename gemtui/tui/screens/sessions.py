"""/sessions: browse stored conversations, Enter resumes, d deletes (asks once), Esc goes back.

Titles are the user's own words and are shown as typed. A stored row that cannot be shown at all (bad
data in the file) is listed as unreadable, its traceback in the log, so it can still be deleted here.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from gemtui.tui.literal import cell

log = logging.getLogger(__name__)


def row_cells(summary: Any, current: int | None) -> tuple[Any, ...]:
    """The cells of one stored conversation: Text, so a title is never parsed as markup."""
    updated = datetime.fromtimestamp(summary.updated_at).strftime("%Y-%m-%d %H:%M")
    mark = " ●" if summary.id == current else ""
    title = summary.title or summary.name or "(untitled)"
    return (
        cell(f"{int(summary.id)}{mark}"),
        cell(title),
        cell(int(summary.message_count)),
        cell(summary.last_model or ""),
        cell(updated),
    )


class SessionsScreen(Screen[int | None]):
    CSS_PATH = "sessions.tcss"
    BINDINGS = [
        Binding("escape,q", "back", "Back"),
        Binding("enter", "resume", "Resume", priority=True),
        Binding("d,delete", "delete", "Delete"),
    ]

    def __init__(self, store: Any, current: int | None) -> None:
        super().__init__()
        self.store = store
        self.current = current
        self._armed: int | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="sessions-body"):
            yield Static("Sessions", classes="title")
            yield DataTable(id="sessions-table", cursor_type="row", zebra_stripes=True)
            yield Static(
                "Enter resume · d delete (press twice) · Esc back", classes="hint", id="sessions-hint", markup=False
            )
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("#", "title", "messages", "last model", "updated")
        self._fill()
        table.focus()

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for s in self.store.list():
            try:
                cells = row_cells(s, self.current)
            except Exception as exc:  # bad data in the stored row: listed, so it can still be deleted
                log.exception("session %r cannot be listed", s.id)
                cells = (
                    cell(s.id),
                    cell(f"(unreadable: {type(exc).__name__}; details in the log)"),
                    cell(""),
                    cell(""),
                    cell(""),
                )
            table.add_row(*cells, key=str(s.id))

    def _selected(self) -> int | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return int(key.value) if key.value else None

    def action_resume(self) -> None:
        conv = self._selected()
        if conv is not None:
            self.dismiss(conv)

    def action_delete(self) -> None:
        conv = self._selected()
        if conv is None:
            return
        if self._armed != conv:
            self._armed = conv
            self.query_one("#sessions-hint", Static).update(f"press d again to delete session {conv}")
            return
        self.store.delete(conv)
        self._armed = None
        self.query_one("#sessions-hint", Static).update(f"deleted session {conv}")
        self._fill()

    def action_back(self) -> None:
        self.dismiss(None)
