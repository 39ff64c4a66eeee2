"""What a model call costs: an instance's own ``prices`` (the config's overrides) first,
else the ``genai-prices`` catalogue (pydantic's maintained price list, bundled with the
package: nothing is fetched at run time), else no price (``cost_usd: null``).

A catalogue price is found once per (instance type, model) and then priced per call, so
tiered prices (Gemini and Claude above 200k input tokens) come out right. Ollama runs
models locally: its calls cost nothing. A model not found on the type's provider is looked
up on the vendor its prefix names (``cohere.command-r-plus-v1:0``), then by its bare name
anywhere (watsonx and OCI have no provider in the catalogue); what is still not found
needs a ``prices`` entry (docs/usage-and-budgets.md).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from genai_prices import Usage, data_snapshot

from providers.config import InstanceConfig, ModelPrice, ProviderType

# Instance type → the catalogue's provider id; None: look the model up by name only.
CATALOGUE_PROVIDER: dict[ProviderType, str | None] = {
    "openai": "openai",
    "azure_openai": "azure",
    "anthropic": "anthropic",
    "bedrock": "aws",
    "vertex": "google",
    "watsonx": None,
    "oci": None,
    "ollama": None,  # never looked up: local models are free (see ``price_for``)
}
# Claude on Vertex is in the catalogue under Anthropic's id as well as Google's.
_SECOND_CHOICE: dict[ProviderType, str] = {"vertex": "anthropic", "bedrock": "anthropic"}


class Price(Protocol):
    """Anything that prices a call from its token counts, in USD."""

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float: ...


@dataclass(frozen=True, slots=True)
class CataloguePrice:
    """A model's price in the ``genai-prices`` catalogue, at the time of each call."""

    provider: Any
    model: Any

    @property
    def name(self) -> str:
        return f"{self.provider.id}/{self.model.id}"

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        usage = Usage(input_tokens=prompt_tokens, output_tokens=completion_tokens)
        calc = self.model.calc_price(usage, self.provider, genai_request_timestamp=_now())
        return float(calc.total_price)


FREE = ModelPrice(input_per_mtok=0.0, output_per_mtok=0.0)


def price_for(instance: InstanceConfig, model: str) -> Price | None:
    """The price of ``model`` (a gateway model name) on ``instance``: its override, the
    catalogue's, nothing for a local model, or None when no price is known."""
    override = instance.prices.get(model)
    if override is not None:
        return override
    if instance.type == "ollama":
        return FREE
    return catalogue_price(instance.type, instance.upstream_model(model), model)


@functools.cache
def catalogue_price(kind: ProviderType, upstream: str, model: str) -> CataloguePrice | None:
    """The catalogue's entry for the upstream name, else the gateway name: first on the
    type's provider, then on the vendor a prefix names (``cohere.command-r-plus-v1:0`` on
    Bedrock: Cohere's ``command-r-plus``), then on any provider."""
    snapshot = data_snapshot.get_snapshot()
    names = list(dict.fromkeys([upstream, model]))
    bare = list(dict.fromkeys(n for name in names for n in (_bare(name), _unversioned(name))))
    own = [p for p in (CATALOGUE_PROVIDER[kind], _SECOND_CHOICE.get(kind)) if p]
    vendors = [v for v in (_VENDORS.get(_vendor(name) or "") for name in names) if v]
    attempts: list[tuple[str | None, str]] = [
        *((p, n) for p in own for n in names),
        *((p, n) for p in vendors for n in bare),
        *((None, n) for n in bare),
    ]
    for provider_id, name in attempts:
        found = _find(snapshot, name, provider_id)
        if found is not None:
            return found
    return None


def load_catalogue() -> None:
    """Read the catalogue now (a few hundred ms, once per process), so the first paid
    reply a worker prices does not."""
    data_snapshot.get_snapshot()


def _find(snapshot: Any, name: str, provider_id: str | None) -> CataloguePrice | None:
    try:
        provider, found = snapshot.find_provider_model(name, None, provider_id, None)
    except LookupError:
        return None
    return CataloguePrice(provider, found)


_VENDOR_DOT = re.compile(r"^([a-z]+)\.(?=[a-z])")
_VENDOR_SLASH = re.compile(r"^([a-z-]+)/")
# A model id's vendor prefix → the catalogue's provider id.
_VENDORS = {
    "cohere": "cohere",
    "mistral": "mistral",
    "mistralai": "mistral",
    "meta": "meta",
    "meta-llama": "meta",
    "xai": "x-ai",
    "anthropic": "anthropic",
    "amazon": "aws",
    "google": "google",
    "deepseek": "deepseek",
}
_VERSION = re.compile(r"(-\d{4})?-v\d+(:\d+)?$")


def _vendor(name: str) -> str | None:
    match = _VENDOR_SLASH.match(name) or _VENDOR_DOT.match(name)
    return match.group(1) if match else None


def _unversioned(name: str) -> str:
    """``mistral.mistral-large-2407-v1:0`` → ``mistral-large`` (Bedrock's version suffix)."""
    return _VERSION.sub("", _bare(name))


def _bare(name: str) -> str:
    """``ibm/granite-3-8b`` → ``granite-3-8b``, ``xai.grok-3`` → ``grok-3`` (a vendor
    prefix: letters then a dot; ``gpt-4.1-mini`` is left alone)."""
    return _VENDOR_DOT.sub("", name.rsplit("/", 1)[-1])


def _now() -> datetime:
    return datetime.now(tz=UTC)
