"""Emulated wire protocols: the :class:`Protocol` interface and the registry.

Adding a protocol (e.g. Bedrock Converse): write
``emulator/protocols/<name>.py`` with a :class:`Protocol` subclass and add an
instance to :func:`default_registry`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from emulator.protocols.anthropic_messages import AnthropicMessages
from emulator.protocols.azure_openai import AzureOpenAIChat
from emulator.protocols.base import Protocol, RequestError
from emulator.protocols.bedrock_converse import BedrockConverse
from emulator.protocols.oci_chat import OCIChat
from emulator.protocols.ollama_chat import OllamaChat
from emulator.protocols.openai_chat import OpenAIChat
from emulator.protocols.vertex_anthropic import VertexAnthropic
from emulator.protocols.vertex_gemini import VertexGemini
from emulator.protocols.watsonx_chat import WatsonxChat

__all__ = [
    "AnthropicMessages",
    "AzureOpenAIChat",
    "BedrockConverse",
    "OCIChat",
    "OllamaChat",
    "OpenAIChat",
    "Protocol",
    "ProtocolRegistry",
    "RequestError",
    "VertexAnthropic",
    "VertexGemini",
    "WatsonxChat",
    "default_registry",
]


class ProtocolRegistry:
    """An ordered set of protocols with unique names and endpoint paths."""

    def __init__(self, protocols: Iterable[Protocol] = ()) -> None:
        self._by_name: dict[str, Protocol] = {}
        for protocol in protocols:
            self.register(protocol)

    def register(self, protocol: Protocol) -> None:
        """Add ``protocol``; names and paths must not clash with registered ones."""
        if protocol.name in self._by_name:
            raise ValueError(f"protocol {protocol.name!r} is already registered")
        for other in self._by_name.values():
            if other.path == protocol.path:
                raise ValueError(f"path {protocol.path!r} is already served by {other.name!r}")
        self._by_name[protocol.name] = protocol

    def get(self, name: str) -> Protocol:
        """The protocol registered as ``name``; raises ``KeyError``."""
        return self._by_name[name]

    def __iter__(self) -> Iterator[Protocol]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)


def default_registry() -> ProtocolRegistry:
    """A fresh registry holding every built-in protocol."""
    # Claude on Vertex takes the tokens Gemini's token endpoint issues.
    vertex = VertexGemini()
    return ProtocolRegistry(
        [
            OpenAIChat(),
            AnthropicMessages(),
            BedrockConverse(),
            OCIChat(),
            WatsonxChat(),
            AzureOpenAIChat(),
            OllamaChat(),
            vertex,
            VertexAnthropic(vertex.tokens),
        ]
    )
