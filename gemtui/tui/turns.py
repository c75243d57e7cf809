"""Opening the chat screen's conversation: the core's ChatSession, with the screen's runtime and estimator."""

from __future__ import annotations

from typing import Any

from gemtui.chat.conversation import ChatSession


def open_session(store: Any, conv_id: int, runtime: Any, estimator: Any) -> ChatSession:
    conversation = store.get(conv_id)
    return ChatSession(
        store, conversation, engine=runtime.engine, project=runtime.project, config=runtime.config, estimator=estimator
    )
