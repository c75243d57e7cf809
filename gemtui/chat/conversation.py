"""A stored conversation in use: history in, the next request out under the context budget, the answer
written back as it streams.

Shared by `gemtui ask --session` and the TUI. The user's message is stored before it is sent and the
answer is stored as it arrives (partial until finished), so a crash loses nothing. The plan is made
per model, because the router may send the request to a model with another budget.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from gemtui.chat.context import ContextBudget, ContextPlan, ContextTooLarge, plan_context, tpm_from_engine
from gemtui.chat.response_cache import is_cached
from gemtui.chat.router import Policy, candidates
from gemtui.chat.runtime_view import SdkClient
from gemtui.chat.sender import Delta, Failed, Finished, Request, Routed
from gemtui.chat.sessions import Conversation, Message, SessionStore
from gemtui.chat.tokens import TokenEstimator
from gemtui.config import Config
from gemtui.gemini.client import input_token_limit
from gemtui.generation import GenerationSettings
from gemtui.quota.admission import RequestCost
from gemtui.quota.engine import QuotaEngine
from gemtui.turns import Attachment, Turn

# A model whose budget cannot hold the request gets a cost no limit admits, so the router skips it.
UNSENDABLE = RequestCost(input_tokens=10**15)
SAVE_EVERY_S = 0.5


def to_turns(messages: list[Message]) -> list[Turn]:
    """Messages as API turns; neighbours of the same role are joined (a summary is a user turn)."""
    turns: list[Turn] = []
    for message in messages:
        role = "model" if message.role == "model" else "user"
        attached = tuple(getattr(message, "attachments", ()))
        if turns and turns[-1].role == role:
            turns[-1] = Turn(role, turns[-1].text + "\n\n" + message.text, turns[-1].attachments + attached)
        else:
            turns.append(Turn(role, message.text, attached))
    return turns


@dataclass
class PreparedTurn:
    """One request of a conversation, with the plans it was routed by."""

    request: Request
    user_message: Message
    plans: dict[str, ContextPlan] = field(default_factory=dict)
    errors: dict[str, ContextTooLarge] = field(default_factory=dict)


class ChatSession:
    def __init__(
        self,
        store: SessionStore,
        conversation: Conversation,
        *,
        engine: QuotaEngine,
        project: str,
        config: Config,
        estimator: TokenEstimator | None = None,
        budget: ContextBudget | None = None,
    ) -> None:
        self.store = store
        self.conversation = conversation
        self.engine = engine
        self.project = project
        self.estimator = estimator or TokenEstimator()
        self.budget = budget or ContextBudget.from_config(config, tpm_for=tpm_from_engine(engine, project))
        self.defaults = config.generation  # `[generation]`: what a conversation's own settings fall back to
        self.messages: list[Message] = store.messages(conversation.id)
        self._answer: Message | None = None
        self._answer_text = ""
        self._saved_at = 0.0
        self._plan_used: ContextPlan | None = None

    @property
    def system(self) -> str | None:
        return self.conversation.system

    @property
    def generation(self) -> GenerationSettings:
        """The conversation's settings over the config's defaults: what its requests ask for."""
        return self.conversation.settings.over(self.defaults)

    def set_system(self, text: str | None) -> None:
        self.store.set_system(self.conversation.id, text)
        self.reread_conversation()

    def set_settings(self, settings: GenerationSettings) -> None:
        """Store the conversation's own settings (those not set fall back to the config's defaults)."""
        self.store.set_settings(self.conversation.id, settings)
        self.reread_conversation()

    def reread_conversation(self) -> None:
        """After the stored conversation changed (its system prompt or settings set elsewhere)."""
        conversation = self.store.get(self.conversation.id)
        if conversation is not None:
            self.conversation = conversation

    def plan(self, model: str, messages: list[Message] | None = None) -> ContextPlan:
        return plan_context(
            messages if messages is not None else self.messages,
            self.system,
            model,
            self.budget,
            self.estimator,
            allow_truncate=self.budget.truncate_oversized,
        )

    def prepare(
        self,
        prompt: str,
        *,
        preference: str = "auto",
        policy: Policy = "switch",
        threshold_s: float = 20.0,
        max_output_tokens: int | None = None,
        generation: GenerationSettings | None = None,
        attachments: Sequence[Attachment] = (),
    ) -> PreparedTurn:
        """Store the user's message (with the files attached to it, resent with it in later turns) and build
        the request. Raises ContextTooLarge if no model can take it. `generation`: settings for this turn
        only, over the conversation's."""
        user = self.store.append(self.conversation.id, "user", prompt, attachments=attachments)
        self.messages.append(user)
        # A snapshot: later messages (typed while this one waits) are not part of its history.
        return self._prepared(user, list(self.messages), preference, policy, threshold_s, max_output_tokens, generation)

    def prepare_again(
        self,
        user_id: int,
        *,
        preference: str = "auto",
        policy: Policy = "switch",
        threshold_s: float = 20.0,
        max_output_tokens: int | None = None,
        generation: GenerationSettings | None = None,
    ) -> PreparedTurn:
        """/retry: plan the stored prompt `user_id` again without storing it twice.

        Answers after it that did not complete (cut, cancelled, failed) are marked "error": kept and
        exported, never sent as history, so the new answer does not follow a broken one.
        """
        self.reload()
        index = next((i for i, m in enumerate(self.messages) if m.id == user_id), None)
        if index is None:
            raise ContextTooLarge(
                "the message to retry is no longer stored", needed=0, limit=0, model="", part="request"
            )
        broken = [m.id for m in self.messages[index + 1 :] if m.role == "model" and m.status != "complete"]
        if broken:
            self.store.set_status(broken, "error")
        if self.messages[index].status != "complete":
            self.store.update_message(user_id, status="complete")
        self.reload()
        return self._prepared(
            self.messages[index],
            self.messages[: index + 1],
            preference,
            policy,
            threshold_s,
            max_output_tokens,
            generation,
        )

    def _prepared(
        self,
        user: Message,
        snapshot: list[Message],
        preference: str,
        policy: Policy,
        threshold_s: float,
        max_output_tokens: int | None,
        generation: GenerationSettings | None = None,
    ) -> PreparedTurn:
        """Plans per model (lazily, cached) for the stored prompt `user` with `snapshot` as history."""
        preferred, order = candidates(preference)
        settings = generation.over(self.generation) if generation is not None else self.generation
        if max_output_tokens:  # given for this turn (`ask --max-output-tokens`): it wins
            settings = settings.with_value("max_output", max_output_tokens)
        request = Request(
            turns=to_turns([user]),
            system=self.system,
            preference=preference,
            policy=policy,
            threshold_s=threshold_s,
            max_output_tokens=settings.max_output,
            generation=settings,
        )
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

    # ---- the interactive app's extra moves --------------------------------------------------

    @property
    def answer_id(self) -> int | None:
        """The stored answer of the turn in flight (after `record(Routed)`)."""
        return self._answer.id if self._answer is not None else None

    def reload(self) -> None:
        """Re-read the conversation (after /pin, /compact, or another process wrote to it)."""
        self.messages = self.store.messages(self.conversation.id)

    def next_plan(self, preference: str) -> tuple[ContextPlan | None, str | None]:
        """What the next request to the preferred model sends of the stored history (/context and the
        "not sent" marker show this; it is the planner the send path uses)."""
        try:
            return self.plan(candidates(preference)[0]), None
        except ContextTooLarge as exc:
            return None, str(exc)

    def unsend(self, user_id: int | None, *, keep: bool, error: str = "not sent") -> None:
        """A prepared prompt that was never answered: removed (it is still queued, or the user cancelled
        it), or with `keep` left stored, marked so it is never sent as history, with why (`error`).
        `user_id` None: the prompt was never stored, so there is nothing to mark or remove."""
        if user_id is not None and keep:
            self.store.update_message(user_id, status="error", error=error)
        elif user_id is not None:
            self.store.delete_message(user_id)
        self._finish()

    def abandon(self, text: str, error: str) -> None:
        """The answer in flight stops without Finished/Failed (Esc, or an unexpected error)."""
        if self._answer is not None:
            self.store.update_message(self._answer.id, text=text, status="partial" if text else "error", error=error)
        self._finish()

    # ---- writing the answer back ------------------------------------------------------------

    def record(self, event: object) -> None:
        """Store what an event from the sender means for this conversation."""
        if isinstance(event, Routed):
            if self._answer is None:
                self._answer = self.store.append(self.conversation.id, "model", "", model=event.model, status="pending")
                self._answer_text = ""
            else:
                self.store.update_message(self._answer.id, model=event.model)
        elif isinstance(event, Delta) and self._answer is not None:
            self._answer_text += event.text
            now = time.monotonic()
            if now - self._saved_at >= SAVE_EVERY_S:
                self.store.update_message(self._answer.id, text=self._answer_text, status="partial")
                self._saved_at = now
        elif isinstance(event, Finished):
            usage = event.usage
            if self._answer is None:
                self._answer = self.store.append(self.conversation.id, "model", "", model=event.model)
            self.store.update_message(
                self._answer.id,
                text=event.text,
                status="complete",
                model=event.model,
                input_tokens=usage.input_tokens if usage else None,
                output_tokens=usage.output_tokens if usage else None,
                thoughts_tokens=usage.thought_tokens if usage else None,
                latency_s=event.latency_s,
                cached=is_cached(event) or None,
                images=event.saved,
            )
            if usage and usage.input_tokens and self._plan_used is not None and not is_cached(event):
                self._plan_used.observe(self.estimator, usage.input_tokens)
            self._finish()
        elif isinstance(event, Failed):
            if self._answer is not None and event.partial:
                self.store.update_message(
                    self._answer.id, text=event.partial, status="partial", error=event.failure.message
                )
            elif self._answer is not None:
                self.store.delete_message(self._answer.id)
            self._finish()

    def _finish(self) -> None:
        self.messages = self.store.messages(self.conversation.id)
        self._answer = None
        self._answer_text = ""
        self._plan_used = None


async def learn_context_windows(budget: ContextBudget, client: SdkClient, models: list[str]) -> None:
    """Ask `models.get` once per model for its `inputTokenLimit` (cached across runs by the budget).

    It spends no generate quota; a failure leaves the table's window in place, so it never blocks a send.
    """
    for model in models:
        if budget.knows_window(model) or ":" in model:  # a `profile:model` link: not Gemini's to describe
            continue
        try:
            limit = await input_token_limit(client, model)
        except Exception:  # the table's window stays; the next run asks again
            continue
        if limit:
            budget.set_model_window(model, int(limit))


def open_named_session(
    name: str, *, engine: QuotaEngine, project: str, config: Config, store: SessionStore | None = None
) -> ChatSession:
    store = store or SessionStore()
    return ChatSession(store, store.get_or_create_named(name), engine=engine, project=project, config=config)
