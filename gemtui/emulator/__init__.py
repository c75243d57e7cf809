"""The bundled Gemini API emulator: a real loopback HTTP server the real google-genai SDK talks to.

Written from the wire facts only; it imports nothing from the rest of gemtui (design: the other side of
the wire must not share the client's misunderstandings). Heavy imports (starlette, uvicorn) wait for
`Emulator.start()`.
"""

from gemtui.emulator.clock import ManualClock
from gemtui.emulator.faults import FAULT_KINDS
from gemtui.emulator.relay import RELAY_FAULT_KINDS
from gemtui.emulator.server import Emulator
from gemtui.emulator.state import UNLIMITED

__all__ = ["Emulator", "ManualClock", "FAULT_KINDS", "RELAY_FAULT_KINDS", "UNLIMITED"]
