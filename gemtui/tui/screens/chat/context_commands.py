"""Slash commands about what each request sends: /context, /pin, /unpin, /compact."""

from __future__ import annotations

from typing import Any

from gemtui.timefmt import duration


class ContextCommands:
    """Part of ChatScreen: the context plan shown, pinned messages, and the /compact summary."""

    def context_lines(self) -> list[str]:
        """/context: the plan the send path makes (same budget, same calibrated estimator) for the
        preferred model over the stored history; the next prompt is added to it when sent."""
        session = self.session()
        if session is None:
            return ["nothing stored yet: the next request sends the system prompt and your prompt"]
        plan, error = session.next_plan(self.preference)
        if plan is None:
            return [f"the next request cannot be sent: {error}"]
        lines = [f"next request to {plan.model} (history so far; your next prompt is added to it)",
                 *plan.report()]
        if plan.marker:
            lines.append(f"in the conversation: {plan.marker}")
        return lines

    async def cmd_context(self, _arg: str) -> None:
        from gemtui.tui.screens.context import ContextScreen

        self.app.push_screen(ContextScreen(self.context_lines()))

    # ---- /pin, /unpin ----------------------------------------------------------------------------

    def _message_for(self, arg: str) -> tuple[int | None, str]:
        """`/pin` → the last message shown; `/pin 3` or `/pin #3` → the message shown as #3."""
        if not self._numbers:
            return None, "no message to pin yet"
        if not arg:
            msg_id = max(self._numbers, key=self._numbers.__getitem__)
            return msg_id, ""
        wanted = arg.strip().lstrip("#")
        if not wanted.isdigit():
            return None, f"/pin takes a message number as shown (#3 → /pin 3), not {arg!r}"
        number = int(wanted)
        msg_id = next((i for i, n in self._numbers.items() if n == number), None)
        return (msg_id, "") if msg_id is not None else (None, f"no message #{number} in this conversation")

    async def cmd_pin(self, arg: str) -> None:
        await self._pin(arg, True)

    async def cmd_unpin(self, arg: str) -> None:
        await self._pin(arg, False)

    async def _pin(self, arg: str, pinned: bool) -> None:
        from gemtui.chat.sessions import SessionError

        if self.conv_id is None or self.store is None:
            self.show_info("nothing to pin yet")
            return
        msg_id, problem = self._message_for(arg)
        if msg_id is None:
            self.show_info(problem, "warning")
            return
        try:
            self.store.set_pinned(msg_id, pinned)
        except SessionError as exc:
            self.show_info(f"#{self._numbers[msg_id]}: {exc}", "warning")
            return
        (self._pinned.add if pinned else self._pinned.discard)(msg_id)
        self._relabel(msg_id)
        session = self.session()
        if session is not None:
            session.reload()
        await self.refresh_marker()
        number = self._numbers[msg_id]
        self.show_info(f"#{number} pinned: sent with every request" if pinned
                       else f"#{number} unpinned: sent only while it is recent enough")

    # ---- /compact ---------------------------------------------------------------------------------

    def _admissible_summariser(self, session: Any, plan: Any) -> tuple[Any, Any, str]:
        """The cheapest model the engine admits now for the summary (`cheapest_first`), its job and
        gauges; else (None, None, why)."""
        from gemtui.chat.compact import cheapest_first, prepare_compaction
        from gemtui.chat.sessions import SessionError
        from gemtui.quota.engine import RequestCost
        from gemtui.quota.limits import FALLBACK_ORDER

        runtime = self.runtime
        reasons = []
        for model in cheapest_first(FALLBACK_ORDER):
            try:
                job = prepare_compaction(session.messages, plan.left_out_ids, model, session.estimator,
                                         budget=session.budget)
            except SessionError as exc:
                reasons.append(f"{model}: {exc}")
                continue
            admission = runtime.engine.check(runtime.project, job.model, RequestCost(input_tokens=job.input_tokens))
            if admission.granted:
                return job, runtime.engine.gauges(runtime.project, [job.model])[job.model], ""
            reasons.append(f"{model}: {admission.reason}")
        return None, None, "; ".join(reasons)

    async def cmd_compact(self, _arg: str) -> None:
        from gemtui.tui.screens.confirm import ConfirmDialog

        session = self.session()
        if session is None:
            self.show_info("nothing to compact yet")
            return
        if self._worker is not None:
            self.show_info("an answer is being written; /compact when it is done")
            return
        session.reload()
        plan, error = session.next_plan(self.preference)
        if plan is None:
            self.show_info(f"/compact: {error}", "warning")
            return
        if not plan.left_out:
            self.show_info("nothing to compact: every message is still sent")
            return
        job, gauges, why = self._admissible_summariser(session, plan)
        if job is None:
            self.show_info(f"/compact: no model can take the summary now ({why})", "warning")
            return
        line = job.describe(rpm_left=gauges["rpm"].remaining, tpm_left=gauges["tpm"].remaining,
                            rpd_left=gauges["rpd"].remaining)

        def answered(ok: bool | None) -> None:
            if ok:
                self._worker = self.run_worker(self._compact(job), group="send", exit_on_error=False)

        self.app.push_screen(ConfirmDialog("Summarise the messages that are no longer sent?", line,
                                           "The summary is pinned in their place; nothing is deleted."),
                             answered)

    async def _compact(self, job: Any) -> None:
        from gemtui.chat.compact import apply_compaction
        from gemtui.chat.sender import Failed, Finished, Request, Waiting, send
        from gemtui.errors import one_line
        from gemtui.gemini.client import Turn
        from gemtui.quota.engine import RequestCost

        runtime = self.runtime
        conv_id = self.conv_id
        try:
            self.set_status(f"/compact: summarising with {job.model}…", busy=True)
            request = Request(turns=[Turn("user", job.request_text)], system=job.system, preference=job.model,
                              policy="wait", forced_route=job.model,
                              cost_for=lambda _model: RequestCost(input_tokens=job.input_tokens))
            summary = None
            async for event in send(request, engine=runtime.engine, client=runtime.client,
                                    project=runtime.project, secrets=runtime.secrets):
                if isinstance(event, Waiting):
                    self.set_status(f"/compact: waiting for {event.model} "
                                    f"({duration(event.until - self.now)})", busy=True)
                elif isinstance(event, Finished):
                    summary = event.text
                elif isinstance(event, Failed):
                    self.show_info(f"/compact failed, nothing changed: {event.failure.message}", "error")
                self.refresh_gauges()
            if summary is None or conv_id != self.conv_id:
                return
            apply_compaction(self.store, conv_id, job.covered_ids, summary, job.model)
            await self._show_conversation()
            self.show_info(f"/compact: {len(job.covered_ids)} messages replaced by a pinned summary "
                           f"from {job.model}")
        except Exception as exc:  # shown, never a traceback
            self.show_info(f"/compact failed, nothing changed: {one_line(exc, runtime.secrets)}", "error")
        finally:
            self._worker = None
            self.set_status("")
            self.refresh_gauges()
            self.call_later(self.pump)
