"""A fake host for AdminCommands: what AdminDeps reads, with what each command did."""
from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Mapping

from switchover.actors.admin_commands import AdminDeps
from switchover.actors.messages import GetStatus, Rejoin, RequestSwitch, SetPause
from switchover.replication.service import ServiceCommandError
from switchover.transport.envelope import Envelope
from switchover.transport.outcome import Outcome

STATUS = {"server": "ICServer2", "letter": "B", "state": "Backup", "role": "backup",
          "reason": "start-up complete", "generation": 3, "release": "2026.1.0",
          "mode": "auto", "upgrade": None, "peer": {"name": "ICServer1"},
          "connections": {"main": True, "aux": True}}


#: A fixed event log: a TS ping failure seen by the backup, a hook run, a param change.
EVENTS = [
    {"time": "2026-12-02T08:59:50.125+00:00", "server": "ICServer2", "level": "info",
     "message": "Backup server monitoring the primary ICServer1"},
    {"time": "2026-12-02T14:40:21.543+00:00", "server": "ICServer2", "level": "error",
     "message": "TS Ping Failure", "reason": "TS Ping Failure"},
    {"time": "2026-12-02T14:40:21.544+00:00", "server": "ICServer2", "level": "error",
     "message": "Switchover Service: Switch Initiated", "reason": "TS Ping Failure",
     "generation": 4},
    {"time": "2026-12-02T14:40:22.010+00:00", "server": "ICServer2", "level": "info",
     "kind": "hook", "hook": "commence", "outcome": "ok",
     "message": "commence hook succeeded: vip-up"},
    {"time": "2026-12-02T15:00:00.000+00:00", "server": "ICServer2", "level": "notice",
     "kind": "param", "operator": "alice",
     "message": 'alice: parameter "Switchover TS Timeout" 10 -> 7'},
]


@dataclass
class FakeService:
    name: str = "ds"
    calls: list = field(default_factory=list)

    def commands(self):
        def resync(args):
            self.calls.append(dict(args))
            return {"message": "resync started"}

        def bad(args):
            raise ValueError("path must start with /")

        def refused(args):
            raise ServiceCommandError(409, "on the backup: change it on the active")

        return {"ds.resync": ("remote-control", resync), "ds.get": ("status", bad),
                "ds.set": ("remote-control", refused), "params.set": ("remote-control", resync)}

    def health(self):
        return {"state": "in sync", "seq": 7}

    def warnings(self):
        return ["ds: 2 changes pending"]


class FakeHost:
    """What AdminDeps reads of a host, with what each command did recorded."""

    def __init__(self, role: str = "backup", status: Mapping[str, Any] = STATUS) -> None:
        self.role = role
        self.status = dict(status)
        self.asked: list[Any] = []
        self.peer_answer: Mapping[str, Any] | None = {"status": "ok"}
        self.peer_requests: list[Mapping[str, Any]] = []
        self.pings: list[tuple] = []
        self.switch_reply = {"accepted": True, "message": "Manual Switchover"}
        self.service = FakeService()
        self.event_log: list[dict[str, Any]] = list(EVENTS)
        self.recorded: list[dict[str, Any]] = []

    def ask(self, message: Any, timeout: float) -> Any:
        assert timeout > 0
        self.asked.append(message)
        if isinstance(message, GetStatus):
            return dict(self.status)
        if isinstance(message, (RequestSwitch, Rejoin)):
            return self.switch_reply
        if isinstance(message, SetPause):
            return {"paused": message.paused, "changed": True}
        raise AssertionError(message)

    def channel_request(self, channel, target, eid, timeout):
        self.pings.append((channel, target, eid, timeout))
        future: Future = Future()
        future.set_result(Outcome("ok", Envelope(kind="response", sender=target,
                                                 target="SwitchoverService", eid=eid,
                                                 body={"pid": 4242})))
        return future

    def peer_query(self, request, timeout):
        self.peer_requests.append(dict(request))
        return self.peer_answer

    def deps(self) -> AdminDeps:
        return AdminDeps(
            server_name="ICServer2", peer_name="ICServer1",
            parameters=lambda: {"Switchover Monitoring": "TsServer",
                                "Switchover TS Timeout": 10},
            ask_main=self.ask, snapshot=lambda: {"role": self.role},
            services=[self.service],
            modules=lambda: {"TsServer": {"pid": 99, "registered_at": time.monotonic() - 60}},
            recent_events=lambda: [{"time": "2026-12-02T10:00:00.000+00:00",
                                    "message": "Backup started"}],
            channel_request=self.channel_request, real_seconds=lambda s: s / 100,
            peer_query=self.peer_query,
            read_events=lambda tail: list(self.event_log), record=self.record,
        )

    def record(self, level: str, message: str, **fields: Any) -> None:
        self.recorded.append({"level": level, "message": message, **fields})
