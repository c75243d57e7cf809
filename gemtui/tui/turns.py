"""The chat screen's conversation in use: the core's ChatSession plus what an interactive app adds.

`ChatSession.prepare` stores the prompt and plans the request under the context budget, `record`
stores the answer as it streams; both stay the core's. The app also needs to send a stored prompt
again (/retry, without storing it twice), to give back a prompt that was prepared but never routed
(cancelled or re-queued while it waited), and to close an answer the user cancelled.
"""

from __future__ import annotations

from typing import Any

from gemtui.chat.context import ContextPlan, ContextTooLarge
from gemtui.chat.conversation import UNSENDABLE, ChatSession, PreparedTurn, to_turns
from gemtui.chat.router import candidates
from gemtui.chat.sender import Request
from gemtui.chat.sessions import Message
from gemtui.gemini.client import Turn
from gemtui.quota.engine import RequestCost


class TuiSession(ChatSession):
    """A ChatSession with the few extra moves the interactive app makes."""

    @property
    def answer_id(self) -> int | None:
        """The stored answer of the turn in flight (after `record(Routed)`)."""
        return self._answer.id if self._answer is not None else None

    def reload(self) -> None:
        """Re-read the conversation (after /pin, /compact, or another process wrote to it)."""
        self.messages = self.store.messages(self.conversation.id)

    def preferred(self, preference: str) -> str:
        return candidates(preference)[0]

    def next_plan(self, preference: str) -> tuple[ContextPlan | None, str | None]:
        """What the next request to the preferred model sends of the stored history: /context and the
        marker show this, and it is the very planner (budget, calibrated estimator) the send path uses."""
        try:
            return self.plan(self.preferred(preference)), None
        except ContextTooLarge as exc:
            return None, str(exc)

    def prepare_again(self, user_id: int, *, preference: str, policy: str, threshold_s: float) -> PreparedTurn:
        """/retry: plan the stored prompt `user_id` again without storing it twice.

        Answers after it that did not complete (cut, cancelled, failed) are marked "error": kept and
        exported, never sent as history, so the new answer does not follow a broken one.
        """
        self.reload()
        index = next((i for i, m in enumerate(self.messages) if m.id == user_id), None)
        if index is None:
            raise ContextTooLarge("the message to retry is no longer stored", needed=0, limit=0, model="",
                                  part="request")
        user = self.messages[index]
        broken = [m.id for m in self.messages[index + 1:] if m.role == "model" and m.status != "complete"]
        if broken:
            self.store.set_status(broken, "error")
        if user.status != "complete":
            self.store.update_message(user.id, status="complete")
        self.reload()
        user = self.messages[index]
        return self._prepared(user, self.messages[: index + 1], preference, policy, threshold_s)

    def _prepared(self, user: Message, snapshot: list[Message], preference: str, policy: str,
                  threshold_s: float) -> PreparedTurn:
        """As `ChatSession.prepare` does after storing the prompt (same plans, same costs)."""
        preferred, order = candidates(preference)
        request = Request(turns=to_turns([user]), system=self.system, preference=preference, policy=policy,
                          threshold_s=threshold_s)
        prepared = PreparedTurn(request, user)

        def plan_for(model: str) -> ContextPlan | None:
            if model not in prepared.plans and model not in prepared.errors:
                try:
                    prepared.plans[model] = self.plan(model, snapshot)
                except ContextTooLarge as exc:
                    prepared.errors[model] = exc
            return prepared.plans.get(model)

        if not any([plan_for(model) for model in order]):
            self.store.update_message(user.id, status="error", error=str(prepared.errors[preferred]))
            raise prepared.errors[preferred]

        def cost_for(model: str) -> RequestCost:
            plan = plan_for(model)
            return RequestCost(input_tokens=plan.total_tokens) if plan else UNSENDABLE

        def turns_for(model: str) -> list[Turn]:
            plan = self._plan_used = plan_for(model)
            return to_turns(plan.sent) if plan else to_turns([user])

        request.cost_for = cost_for
        request.turns_for = turns_for
        return prepared

    def unsend(self, user_id: int, *, keep: bool) -> None:
        """A prepared prompt that was never routed: removed (it is still in the queue, or the user
        cancelled it there), or with `keep` left stored but marked so it is never sent as history."""
        if keep:
            self.store.update_message(user_id, status="error", error="not sent")
        else:
            self.store.delete_message(user_id)
        self._finish()

    def abandon(self, text: str, error: str) -> None:
        """The answer in flight stops without Finished/Failed (Esc, or an unexpected error)."""
        if self._answer is not None:
            self.store.update_message(self._answer.id, text=text, status="partial" if text else "error",
                                      error=error)
        self._finish()


def open_session(store: Any, conv_id: int, runtime: Any, estimator: Any) -> TuiSession:
    conversation = store.get(conv_id)
    return TuiSession(store, conversation, engine=runtime.engine, project=runtime.project,
                      config=runtime.config, estimator=estimator)
