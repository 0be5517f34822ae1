"""Interaction recovery between two real host processes on 127.0.0.1.

Reference: "Recovery of ACD email, chat, and callback interactions during switchover"
("All chat responses typed during the switchover are maintained"), "Scalability of email
interaction recovery" (the filter), "A note about the loss of duration information",
"Identifying recovered interactions in the database" (seqno), "Win32 CIC client programs
outside the LAN cannot re-connect" (the client tries the server it last used first).
"""
from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from switchover.replication.interactions import interaction_loads, promote_one
from switchover.localpair import LocalPair
from switchover.transport.interaction_client import InteractionClient
from switchover.transport.security import load_keypair

pytestmark = pytest.mark.integration

SCALE = 0.05
ENABLED = {"Mail Interaction Recovery Enabled": 1, "Chat Interaction Recovery Enabled": 1,
           "Callback Interaction Recovery Enabled": "Yes"}


def interactions_health(pair: LocalPair, name: str) -> dict[str, Any]:
    status = pair.status(name, timeout=2.0) or {}
    return status.get("replication", {}).get("interactions", {})


def up(pair: LocalPair) -> tuple[str, str]:
    a, b = pair.start_active(), pair.names[1]
    pair.start_host(b)
    pair.wait_state(b, "Backup")
    wait_in_sync(pair, b)
    return a, b


def wait_in_sync(pair: LocalPair, name: str, shadows: int | None = None) -> dict[str, Any]:
    def check() -> Any:
        h = interactions_health(pair, name)
        ok = h.get("state") == "in sync" and (shadows is None or h.get("shadows") == shadows)
        return ok and h
    return pair.wait_for(check, 30, f"interaction shadows in sync on {name} ({shadows})")


def client(pair: LocalPair, tmp: Any, **kwargs: Any) -> InteractionClient:
    # Applications hold the server-group key, as the reference's remote subsystems hold the
    # server group certificate; they reach the Notifier's main port of either server.
    keys = load_keypair(pair.keys_dir / "server-group.key_secret")
    endpoints = [f"tcp://127.0.0.1:{pair.ports[n]['main_port']}" for n in pair.names]
    return InteractionClient(endpoints, keys, keys.public, "WebProcessor",
                             state_path=tmp / "last-server.json", timeout=0.5, **kwargs)


def reload_parameters(pair: LocalPair, changes: dict[str, Any]) -> None:
    """Edit the server parameters in both configs and SIGHUP both hosts."""
    pair.parameters = {**pair.parameters, **changes}
    for name in pair.names:
        pair.write_config(name)
        os.kill(pair.processes[name].pid, signal.SIGHUP)


# The shape of the 1,000: every state a switchover treats differently, on every type.
PLANS = [
    ("queued", "workgroup", None),       # requeued for routing
    ("offering", "user", "agent1"),      # offer withdrawn: back to its workgroup
    ("connected", "user", "agent2"),     # unchanged
    ("held", "user", "agent3"),          # unchanged
    ("queued", "user", "agent4"),        # stays in the agent's queue
    ("disconnected-awaiting-deallocation", "user", "agent5"),  # closed on promotion
]
TYPES = ["email", "chat", "callback"]


def make_all(app: InteractionClient, n: int) -> list[Any]:
    futures = []
    for i in range(n):
        t = TYPES[i % 3]
        state, kind, agent = PLANS[(i // 3) % len(PLANS)]
        spec: dict[str, Any] = {"key": f"I{i:04d}", "type": t, "queue": "Support",
                                "state": "queued"}
        if t == "email":
            spec["email"] = {"subject": f"order {i}", "body_html": "<p><b>hi</b></p>",
                             "body_text": "hi"}
        futures.append(app.create(spec, wait=False))
        if agent:
            futures.append(app.assign(spec["key"], agent, state="offering", wait=False))
            if state != "offering":
                futures.append(app.update_state(spec["key"], state, wait=False))
    return futures


def test_switchover_keeps_every_acknowledged_interaction_and_every_chat_line_once(
        make_pair, tmp_path) -> None:
    pair = make_pair(time_scale=SCALE, parameters=ENABLED)
    a, b = up(pair)
    app = client(pair, tmp_path)
    try:
        for f in make_all(app, 1000):
            f.result(timeout=30)
        before = {i["key"]: i for i in app.list()}
        assert len(before) == 1000
        chats = sorted(k for k, i in before.items() if i["type"] == "chat"
                       and i["state"] != "disconnected-awaiting-deallocation")
        wait_in_sync(pair, b, shadows=1000)

        # A customer types lines into every open chat, before, during and after the kill.
        sent: list[tuple[str, str]] = []
        futures: list[Any] = []
        stop = threading.Event()

        def typist() -> None:
            for n in itertools.count():
                if stop.is_set():
                    return
                key = chats[n % len(chats)]
                mid = f"m{n}"
                sent.append((key, mid))
                futures.append(app.append_message(key, mid, f"line {n}", author="customer",
                                                  wait=False))
                time.sleep(0.002)

        thread = threading.Thread(target=typist)
        thread.start()
        time.sleep(0.5)
        pair.kill(a)  # SIGKILL the active host while lines are in flight
        killed_at = len(sent)
        pair.wait_state(b, "Primary", timeout=30)
        pair.start_module(b)  # the module the next backup will watch on the new active
        time.sleep(0.5)
        stop.set()
        thread.join()
        for f in futures:
            f.result(timeout=60)
        assert len(sent) > killed_at + 50, "lines were typed during and after the switchover"
        assert app.endpoint.endswith(str(pair.ports[b]["main_port"]))

        # Every acknowledged interaction is on the new active, promoted per the table.
        after = {i["key"]: i for i in app.list()}
        for key, was in before.items():
            full = app.get(key) if key in after else None
            expected, _ = promote_one(interaction_loads(_as_interaction_json(was)))
            if expected.state.value == "closed":
                assert key not in after, key
                continue
            assert full is not None, f"{key} lost"
            assert (full["state"], full["queue_kind"], full["queue"], full["seqno"]) == (
                expected.state.value, expected.queue_kind.value, expected.queue, 1), key
            assert full["created_at"] == was["created_at"]
        # Every line typed, during the switchover too, is there exactly once, in order.
        lines = {key: [ln["line_id"] for ln in app.get(key)["transcript"]] for key in chats}
        for key in chats:
            mine = [mid for k, mid in sent if k == key]
            assert sorted(lines[key], key=lambda m: int(m[1:])) == mine, key
            assert len(set(lines[key])) == len(lines[key])
        email = app.get("I0000")
        assert email["email"]["body_html"] == "<p><b>hi</b></p>"
        assert "promoted 1000 shadows" in pair.log_text(b)
        assert interactions_health(pair, b)["promoted"] == len(before)

        # Restore the pair: A rejoins as backup with new shadows; then a second switchover.
        created = {k: v["created_at"] for k, v in after.items()}
        pair.start_host(a)
        pair.wait_state(a, "Backup", timeout=30)
        wait_in_sync(pair, a, shadows=len(after))
        pair.kill(b)
        pair.wait_state(a, "Primary", timeout=30)
        again = {i["key"]: i for i in app.list()}
        assert set(again) == set(after)
        assert all(again[k]["seqno"] == 2 for k in again)
        # durations stay true: the original creation time survives both switchovers
        assert {k: v["created_at"] for k, v in again.items()} == created
        for key in chats[:20]:
            assert [ln["line_id"] for ln in app.get(key)["transcript"]] == lines[key]
    finally:
        app.shutdown()


def _as_interaction_json(summary: dict[str, Any]) -> bytes:
    """A model interaction from a list summary (enough for the promotion rule)."""
    import orjson

    t = summary["type"]
    return orjson.dumps({
        "key": summary["key"], "type": t, "state": summary["state"],
        "queue_kind": summary["queue_kind"], "queue": summary["queue"],
        "created_at": summary["created_at"], "queued_at": summary["created_at"],
        "agent": summary["agent"], "workgroup": "Support",
        "email": {"subject": "", "body_html": "", "body_text": "", "attachments": []}
        if t == "email" else None,
        "callback": {"number": "", "requested_at": 0, "notes": ""} if t == "callback" else None,
    })


def test_enabling_a_type_syncs_it_and_the_filter_resyncs_email(make_pair, tmp_path) -> None:
    pair = make_pair(time_scale=SCALE, parameters={"Mail Interaction Recovery Enabled": 1})
    a, b = up(pair)
    app = client(pair, tmp_path)
    try:
        futures = []
        for i in range(60):
            futures.append(app.create({"key": f"E{i}", "type": "email", "queue": "Mail"},
                                      wait=False))
            futures.append(app.create({"key": f"C{i}", "type": "chat", "queue": "Web"},
                                      wait=False))
        for i in range(0, 60, 3):  # a third of the emails reach an agent
            futures.append(app.assign(f"E{i}", "agent1", wait=False))
        for f in futures:
            f.result(timeout=30)
        wait_in_sync(pair, b, shadows=60)  # chats are not shadowed yet

        reload_parameters(pair, {"Chat Interaction Recovery Enabled": 1})
        wait_in_sync(pair, b, shadows=120)
        assert "full synchronisation of chat: 60 interactions" in pair.log_text(b)
        app.append_message("C1", "after-enable", "typed after chat recovery was enabled")

        reload_parameters(pair, {"Mail Interaction Recovery Filter Enabled": 1})
        wait_in_sync(pair, b, shadows=60 + 20)  # only emails that reached an agent
        assert len(app.list("email")) == 60  # no visible effect on the active
        app.assign("E1", "agent2")  # reaches an agent now: shadowed from here on
        wait_in_sync(pair, b, shadows=60 + 21)
        listed = pair.admin(b, "interactions.list", {"type": "email", "limit": 1000})
        assert "E1" in {i["key"] for i in listed["interactions"]}

        reload_parameters(pair, {"Mail Interaction Recovery Filter Enabled": 0})
        wait_in_sync(pair, b, shadows=120)
        shadow = pair.admin(b, "interactions.get", {"key": "C1"})["interaction"]
        assert [ln["line_id"] for ln in shadow["transcript"]] == ["after-enable"]
        out = subprocess.run(
            [sys.executable, "-m", "switchover.cli", "interactions", "stats", "--config",
             str(pair.config_path(b)), "--json"], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["health"]["state"] == "in sync"
    finally:
        app.shutdown()
