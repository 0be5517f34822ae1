"""The one message shape every transport socket carries.

Frame 0 is a small orjson object mirroring the reference's Notifier vocabulary (sender,
target, oid, eid, request id); any further frames are binary bulk data (file chunks,
snapshots) so large payloads never pass through JSON. `decode` is the only door into the
process for peer-supplied bytes, so it checks everything and says exactly what was wrong:
a loop turns that message into a rejection and a log line instead of dying. `parse` is
the same door for a hop that only routes (the Notifier): the same checks, the fields
without an Envelope, and `encode_fields` to send them on.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import orjson

PROTOCOL_VERSION = 1
MAX_ENVELOPE_BYTES = 64 * 1024
MAX_BULK_FRAMES = 16
MAX_BULK_BYTES = 8 * 1024 * 1024  # per bulk frame

REQUEST = "request"
RESPONSE = "response"
EVENT = "event"
KINDS = (REQUEST, RESPONSE, EVENT)


class EnvelopeError(ValueError):
    """A message that cannot be accepted; the text names the exact fault."""


class FrozenDict(dict):
    """A dict that refuses mutation.

    Envelopes cross threads (loop -> actor) without copying, so their body must not
    change under a reader. Subclassing dict (rather than MappingProxyType) keeps orjson
    able to serialise it directly, with no copy on the hot path.
    """

    __slots__ = ()

    def _readonly(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("envelope body is read-only")

    __setitem__ = __delitem__ = _readonly  # type: ignore[assignment]
    clear = pop = popitem = setdefault = update = _readonly  # type: ignore[assignment]
    __ior__ = _readonly  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items(), key=lambda kv: kv[0])))

    def __reduce__(self) -> Any:
        return (FrozenDict, (dict(self),))


EMPTY_BODY: Mapping[str, Any] = FrozenDict()


def _freeze(body: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if body is None or (not body and isinstance(body, FrozenDict)):
        return EMPTY_BODY
    if isinstance(body, FrozenDict):
        return body
    return FrozenDict(body)


@dataclass(frozen=True, slots=True)
class Envelope:
    """One Notifier message: a request, the response to one, or an event."""

    kind: str
    sender: str
    target: str
    eid: str
    req_id: int = 0
    oid: str = "*"
    status: str | None = None
    body: Mapping[str, Any] = field(default=EMPTY_BODY)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise EnvelopeError(f"unknown kind {self.kind!r} (expected one of {', '.join(KINDS)})")
        body = self.body
        if type(body) is not FrozenDict:
            object.__setattr__(self, "body", _freeze(body))

    def reply(
        self,
        status: str = "ok",
        body: Mapping[str, Any] | None = None,
        sender: str | None = None,
    ) -> Envelope:
        """The response to this request: addressed back to its sender, same ids."""
        return Envelope(
            RESPONSE,
            sender if sender is not None else self.target,
            self.sender,
            self.eid,
            self.req_id,
            self.oid,
            status,
            _freeze(body),
        )


def encode(env: Envelope, bulk: Sequence[bytes] = ()) -> list[bytes]:
    """Frames for `env`: frame 0 the JSON header, then the bulk frames untouched.

    The limits are checked here too, so an oversize message fails in the sender with a
    clear error instead of being refused by the peer.
    """
    return encode_fields(env.kind, env.sender, env.target, env.eid, env.req_id, env.oid,
                         env.status, env.body, bulk)


def encode_fields(kind: str, sender: str, target: str, eid: str, req_id: int, oid: str,
                  status: str | None, body: Mapping[str, Any] | None,
                  bulk: Sequence[bytes] = ()) -> list[bytes]:
    """`encode` from the fields themselves, for a hop that forwards without an Envelope."""
    head = orjson.dumps(
        {
            "v": PROTOCOL_VERSION,
            "kind": kind,
            "sender": sender,
            "target": target,
            "oid": oid,
            "eid": eid,
            "req_id": req_id,
            "status": status,
            "body": body if body is not None else EMPTY_BODY,
        }
    )
    if len(head) > MAX_ENVELOPE_BYTES:
        raise EnvelopeError(
            f"envelope too large: {len(head)} bytes (limit {MAX_ENVELOPE_BYTES})"
        )
    if not bulk:
        return [head]
    _check_bulk(bulk)
    return [head, *bulk]


def _check_bulk(bulk: Sequence[Any]) -> None:
    if len(bulk) > MAX_BULK_FRAMES:
        raise EnvelopeError(f"too many bulk frames: {len(bulk)} (limit {MAX_BULK_FRAMES})")
    for i, frame in enumerate(bulk, 1):
        n = len(frame)
        if n > MAX_BULK_BYTES:
            raise EnvelopeError(
                f"bulk frame {i} too large: {n} bytes (limit {MAX_BULK_BYTES})"
            )


#: The fields of a checked envelope, in Envelope's order; `body` is a plain dict or None.
Fields = tuple[str, str, str, str, int, str, "str | None", "dict[str, Any] | None"]


def parse(frames: Sequence[bytes]) -> tuple[Fields, tuple[bytes, ...]]:
    """Check a received message exactly as `decode` does; return its fields and bulk.

    For a hop that only routes (the Notifier forwarding to a module and back), so it can
    refuse anything `decode` would refuse without building an Envelope it would throw away.
    """
    if not frames:
        raise EnvelopeError("empty message: no envelope frame")
    head = frames[0]
    if len(head) > MAX_ENVELOPE_BYTES:
        raise EnvelopeError(
            f"envelope too large: {len(head)} bytes (limit {MAX_ENVELOPE_BYTES})"
        )
    bulk = tuple(frames[1:])
    if bulk:
        _check_bulk(bulk)
    try:
        obj = orjson.loads(head)
    except orjson.JSONDecodeError as exc:
        raise EnvelopeError(f"envelope is not JSON: {exc}") from None
    if type(obj) is not dict:
        raise EnvelopeError(f"envelope must be a JSON object, got {type(obj).__name__}")
    get = obj.get
    version = get("v", _MISSING)
    if version is _MISSING:
        raise EnvelopeError("missing field 'v' (protocol version)")
    if version != PROTOCOL_VERSION or isinstance(version, bool):
        raise EnvelopeError(
            f"unsupported protocol version {version!r} (expected {PROTOCOL_VERSION})"
        )
    kind = get("kind", _MISSING)
    if type(kind) is not str:
        _bad_field("kind", kind, "a string")
    if kind not in KINDS:
        raise EnvelopeError(f"unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
    sender = get("sender", _MISSING)
    if type(sender) is not str:
        _bad_field("sender", sender, "a string")
    target = get("target", _MISSING)
    if type(target) is not str:
        _bad_field("target", target, "a string")
    eid = get("eid", _MISSING)
    if type(eid) is not str:
        _bad_field("eid", eid, "a string")
    req_id = get("req_id", 0)
    if type(req_id) is not int:
        raise EnvelopeError(f"field 'req_id' must be an integer, got {type(req_id).__name__}")
    oid = get("oid", "*")
    if type(oid) is not str:
        raise EnvelopeError(f"field 'oid' must be a string, got {type(oid).__name__}")
    status = get("status")
    if status is not None and type(status) is not str:
        raise EnvelopeError(
            f"field 'status' must be a string or null, got {type(status).__name__}"
        )
    if kind == RESPONSE and status is None:
        raise EnvelopeError("missing field 'status' (required in a response)")
    body = get("body")
    if body is not None and type(body) is not dict:
        raise EnvelopeError(f"field 'body' must be an object, got {type(body).__name__}")
    return (kind, sender, target, eid, req_id, oid, status, body), bulk


_MISSING: Any = object()


def _bad_field(name: str, value: Any, what: str) -> None:
    if value is _MISSING:
        raise EnvelopeError(f"missing field {name!r}")
    raise EnvelopeError(f"field {name!r} must be {what}, got {type(value).__name__}")


def envelope_of(fields: Fields) -> Envelope:
    """The Envelope of fields `parse` checked, for the hops that need one after all."""
    kind, sender, target, eid, req_id, oid, status, body = fields
    return Envelope(kind, sender, target, eid, req_id, oid, status,
                    FrozenDict(body) if body else EMPTY_BODY)


def decode(frames: Sequence[bytes]) -> tuple[Envelope, tuple[bytes, ...]]:
    """Parse and validate a received message; raise EnvelopeError naming the fault."""
    fields, bulk = parse(frames)
    return envelope_of(fields), bulk


def salvage(head: bytes) -> dict[str, Any]:
    """Whatever addressing can be read from a rejected frame, for the error response.

    A malformed request still deserves an answer its sender can match (same eid and
    req_id) when those fields happen to be readable.
    """
    try:
        obj = orjson.loads(head) if len(head) <= MAX_ENVELOPE_BYTES else None
    except orjson.JSONDecodeError:
        obj = None
    out: dict[str, Any] = {"kind": None, "sender": "", "eid": "", "req_id": 0, "oid": "*"}
    if type(obj) is dict:
        for name, types in (("kind", str), ("sender", str), ("eid", str), ("oid", str)):
            if isinstance(obj.get(name), types):
                out[name] = obj[name]
        if type(obj.get("req_id")) is int:
            out["req_id"] = obj["req_id"]
    return out


def payload_size(env: Envelope, bulk: Sequence[bytes] = ()) -> int:
    """The reference's Size(n)/DL[n]: bytes of data carried (body JSON + bulk), 0 if none."""
    size = sum(len(b) for b in bulk)
    if env.body:
        size += len(orjson.dumps(env.body))
    return size


def _owner(env: Envelope) -> str:
    # The reference names the requesting object on both legs of an exchange.
    return env.target if env.kind == RESPONSE else env.sender


def describe(env: Envelope, size: int, snd_id: int | str = "") -> str:
    """Render `env` as the reference's NotifierLib connection log does.

    `Request SwitchoverService, Oid(*), Eid(TS Diagnostic Ping), ReqId(5328), SndId(), Size(0)`
    """
    return (
        f"{env.kind.capitalize()} {_owner(env)}, Oid({env.oid}), Eid({env.eid}), "
        f"ReqId({env.req_id}), SndId({snd_id}), Size({size})"
    )


def describe_route(
    env: Envelope, size: int, snd_id: int | str, origin: str, destination: str
) -> str:
    """Render a routed message as the reference's `CRoute::LogMessage` does.

    `Request[SwitchoverService][*][TS Diagnostic Ping]RI[5328]SI[]DL[0] From 98:... to 70:TsServer`
    """
    return (
        f"{env.kind.capitalize()}[{_owner(env)}][{env.oid}][{env.eid}]RI[{env.req_id}]"
        f"SI[{snd_id}]DL[{size}] From {origin} to {destination}"
    )


def load_object(frame: bytes) -> dict[str, Any]:
    """A request frame of the admin socket or the virtual switch as a JSON object;
    ValueError saying what is wrong (size, not JSON, not an object)."""
    if len(frame) > MAX_ENVELOPE_BYTES:
        raise ValueError(f"request too large: {len(frame)} bytes (limit {MAX_ENVELOPE_BYTES})")
    try:
        obj = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"request is not JSON: {exc}") from None
    if type(obj) is not dict:
        raise ValueError(f"request must be a JSON object, got {type(obj).__name__}")
    return obj
