"""ZeroMQ transport: envelope, Notifier, channels, virtual switch, admin socket, CURVE.

Knows nothing of the switchover core; the host wiring plugs actors in through callbacks
and in-process services.
"""
from .admin import AdminServer, AdminUnavailable, admin_request
from .channel import Channel
from .envelope import (
    MAX_BULK_BYTES,
    MAX_BULK_FRAMES,
    MAX_ENVELOPE_BYTES,
    PROTOCOL_VERSION,
    Envelope,
    EnvelopeError,
    decode,
    describe,
    encode,
)
from .module_client import ModuleClient
from .notifier import Notifier
from .outcome import Outcome
from .security import (
    Authenticator,
    CurveKeys,
    curve_client,
    curve_server,
    generate_keypair,
    load_authorized,
    load_keypair,
    load_public,
)
from .switch import SwitchServer, switch_request

__all__ = [
    "AdminServer", "AdminUnavailable", "admin_request", "Channel", "MAX_BULK_BYTES",
    "MAX_BULK_FRAMES", "MAX_ENVELOPE_BYTES", "PROTOCOL_VERSION", "Envelope", "EnvelopeError",
    "decode", "describe", "encode", "ModuleClient", "Notifier", "Outcome", "Authenticator",
    "CurveKeys", "curve_client", "curve_server", "generate_keypair", "load_authorized",
    "load_keypair", "load_public", "SwitchServer", "switch_request",
]
