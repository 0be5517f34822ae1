"""Envelope encoding and every way decode refuses a message (no sockets)."""
from __future__ import annotations

import orjson
import pytest

from switchover.transport.envelope import (
    MAX_BULK_BYTES,
    MAX_BULK_FRAMES,
    MAX_ENVELOPE_BYTES,
    PROTOCOL_VERSION,
    Envelope,
    EnvelopeError,
    decode,
    describe,
    describe_route,
    encode,
    encode_fields,
    parse,
    payload_size,
    salvage,
)


def ping(**kw) -> Envelope:
    fields = dict(kind="request", sender="SwitchoverService", target="TsServer",
                  eid="TS Diagnostic Ping", req_id=5328)
    fields.update(kw)
    return Envelope(**fields)


def raw(**kw) -> list[bytes]:
    obj = {"v": 1, "kind": "request", "sender": "S", "target": "T", "eid": "E", "req_id": 1}
    obj.update(kw)
    return [orjson.dumps({k: v for k, v in obj.items() if v is not ...})]


def test_round_trip_with_bulk():
    env = ping(body={"path": "/Config", "n": [1, 2]}, oid="obj")
    bulk = (b"\x00" * 10, b"chunk")
    frames = encode(env, bulk)
    assert len(frames) == 3 and frames[1:] == list(bulk)
    back, got = decode(frames)
    assert back == env and got == bulk
    assert orjson.loads(frames[0])["v"] == PROTOCOL_VERSION


def test_body_is_read_only_and_copied():
    src = {"a": 1}
    env = ping(body=src)
    src["a"] = 2
    assert env.body["a"] == 1
    with pytest.raises(TypeError):
        env.body["a"] = 3  # type: ignore[index]


def test_reply_swaps_addresses_and_keeps_ids():
    env = ping(oid="x")
    resp = env.reply("ok", {"pid": 42})
    assert (resp.kind, resp.sender, resp.target) == ("response", "TsServer", "SwitchoverService")
    assert (resp.eid, resp.req_id, resp.oid, resp.status) == (env.eid, 5328, "x", "ok")
    assert resp.body == {"pid": 42}
    assert env.reply(sender="Notifier").sender == "Notifier"


def test_describe_matches_reference_shape():
    env = ping()
    assert describe(env, 0) == ("Request SwitchoverService, Oid(*), Eid(TS Diagnostic Ping), "
                                "ReqId(5328), SndId(), Size(0)")
    resp = env.reply("ok", {"pid": 1})
    assert describe(resp, 7, 98) == ("Response SwitchoverService, Oid(*), "
                                     "Eid(TS Diagnostic Ping), ReqId(5328), SndId(98), Size(7)")
    assert describe_route(env, 0, "", "98:SwitchoverService(remote)", "70:TsServer") == (
        "Request[SwitchoverService][*][TS Diagnostic Ping]RI[5328]SI[]DL[0] "
        "From 98:SwitchoverService(remote) to 70:TsServer")
    assert payload_size(env) == 0 and payload_size(resp, [b"abc"]) == len(b'{"pid":1}') + 3


@pytest.mark.parametrize("frames, message", [
    ([], "empty message"),
    ([b"{not json"], "envelope is not JSON"),
    ([b"[1, 2]"], "envelope must be a JSON object, got list"),
    (raw(v=...), "missing field 'v'"),
    (raw(v=2), "unsupported protocol version 2 (expected 1)"),
    (raw(v=True), "unsupported protocol version True"),
    (raw(kind=...), "missing field 'kind'"),
    (raw(kind="shout"), "unknown kind 'shout' (expected one of request, response, event)"),
    (raw(sender=...), "missing field 'sender'"),
    (raw(target=7), "field 'target' must be a string, got int"),
    (raw(eid=None), "field 'eid' must be a string, got NoneType"),
    (raw(req_id="5"), "field 'req_id' must be an integer, got str"),
    (raw(req_id=True), "field 'req_id' must be an integer, got bool"),
    (raw(oid=1), "field 'oid' must be a string, got int"),
    (raw(status=3), "field 'status' must be a string or null, got int"),
    (raw(kind="response"), "missing field 'status' (required in a response)"),
    (raw(body=[1]), "field 'body' must be an object, got list"),
])
def test_rejections_say_what_is_wrong(frames, message):
    with pytest.raises(EnvelopeError) as info:
        decode(frames)
    assert message in str(info.value)


def test_oversize_envelope_is_rejected_with_sizes():
    frame = orjson.dumps({"v": 1, "pad": "x" * MAX_ENVELOPE_BYTES})
    with pytest.raises(EnvelopeError, match=rf"envelope too large: {len(frame)} bytes "
                                            rf"\(limit {MAX_ENVELOPE_BYTES}\)"):
        decode([frame])
    with pytest.raises(EnvelopeError, match="envelope too large"):
        encode(ping(body={"pad": "x" * MAX_ENVELOPE_BYTES}))


def test_too_many_and_oversize_bulk_frames():
    head = raw()[0]
    with pytest.raises(EnvelopeError, match=rf"too many bulk frames: {MAX_BULK_FRAMES + 1} "
                                            rf"\(limit {MAX_BULK_FRAMES}\)"):
        decode([head] + [b""] * (MAX_BULK_FRAMES + 1))
    big = b"\0" * (MAX_BULK_BYTES + 1)
    with pytest.raises(EnvelopeError, match=rf"bulk frame 2 too large: {MAX_BULK_BYTES + 1} "
                                            rf"bytes \(limit {MAX_BULK_BYTES}\)"):
        decode([head, b"ok", big])
    with pytest.raises(EnvelopeError, match="too many bulk frames"):
        encode(ping(), [b""] * (MAX_BULK_FRAMES + 1))
    decode([head] + [b"x"] * MAX_BULK_FRAMES)  # at the limit is fine


def test_constructing_an_unknown_kind_fails():
    with pytest.raises(EnvelopeError, match="unknown kind"):
        Envelope("shout", "a", "b", "c")


def test_salvage_reads_what_it_can():
    assert salvage(b"garbage")["req_id"] == 0
    got = salvage(orjson.dumps({"v": 9, "sender": "S", "eid": "E", "req_id": 4, "kind": "x"}))
    assert (got["sender"], got["eid"], got["req_id"], got["kind"]) == ("S", "E", 4, "x")
    assert salvage(orjson.dumps({"req_id": "4"}))["req_id"] == 0


@pytest.mark.parametrize("frames", [
    [], [b"{not json"], [b"[1, 2]"], raw(v=...), raw(v=2), raw(kind=...), raw(kind="shout"),
    raw(sender=...), raw(target=7), raw(eid=None), raw(req_id="5"), raw(req_id=True),
    raw(oid=1), raw(status=3), raw(kind="response"), raw(body=[1]),
])
def test_parse_refuses_exactly_what_decode_refuses(frames):
    with pytest.raises(EnvelopeError) as by_decode:
        decode(frames)
    with pytest.raises(EnvelopeError) as by_parse:
        parse(frames)
    assert str(by_parse.value) == str(by_decode.value)


def test_parse_gives_the_fields_and_encode_fields_matches_encode():
    env = ping(body={"n": 1}, oid="obj", status=None)
    fields, bulk = parse(encode(env, [b"x"]))
    assert fields == ("request", "SwitchoverService", "TsServer", "TS Diagnostic Ping", 5328,
                      "obj", None, {"n": 1}) and bulk == (b"x",)
    assert encode_fields(*fields, bulk) == encode(env, [b"x"])
    bare, _ = parse(raw(oid=..., req_id=..., body=...))
    assert (bare[4], bare[5], bare[7]) == (0, "*", None)  # decode's defaults
    assert encode_fields(*bare)[0] == encode(decode(raw(oid=..., req_id=..., body=...))[0])[0]
