"""Fallback planning: candidates in order, instances keep the model, models are routed,
tried candidates and incapable ones are skipped, and a new round starts at the primary."""

from __future__ import annotations

from providers.config import ProvidersConfig
from providers.types import ChatRequest, ImagePart, Message, TextPart
from tasks.records import JobRecord, JobStatus, JobType
from tasks.routing import Candidate, FallbackPlanner, RouteState

CONFIG = ProvidersConfig.model_validate(
    {
        "instances": {
            "main": {
                "type": "openai",
                "models": ["gpt-4o"],
                "fallbacks": ["azure-copy", "claude-haiku-4-5"],
            },
            "azure-copy": {"type": "openai", "models": []},
            "claude": {"type": "anthropic", "model_patterns": ["claude-*"]},
        }
    }
)
TEXT = ChatRequest(model="gpt-4o", messages=(Message("user", (TextPart("hi"),)),))


def job(route: dict[str, object] | None = None) -> JobRecord:
    return JobRecord(
        id="job_x",
        tenant="t",
        type=JobType.COMPLETION,
        status=JobStatus.RUNNING,
        request={},
        created_at=0.0,
        model="gpt-4o",
        provider="main",
        route=route,
    )


def test_candidates_are_the_primary_then_fallbacks_in_order() -> None:
    planner = FallbackPlanner(CONFIG)
    assert planner.candidates(Candidate("main", "gpt-4o")) == [
        Candidate("main", "gpt-4o"),
        Candidate("azure-copy", "gpt-4o"),  # an instance: same model there
        Candidate("claude", "claude-haiku-4-5"),  # a model: routed
    ]


def test_next_untried_walks_the_list_and_ends_with_none() -> None:
    planner = FallbackPlanner(CONFIG)
    state = RouteState.of(job())
    first = planner.next_untried(state, TEXT)
    assert first == Candidate("azure-copy", "gpt-4o")
    assert first is not None
    state = state.moved_to(first)
    second = planner.next_untried(state, TEXT)
    assert second == Candidate("claude", "claude-haiku-4-5")
    assert second is not None
    assert planner.next_untried(state.moved_to(second), TEXT) is None


def test_route_state_round_trips_through_the_record() -> None:
    state = RouteState.of(job()).moved_to(Candidate("azure-copy", "gpt-4o"))
    again = RouteState.of(job(state.to_record()))
    assert again == state
    assert again.restarted() == RouteState(again.primary, again.primary, ())


def test_candidate_that_cannot_take_the_request_is_skipped() -> None:
    config = ProvidersConfig.model_validate(
        {
            "instances": {
                "main": {"type": "openai", "models": ["gpt-4o"], "fallbacks": ["claude"]},
                "claude": {"type": "anthropic"},
            }
        }
    )
    # Anthropic takes images only by http(s) or data: URL; OpenAI passes this one through.
    odd_image = ChatRequest(
        model="gpt-4o", messages=(Message("user", (ImagePart(url="ftp://example.com/x.png"),)),)
    )
    planner = FallbackPlanner(config)
    assert planner.next_untried(RouteState.of(job()), odd_image) is None
    assert planner.next_untried(RouteState.of(job()), TEXT) == Candidate("claude", "gpt-4o")
