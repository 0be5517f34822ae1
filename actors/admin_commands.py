"""What operators can ask a host through the admin socket.

Each command checks the caller's rights, then asks the actors with a timeout (never
without one: an admin request must not hang a worker on a wedged actor). The result is
plain data; the CLI formats it. The commands see the host only through `AdminDeps`, the
few things they read or ask, so the rights table and every command run against a fake
host in the unit tests.
"""
from __future__ import annotations

import datetime as _dt
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, Sequence

from switchover.actors.messages import GetStatus, Rejoin, RequestSwitch, SetPause
from switchover.replication.service import ServiceCommandError
from switchover.events import last_switch, parse_since, select
from switchover.logs import KINDS, read_events

if TYPE_CHECKING:
    from concurrent.futures import Future

    from switchover.actors.host import Host

ASK_TIMEOUT = 5.0
#: The right each host command needs (the services declare their own).
RIGHTS = {"status": "status", "ping": "status", "events": "status", "switch": "remote-control",
          "pause": "remote-control", "resume": "remote-control", "rejoin": "remote-control"}
#: Who is named in the event log for the host's own key (ALL_RIGHTS, no file name).
LOCAL_OPERATOR = "local operator"
#: Commands SwitchoverMain records itself, by the operator's name it is given.
SELF_RECORDED = ("pause", "resume", "rejoin")
#: At most this many entries per `events` answer (the newest).
EVENTS_LIMIT = 5000
#: How much of the event log's end status reads for the last switch (status runs every
#: second under `status --watch`: it must not read a long history each time).
STATUS_TAIL_BYTES = 1 << 20
#: "Only a master administrator can run ... /Immediate".
IMMEDIATE_RIGHT = "master"


class Service(Protocol):
    """What the admin commands use of a replication service."""

    name: str

    def commands(self) -> Mapping[str, tuple[str, Callable[[Mapping[str, Any]], Any]]]: ...
    def health(self) -> Mapping[str, Any]: ...
    def warnings(self) -> list[str]: ...


@dataclass(frozen=True)
class AdminDeps:
    """The host as the admin commands see it; callables so a reload shows at once."""

    server_name: str
    peer_name: str
    parameters: Callable[[], Mapping[str, Any]]
    #: Ask SwitchoverMain (GetStatus, RequestSwitch) and wait at most `timeout` seconds.
    ask_main: Callable[[Any, float], Any]
    #: The shared snapshot: at least "role".
    snapshot: Callable[[], Mapping[str, Any]]
    services: Sequence[Service]
    modules: Callable[[], Mapping[str, Mapping[str, Any]]]
    recent_events: Callable[[], list[Mapping[str, Any]]]
    #: links.request(channel, target, eid, timeout=reference seconds) -> Future[Outcome]
    channel_request: Callable[..., "Future[Any]"]
    real_seconds: Callable[[float], float]
    peer_query: Callable[[Mapping[str, Any], float], Mapping[str, Any] | None]
    #: This host's event log (events.jsonl), oldest first: all of it, or its last N bytes.
    read_events: Callable[[int | None], list[Mapping[str, Any]]]
    #: EventLog.record(level, message, **fields).
    record: Callable[..., Any]
    #: Why this host refuses its peer's queries (a pairing mistake), or None.
    pairing_refused: Callable[[], str | None] = lambda: None
    #: The hooks' warnings (a failed run, until one succeeds).
    hook_warnings: Callable[[], list[str]] = lambda: []
    #: A `[witness]` is configured (`switch --force` has a key to switch without).
    witness: bool = False
    #: The role the replication services are still taking (None: none under way).
    services_taking: Callable[[], str | None] = lambda: None


def host_deps(host: "Host") -> AdminDeps:
    """The narrow view of a running host (called once its actors and links exist)."""
    return AdminDeps(
        server_name=host.config.server_name,
        peer_name=host.config.peer.name,
        parameters=lambda: host.config.parameters,
        ask_main=lambda message, timeout: host.main.ask(message, timeout=timeout),
        snapshot=host.shared.snapshot,
        services=host.services,
        modules=host.notifier.modules,
        recent_events=host.events.recent,
        channel_request=host.links.request,
        real_seconds=host.clock.real_seconds,
        peer_query=host.peer_query,
        read_events=lambda tail: read_events(host.events.path, tail) if host.events.path
        else [],
        record=host.events.record,
        pairing_refused=lambda: host.pairing_refused,
        hook_warnings=host.hooks.warnings,
        witness=host.config.witness is not None,
        services_taking=lambda: host.service_roles.taking,
    )


class AdminCommands:
    def __init__(self, deps: AdminDeps) -> None:
        self.d = deps
        self._commands: dict[str, tuple[str, Callable[[Mapping[str, Any]], Any]]] = {
            name: (RIGHTS[name], run)
            for name, run in (("status", self.status), ("ping", self.ping),
                              ("events", self.events), ("switch", self.switch),
                              ("pause", lambda args: self._pause(True, args)),
                              ("resume", lambda args: self._pause(False, args)),
                              ("rejoin", self.rejoin))
        }

    @classmethod
    def for_host(cls, host: "Host") -> "AdminCommands":
        return cls(host_deps(host))

    def handle(self, command: str, args: Mapping[str, Any], rights: frozenset[str]) -> Mapping:
        entry = self._commands.get(command)
        for service in self.d.services:
            entry = entry or service.commands().get(command)
        if entry is None:
            known = ", ".join(sorted({*self._commands, *(
                name for service in self.d.services for name in service.commands())}))
            return _error(404, f"unknown command {command!r} (known: {known})")
        needed, run = entry
        if command == "switch" and (args.get("immediate") or args.get("force")):
            needed = IMMEDIATE_RIGHT
        if needed not in rights:
            return _error(403, f"command {command!r} needs the {needed!r} right")
        who = getattr(rights, "name", "") or LOCAL_OPERATOR
        before = self.d.parameters() if command.startswith("params.") else {}
        try:
            if command == "switch":
                result = self.switch(args, who)
            elif command in ("pause", "resume", "rejoin"):
                result = run({**args, "operator": who})
            else:
                result = run(args)
            if needed != "status" and command not in SELF_RECORDED:
                self._record(who, command, args, before)
            return {"status": "ok", "errno": 0, "reason": "", "result": result}
        except ServiceCommandError as exc:
            return _error(exc.errno, str(exc))
        except ValueError as exc:  # the services' refusals of bad input (DS paths, values)
            return _error(400, str(exc))

    def status(self, _: Mapping[str, Any]) -> dict[str, Any]:
        status = dict(self.d.ask_main(GetStatus(), ASK_TIMEOUT))
        warnings = list(status.get("warnings") or [])
        refused = self.d.pairing_refused()
        if refused:
            warnings.append(f"the peer's queries are refused: {refused}")
        if status["mode"] != "auto":
            warnings.append(f"automatic switching is off: {status['mode']}")
        if status["state"] == "Inactive":
            warnings.append("this server is stale: restart it to rejoin as backup")
        if status["state"] == "Error":
            warnings.append(f"this server is in the Error state and serves nothing: "
                            f"{status['reason']}; fix the cause and restart it")
        replication: dict[str, Any] = {
            "ds": {"state": "not running: DS replication is not built yet"},
            "files": {"state": "not running: file mirroring is not built yet"},
            "interactions": {"state": "not running: interaction recovery is not built yet"},
        }
        for service in self.d.services:
            replication[service.name] = dict(service.health())
            warnings += service.warnings()
        warnings += self.d.hook_warnings()  # a failed hook run, until one succeeds
        taking = self.d.services_taking()
        if taking is not None:
            warnings.append(f"the replication services are still taking the role {taking}")
        status.update(
            time=_iso(time.time()),
            last_switch=last_switch(self.d.read_events(STATUS_TAIL_BYTES)),
            modules={name: _wall_times(info) for name, info in self.d.modules().items()},
            replication=replication,
            warnings=warnings,
            messages=[f"{m['time']} {m['message']}" for m in self.d.recent_events()[-10:]],
        )
        return status

    def ping(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """Send one "TS Diagnostic Ping" to the active's module over a chosen channel."""
        channel = args.get("channel", "main")
        if channel not in ("main", "aux"):
            raise ServiceCommandError(400, f"channel must be main or aux, not {channel!r}")
        params = self.d.parameters()
        target = args.get("target") or params["Switchover Monitoring"]
        timeout = float(params["Switchover TS Timeout"])
        if self.d.snapshot().get("role") != "backup":
            raise ServiceCommandError(409, "only the backup pings the active server's module")
        future = self.d.channel_request(channel, target, "TS Diagnostic Ping", timeout=timeout)
        outcome = future.result(timeout=self.d.real_seconds(timeout) + ASK_TIMEOUT)
        body = dict(outcome.response.body) if outcome.response is not None else {}
        return {"channel": channel, "target": target, "outcome": outcome.status,
                "body": body, "detail": outcome.detail}

    def events(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """This host's event log after `since`, of `kinds`; the newest `limit` entries."""
        since = parse_since(args["since"]) if args.get("since") else None
        kinds = list(args.get("kinds") or [])
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise ServiceCommandError(400, f"unknown event kind {unknown[0]!r} "
                                           f"(known: {', '.join(KINDS)})")
        limit = int(args.get("limit") or EVENTS_LIMIT)
        entries = select(self.d.read_events(None), since, kinds)
        return {"server": self.d.server_name, "events": entries[-limit:],
                "truncated": len(entries) > limit}

    def _record(self, who: str, command: str, args: Mapping[str, Any],
                before: Mapping[str, Any]) -> None:
        """An operator's change in the event log, by the name of the key that made it."""
        if command in ("params.set", "params.unset"):
            name = str(args.get("name"))
            new = args.get("value") if command == "params.set" else "(unset)"
            self.d.record("notice", f'{who}: parameter "{name}" {before.get(name)} -> {new}',
                          kind="param", operator=who, command=command)
            return
        shown = {k: v for k, v in args.items() if v not in (None, False, "", [], {})}
        text = f"{who}: {command}" + "".join(f" {k}={v}" for k, v in shown.items())
        self.d.record("notice", text[:300], kind="operator", operator=who, command=command)

    def switch(self, args: Mapping[str, Any], who: str = LOCAL_OPERATOR) -> dict[str, Any]:
        """Switch the backup to active; on the active, the request goes to the backup."""
        immediate, force = bool(args.get("immediate")), bool(args.get("force"))
        if force and not self.d.witness:
            raise ServiceCommandError(400, f"--force refused: no [witness] is configured on "
                                           f"{self.d.server_name}, so there is no witness key "
                                           "to switch without; `switchover switch` switches")
        role = self.d.snapshot().get("role")
        if role == "backup":
            reply = self.d.ask_main(RequestSwitch(immediate, who, force), ASK_TIMEOUT)
            if not reply["accepted"]:
                raise ServiceCommandError(409, reply["message"])
            return reply
        if role != "active":
            raise ServiceCommandError(409, f"{self.d.server_name} is {role}: nothing to switch")
        forced = {"force": True} if force else {}
        answer = self.d.peer_query({"op": "switch", "immediate": immediate, **forced,
                                    "server": f"{who} on {self.d.server_name}"}, ASK_TIMEOUT)
        peer = self.d.peer_name
        if answer is None:
            raise ServiceCommandError(503, f"the backup {peer} does not answer on the virtual "
                                           "switch")
        if answer.get("status") != "ok":
            raise ServiceCommandError(409, f"{peer} refused: {answer.get('reason')}")
        return {"accepted": True, "message": f"switch requested on the backup {peer}"}


    def rejoin(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """A stale server becomes a backup again, with a full resynchronisation."""
        reply = self.d.ask_main(Rejoin(str(args.get("operator") or LOCAL_OPERATOR)),
                                ASK_TIMEOUT)
        if not reply["accepted"]:
            raise ServiceCommandError(409, reply["message"])
        return reply

    def _pause(self, paused: bool, args: Mapping[str, Any]) -> dict[str, Any]:
        """Maintenance mode for the pair: this server and its peer (told at once, and
        again through the peer view if it is down now)."""
        origin = str(args.get("operator") or LOCAL_OPERATOR)
        return self.d.ask_main(SetPause(paused, origin), ASK_TIMEOUT)


def _iso(epoch: float) -> str:
    return _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc).isoformat(timespec="milliseconds")


def _wall_times(info: Mapping[str, Any]) -> dict[str, Any]:
    """A module's Notifier entry with its monotonic-clock times as ISO-8601 wall times:
    a monotonic value means nothing outside this process."""
    out = dict(info)
    offset = time.time() - time.monotonic()
    for key in ("registered_at", "last_seen"):
        if isinstance(out.get(key), (int, float)):
            out[key] = _iso(out[key] + offset)
    return out


def _error(errno: int, reason: str) -> dict[str, Any]:
    return {"status": "error", "errno": errno, "reason": reason, "result": None}
