"""The ``enhancement`` job kind: one document through context gathering, enhancement,
the gateway's own checks and an optional model review, in one conversation
(``tasks.kinds.enhancement.steps``), checkpointed after every model reply
(``tasks.kinds.enhancement.state``).

A failed validation is a result, not a failure: the job succeeds with
``validation.passed`` false and the checks that failed; a batch counts it as
``validation_failed``. The job fails only when it cannot finish: the document cannot be
fetched, the provider refuses, a budget runs out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import structlog

from gateway.errors import InvalidRequest
from providers.pricing import price_for
from tasks.jobs.record import JobRecord, JobStatus, JobType
from tasks.kinds.base import ModelParts
from tasks.kinds.enhancement.checks import (
    check_enhancement,
    citations_of,
    document_title,
    parse_review,
    returned_chunk_ids,
    unwrap_document,
)
from tasks.kinds.enhancement.request import EnhancementRequest
from tasks.kinds.enhancement.state import PipelineState, chunk_sources
from tasks.kinds.enhancement.steps import (
    CHECK,
    DONE,
    ENHANCE,
    GATHER,
    KIND,
    REVIEW,
    enhancement_chat,
    prompt_version,
)
from tasks.loops.fallbacks import RouteState
from tasks.loops.model_calls import Turn
from tasks.loops.runner import LoopRun
from tasks.loops.state import LoopLimits, gateway_tools
from tasks.prompts.templates import PromptTemplates

log = structlog.get_logger(__name__)

# Fetches a document URL's text; raises ``DocumentUnavailable`` or ``UrlNotAllowed``.
FetchDocument = Callable[[str], str]


class EnhancementRunner:
    """Runs ``enhancement`` jobs: model steps through the shared ``parts`` (calls, loops,
    store), prompts from the templates, documents by URL through ``fetch``."""

    kind = JobType.ENHANCEMENT

    def __init__(
        self, *, parts: ModelParts, prompts: PromptTemplates, fetch: FetchDocument
    ) -> None:
        self.parts = parts
        self.prompts = prompts
        self.fetch = fetch

    def run(self, job: JobRecord, token: str) -> None:
        """Run (or resume) the job's steps, then record its result."""
        parsed = EnhancementRequest.model_validate(job.request)
        state = PipelineState.of(job.pipeline)
        if state.document is None and not self._begin(job, token, parsed, state):
            return
        while state.step != DONE:
            if state.step == CHECK:
                self._check(parsed, state)
                if not self._save(job, token, state):
                    return
                continue
            turn = self._model_step(job, token, parsed, state)
            if turn is None:
                return
            try:
                self._end_model_step(parsed, state, turn)
                state.failures_base = job.failures
                if not self._save(job, token, state):
                    return
            finally:
                # After the step's answer is saved: a paid-for reply is never paid again.
                self.parts.calls.settle(turn)
        self._finish(job, token, parsed, state)

    def _variables(self, parsed: EnhancementRequest, state: PipelineState) -> dict[str, Any]:
        document = state.document or ""
        name = parsed.document.name or ""
        return {
            "document": document,
            "title": document_title(document, name),
            "name": name,
            "tools": list(parsed.options.tools),
            "checks": state.checks or [],
            "max_iterations": parsed.options.max_iterations,
        }

    def _render(self, parsed: EnhancementRequest, state: PipelineState, step: str) -> str:
        version = state.prompt.partition("/")[2]
        return self.prompts.render(KIND, version, step, **self._variables(parsed, state)).user

    def _begin(
        self, job: JobRecord, token: str, parsed: EnhancementRequest, state: PipelineState
    ) -> bool:
        """Fetch the document (once: it is checkpointed) and open the conversation."""
        source = parsed.document
        state.document = source.text if source.text is not None else self.fetch(source.url or "")
        version = prompt_version(self.prompts, parsed.options.prompt_version)
        state.prompt = f"{KIND}/{version}"
        rendered = self.prompts.render(KIND, version, GATHER, **self._variables(parsed, state))
        state.messages = [{"role": "system", "content": rendered.system}]
        state.start(GATHER, rendered.user)
        return self._save(job, token, state)

    def _model_step(
        self, job: JobRecord, token: str, parsed: EnhancementRequest, state: PipelineState
    ) -> Turn | None:
        route = RouteState.of(job)
        instance = self.parts.calls.instances.get(route.current.instance)
        if instance is None:
            raise InvalidRequest(f"provider instance {route.current.instance!r} is not configured")
        request = enhancement_chat(parsed, self.parts.tools, step=state.step)
        gathering = state.step == GATHER
        iterations = parsed.options.max_iterations if gathering else 0
        run = LoopRun(
            # The retry budget counts this step's failures only.
            job=replace(job, failures=max(job.failures - state.failures_base, 0)),
            token=token,
            route=route,
            instance=instance,
            provider=self.parts.provider_for(instance.name),
            prompt=state.messages,
            request=request,
            limits=LoopLimits(max_iterations=iterations),
            price=price_for(instance, route.current.model),
            ours=gateway_tools(request, self.parts.tools) if gathering else frozenset(),
            save=lambda _loop: self._save(job, token, state),
            spent=lambda _loop, _always: self._spent(state),
            answer_at_limit=True,
        )
        return self.parts.loops.run(run, state.loop)

    def _end_model_step(self, parsed: EnhancementRequest, state: PipelineState, turn: Turn) -> None:
        step = state.step
        if step == GATHER:
            state.end_step(turn.response, ENHANCE, self._render(parsed, state, ENHANCE))
        elif step == ENHANCE:
            state.end_step(turn.response, CHECK, None)
        else:
            state.end_step(turn.response, DONE, None)

    def _check(self, parsed: EnhancementRequest, state: PipelineState) -> None:
        enhanced = unwrap_document(state.answers.get(ENHANCE, ""))
        returned = returned_chunk_ids(state.tool_contents())
        checks = check_enhancement(
            state.document or "",
            enhanced,
            returned,
            min_content_retained=parsed.options.min_content_retained,
        )
        state.checks = [c.public() for c in checks]
        if parsed.options.review:
            state.start(REVIEW, self._render(parsed, state, REVIEW))
        else:
            state.start(DONE, None)

    def _save(self, job: JobRecord, token: str, state: PipelineState) -> bool:
        saved = self.parts.store.checkpoint(job.id, token, {"pipeline": state.to_record()})
        if not saved:
            log.info("checkpoint_refused", reason="lease lost or job finished")
        return saved

    def _spent(self, state: PipelineState) -> dict[str, Any]:
        """What a failing job keeps: the usage and cost of every step so far."""
        usage = state.usage()
        if not usage.total_tokens:
            return {}
        return {"usage": usage.as_dict(), "cost_usd": state.cost_usd()}

    def _finish(
        self, job: JobRecord, token: str, parsed: EnhancementRequest, state: PipelineState
    ) -> None:
        result = enhancement_result(parsed, state, RouteState.of(job).current.instance)
        passed = result["validation"]["passed"]
        moved, current = self.parts.store.finish(
            job.id,
            token,
            JobStatus.SUCCEEDED,
            fields={
                "result": result,
                "usage": state.usage().as_dict(),
                "cost_usd": state.cost_usd(),
                "error": None,
                "finished_at": time.time(),
                "validation_failed": None if passed else "1",
                # The conversation is in the result's steps and document; drop the bulk.
                "pipeline": {"step": DONE, "prompt": state.prompt},
            },
        )
        log.info("enhancement_finished", recorded=moved, status=current, passed=passed)


def enhancement_result(
    parsed: EnhancementRequest, state: PipelineState, provider: str
) -> dict[str, Any]:
    """The job's result: the document, its citations, the checks and each step's usage."""
    original = state.document or ""
    enhanced = unwrap_document(state.answers.get(ENHANCE, ""))
    sources = chunk_sources(state.tool_contents())
    checks = state.checks or []
    review = parse_review(state.answers[REVIEW]) if REVIEW in state.answers else None
    # An unusable review (approved None) is reported with its error; only a rejection fails.
    passed = all(c["passed"] for c in checks) and (
        review is None or review["approved"] is not False
    )
    return {
        "document": enhanced,
        "citations": [
            {"chunk_id": label, "source": sources.get(label)}
            for label in citations_of(original, enhanced)
        ],
        "validation": {"passed": passed, "checks": checks, "review": review},
        "context_notes": state.answers.get(GATHER, ""),
        "steps": state.steps,
        "prompt": state.prompt,
        "provider": provider,
        "model": parsed.model,
    }
