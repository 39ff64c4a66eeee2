"""Local LLM provider emulator speaking real wire protocols.

Point the official SDKs at it (``OpenAI(base_url=url + "/v1")``,
``Anthropic(base_url=url)``) and script replies, tool calls, errors and
latency; see :mod:`emulator.directives` for the directive format,
:mod:`emulator.behaviour` for default replies and token counting, and
:mod:`emulator.control` for the control API.
"""

from emulator.app import create_app
from emulator.client import EmulatorControl
from emulator.directives import directive
from emulator.server import running_server, serve

__all__ = ["EmulatorControl", "create_app", "directive", "running_server", "serve"]
