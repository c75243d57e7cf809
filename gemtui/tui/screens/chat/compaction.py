"""The /compact summary as the chat screen sends it: the cheapest admissible model for the summary,
and the one chat task that sends it through the turn runner and stores the result
(`gemtui.tui.slash.sending` asks first and starts it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gemtui.timefmt import duration

if TYPE_CHECKING:
    from gemtui.chat.compact import CompactionJob
    from gemtui.chat.context import ContextPlan
    from gemtui.chat.conversation import ChatSession
    from gemtui.quota.gauges import Gauge


class CompactionMixin:
    """Part of ChatScreen: its runtime, store, status line and chat task."""

    def _admissible_summariser(
        self: Any, session: ChatSession, plan: ContextPlan
    ) -> tuple[CompactionJob | None, dict[str, Gauge] | None, str]:
        """The cheapest model the engine admits now for the summary (`admissible_summariser`), its job and
        gauges; else (None, None, why)."""
        from gemtui.chat.compact import admissible_summariser

        runtime = self.runtime
        job, why = admissible_summariser(
            session.messages, plan.left_out_ids, runtime.engine, runtime.project, session.estimator, session.budget
        )
        if job is None:
            return None, None, why
        return job, runtime.engine.gauges(runtime.project, [job.model])[job.model], ""

    async def _compact(self: Any, job: CompactionJob) -> None:
        from gemtui.chat.compact import apply_compaction, summary_request
        from gemtui.chat.turn_runner import Failed, Finished, Outgoing, TurnRunner, Waiting, Wire, run_one
        from gemtui.errors import one_line

        runtime = self.runtime
        conv_id = self.conv_id
        summary: list[str] = []

        def show(event: object) -> None:
            if isinstance(event, Waiting):
                self.set_status(f"/compact: waiting for {event.model} ({duration(event.until - self.now)})", busy=True)
            elif isinstance(event, Finished):
                summary.append(event.text)
            elif isinstance(event, Failed):
                self.show_info(f"/compact failed, nothing changed: {event.failure.message}", "error")
            self.refresh_gauges()

        try:
            self.set_status(f"/compact: summarising with {job.model}…", busy=True)
            await run_one(TurnRunner(Wire.of(runtime)), Outgoing(request=summary_request(job)), show)
            if not summary or conv_id != self.conv_id:
                return
            apply_compaction(self.store, conv_id, job.covered_ids, summary[0], job.model)
            await self.show_conversation()
            self.show_info(f"/compact: {len(job.covered_ids)} messages replaced by a pinned summary from {job.model}")
        except Exception as exc:  # shown, never a traceback (that goes to the log file)
            from gemtui.log import get_logger

            get_logger(__name__).exception("/compact failed")
            self.show_info(f"/compact failed, nothing changed: {one_line(exc, runtime.secrets)}", "error")
        finally:
            self.chat_task.finished()
            self.set_status("")
            self.refresh_gauges()
            self.call_later(self.pump)
