"""Fallback planning: candidates in order, instances keep the model, models are routed,
tried candidates and incapable ones are skipped, and a new round starts at the primary."""

from __future__ import annotations

from providers.config import ProvidersConfig
from providers.embeddings import EmbeddingRequest
from providers.types import ChatRequest, ImagePart, Message, TextPart
from tasks.jobs.record import JobRecord, JobStatus, JobType
from tasks.loops.fallbacks import Candidate, FallbackPlanner, RouteState

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


SHARED = ProvidersConfig.model_validate(
    {
        "instances": {
            "anthropic": {"type": "anthropic", "models": ["claude-sonnet-4-5"]},
            "bedrock-us": {"type": "bedrock", "models": ["claude-sonnet-4-5"], "priority": 1},
            "bedrock-eu": {"type": "bedrock", "models": ["claude-sonnet-4-5"], "priority": 2},
        }
    }
)
CLAUDE = ChatRequest(model="claude-sonnet-4-5", messages=(Message("user", (TextPart("hi"),)),))


def claude_job(provider: str, hint: str | None = None) -> JobRecord:
    request: dict[str, object] = {"model": "claude-sonnet-4-5"}
    if hint is not None:
        request["provider"] = hint
    return JobRecord(
        id="job_y",
        tenant="t",
        type=JobType.COMPLETION,
        status=JobStatus.RUNNING,
        request=request,
        created_at=0.0,
        model="claude-sonnet-4-5",
        provider=provider,
    )


def test_other_instances_serving_the_model_are_fallbacks_in_preference_order() -> None:
    planner = FallbackPlanner(SHARED)
    assert [
        c.instance for c in planner.candidates(Candidate("bedrock-eu", "claude-sonnet-4-5"))
    ] == [
        "bedrock-eu",
        "anthropic",
        "bedrock-us",
    ]
    state = RouteState.of(claude_job("anthropic"))
    assert planner.next_untried(state, CLAUDE) == Candidate("bedrock-us", "claude-sonnet-4-5")


def test_a_provider_type_hint_keeps_fallbacks_within_the_type() -> None:
    planner = FallbackPlanner(SHARED)
    state = RouteState.of(claude_job("bedrock-us", hint="bedrock"))
    assert state.hint == "bedrock"
    assert planner.next_untried(state, CLAUDE) == Candidate("bedrock-eu", "claude-sonnet-4-5")


def test_an_instance_hint_has_no_fallback() -> None:
    planner = FallbackPlanner(SHARED)
    state = RouteState.of(claude_job("bedrock-us", hint="bedrock-us"))
    assert planner.next_untried(state, CLAUDE) is None


def test_unavailable_instances_are_never_fallbacks() -> None:
    planner = FallbackPlanner(SHARED, unavailable=lambda: {"bedrock-us"})
    state = RouteState.of(claude_job("anthropic"))
    assert planner.next_untried(state, CLAUDE) == Candidate("bedrock-eu", "claude-sonnet-4-5")


def test_a_new_round_starts_at_the_primary_only_while_a_worker_serves_it() -> None:
    served = set(SHARED.instances)
    planner = FallbackPlanner(SHARED, unavailable=lambda: set(SHARED.instances) - served)
    moved = RouteState.of(claude_job("anthropic")).moved_to(
        Candidate("bedrock-us", "claude-sonnet-4-5")
    )
    assert planner.restarted(moved) == RouteState(moved.primary, moved.primary, ())
    served.discard("anthropic")  # its workers are gone: stay where a worker runs the job
    assert planner.restarted(moved) == RouteState(moved.primary, moved.current, ())


def test_a_model_discovered_on_a_local_server_does_not_fall_back_to_a_cloud_pattern() -> None:
    config = ProvidersConfig.model_validate(
        {
            "instances": {
                "ollama": {"type": "ollama", "discover_models": True},
                "openai": {"type": "openai", "model_patterns": ["gpt-*"]},
            }
        }
    )
    planner = FallbackPlanner(config)
    # gpt-oss:20b was discovered on Ollama; OpenAI's pattern matches the name, but the
    # prompt must not leave for the cloud.
    assert planner.candidates(Candidate("ollama", "gpt-oss:20b")) == [
        Candidate("ollama", "gpt-oss:20b")
    ]


def test_an_embedding_falls_back_only_where_its_model_is_served_for_embeddings() -> None:
    config = ProvidersConfig.model_validate(
        {
            "instances": {
                # An instance fallback and a chat-model fallback, neither of which can embed
                # with the model; then the other instance serving it for embeddings.
                "main": {
                    "type": "openai",
                    "embedding_models": ["text-embedding-3-small"],
                    "fallbacks": ["chat-only", "gpt-4o"],
                },
                "chat-only": {"type": "openai", "models": ["gpt-4o"]},
                "azure": {
                    "type": "azure_openai",
                    "deployments": {"embed-prod": "text-embedding-3-small"},
                    "embedding_models": ["text-embedding-3-small"],
                },
            }
        }
    )
    planner = FallbackPlanner(config)
    embedding = JobRecord(
        id="job_e",
        tenant="t",
        type=JobType.EMBEDDING,
        status=JobStatus.RUNNING,
        request={},
        created_at=0.0,
        model="text-embedding-3-small",
        provider="main",
    )
    request = EmbeddingRequest(model="text-embedding-3-small", inputs=("x",))
    state = RouteState.of(embedding)
    assert planner.next_untried(state, request) == Candidate("azure", "text-embedding-3-small")
    assert planner.next_untried(state.moved_to(Candidate("azure", "x")), request) is None


def test_a_fallback_is_judged_by_the_model_it_would_run() -> None:
    # Gemini first, then Claude on another Vertex instance: the request names Gemini (the
    # primary's upstream model), but the fallback would run Claude, which takes no seed.
    config = ProvidersConfig.model_validate(
        {
            "instances": {
                "gemini": {
                    "type": "vertex",
                    "project": "p",
                    "region": "us-central1",
                    "models": ["gemini-2.5-flash"],
                    "fallbacks": ["claude-sonnet-4-5"],
                },
                "claude-on-vertex": {
                    "type": "vertex",
                    "project": "p",
                    "region": "us-central1",
                    "model_map": {"claude-sonnet-4-5": "claude-sonnet-4-5@20250929"},
                },
            }
        }
    )
    planner = FallbackPlanner(config)
    primary = JobRecord(
        id="job_y",
        tenant="t",
        type=JobType.COMPLETION,
        status=JobStatus.RUNNING,
        request={},
        created_at=0.0,
        model="gemini-2.5-flash",
        provider="gemini",
    )
    seeded = ChatRequest(
        model="gemini-2.5-flash", messages=(Message("user", (TextPart("hi"),)),), seed=7
    )
    state = RouteState.of(primary)
    assert planner.next_untried(state, seeded) is None
    plain = ChatRequest(model="gemini-2.5-flash", messages=(Message("user", (TextPart("hi"),)),))
    assert planner.next_untried(state, plain) == Candidate("claude-on-vertex", "claude-sonnet-4-5")
