"""OpenAI's ``reasoning_effort`` in the vocabularies of the vendors that take one.

OpenAI's values: ``none``, ``minimal``, ``low``, ``medium``, ``high``, ``xhigh``.

* Claude (the Anthropic API's ``output_config.effort``, Bedrock Converse's
  ``outputConfig.effort``): ``low``, ``medium``, ``high``, ``xhigh``, ``max``. ``minimal``
  becomes ``low``, Claude's least; ``none`` is refused: effort cannot turn reasoning off.
* Gemini 3 and later (``thinkingConfig.thinkingLevel``): the same names; ``none`` becomes
  ``minimal``, the level Google describes as "no thinking for most queries".
* Gemini 2.x (``thinkingConfig.thinkingBudget``, tokens): the budgets Google's own OpenAI
  compatibility layer uses (``low`` 1024, ``medium`` 8192, ``high`` 24576; ``none`` 0,
  which turns thinking off where the model allows it). ``xhigh`` has no budget there.

A value a vendor has no counterpart for is a 400 naming ``reasoning_effort``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.errors import CapabilityMissing

_CLAUDE: Mapping[str, str] = {
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "xhigh",
    # Claude's own top level (the Messages API's output_config.effort): no OpenAI name.
    "max": "max",
}
_GEMINI_LEVELS: Mapping[str, str] = {
    "none": "minimal",
    "minimal": "minimal",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "xhigh",
}
_GEMINI_BUDGETS: Mapping[str, int] = {
    "none": 0,
    "minimal": 1024,
    "low": 1024,
    "medium": 8192,
    "high": 24576,
}


def _refuse(vendor: str, value: str, known: Mapping[str, object]) -> CapabilityMissing:
    allowed = ", ".join(known)
    return CapabilityMissing(
        f"{vendor} takes reasoning_effort {allowed}, not {value!r}", param="reasoning_effort"
    )


def claude_effort(value: str, vendor: str) -> str:
    """Claude's ``effort`` for ``value``; ``vendor`` names the API in the refusal."""
    effort = _CLAUDE.get(value)
    if effort is None:
        raise _refuse(vendor, value, _CLAUDE)
    return effort


def gemini_thinking(value: str, model: str) -> dict[str, Any]:
    """Gemini's ``thinkingConfig`` for ``value`` on ``model``: a budget for Gemini 2.x,
    a level for the rest."""
    if model.removeprefix("google/").startswith(("gemini-2", "gemini-1")):
        budget = _GEMINI_BUDGETS.get(value)
        if budget is None:
            raise _refuse(f"Gemini 2 ({model})", value, _GEMINI_BUDGETS)
        return {"thinkingBudget": budget}
    level = _GEMINI_LEVELS.get(value)
    if level is None:
        raise _refuse("Gemini", value, _GEMINI_LEVELS)
    return {"thinkingLevel": level}
