"""What operators can ask a host through the admin socket.

Each command checks the caller's rights, then asks the actors with a timeout (never
without one: an admin request must not hang a worker on a wedged actor). The result is
plain data; the CLI formats it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping

from actors.messages import GetStatus, Rejoin, RequestSwitch, SetPause
from replication.service import ServiceCommandError

if TYPE_CHECKING:
    from actors.host import Host

ASK_TIMEOUT = 5.0


class AdminCommands:
    def __init__(self, host: "Host") -> None:
        self.host = host
        self._commands: dict[str, tuple[str, Callable[[Mapping[str, Any]], Any]]] = {
            "status": ("status", self.status),
            "ping": ("status", self.ping),
            "switch": ("remote-control", self.switch),
            "pause": ("remote-control", lambda args: self._pause(True, args)),
            "resume": ("remote-control", lambda args: self._pause(False, args)),
            "rejoin": ("remote-control", self.rejoin),
        }

    def handle(self, command: str, args: Mapping[str, Any], rights: frozenset[str]) -> Mapping:
        entry = self._commands.get(command)
        for service in self.host.services:
            entry = entry or service.commands().get(command)
        if entry is None:
            known = ", ".join(sorted({*self._commands, *(
                name for service in self.host.services for name in service.commands())}))
            return _error(404, f"unknown command {command!r} (known: {known})")
        needed, run = entry
        if command == "switch" and args.get("immediate"):
            needed = "master"  # "Only a master administrator can run ... /Immediate"
        if needed not in rights:
            return _error(403, f"command {command!r} needs the {needed!r} right")
        try:
            return {"status": "ok", "errno": 0, "reason": "", "result": run(args)}
        except ServiceCommandError as exc:
            return _error(exc.errno, str(exc))
        except ValueError as exc:  # the services' refusals of bad input (DS paths, values)
            return _error(400, str(exc))

    def status(self, _: Mapping[str, Any]) -> dict[str, Any]:
        host = self.host
        status = host.main.ask(GetStatus(), timeout=ASK_TIMEOUT)
        warnings = list(status.get("warnings", ()))
        if host.pairing_refused:
            warnings.append(f"the peer's queries are refused: {host.pairing_refused}")
        if status["mode"] != "auto":
            warnings.append(f"automatic switching is off: {status['mode']}")
        if status["state"] == "Inactive":
            warnings.append("this server is stale: restart it to rejoin as backup")
        if status["state"] == "Error":
            warnings.append(f"this server is in the Error state and serves nothing: "
                            f"{status['reason']}; fix the cause and restart it")
        replication = {
            "ds": {"state": "not running: DS replication is not built yet"},
            "files": {"state": "not running: file mirroring is not built yet"},
            "interactions": {"state": "not running: interaction recovery is not built yet"},
        }
        for service in host.services:
            replication[service.name] = dict(service.health())
            warnings += service.warnings()
        warnings += host.hooks.warnings()  # a failed hook run, until one succeeds
        status.update(
            modules={name: dict(info) for name, info in host.notifier.modules().items()},
            replication=replication,
            warnings=warnings,
            messages=[f"{m['time']} {m['message']}" for m in host.events.recent()[-10:]],
        )
        return status

    def ping(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """Send one "TS Diagnostic Ping" to the active's module over a chosen channel."""
        channel = args.get("channel", "main")
        if channel not in ("main", "aux"):
            raise ServiceCommandError(400, f"channel must be main or aux, not {channel!r}")
        target = args.get("target") or self.host.config.parameters["Switchover Monitoring"]
        timeout = float(self.host.config.parameters["Switchover TS Timeout"])
        if self.host.shared.snapshot().get("role") != "backup":
            raise ServiceCommandError(409, "only the backup pings the active server's module")
        future = self.host.links.request(channel, target, "TS Diagnostic Ping", timeout=timeout)
        outcome = future.result(timeout=self.host.clock.real_seconds(timeout) + ASK_TIMEOUT)
        body = dict(outcome.response.body) if outcome.response is not None else {}
        return {"channel": channel, "target": target, "outcome": outcome.status,
                "body": body, "detail": outcome.detail}


    def switch(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """Switch the backup to active; on the active, the request goes to the backup."""
        host = self.host
        immediate = bool(args.get("immediate"))
        role = host.shared.snapshot().get("role")
        if role == "backup":
            reply = host.main.ask(RequestSwitch(immediate, "operator"), timeout=ASK_TIMEOUT)
            if not reply["accepted"]:
                raise ServiceCommandError(409, reply["message"])
            return reply
        if role != "active":
            raise ServiceCommandError(409, f"{host.config.server_name} is {role}: nothing to switch")
        answer = host.peer_query({"op": "switch", "immediate": immediate,
                                  "server": host.config.server_name}, ASK_TIMEOUT)
        peer = host.config.peer.name
        if answer is None:
            raise ServiceCommandError(503, f"the backup {peer} does not answer on the virtual switch")
        if answer.get("status") != "ok":
            raise ServiceCommandError(409, f"{peer} refused: {answer.get('reason')}")
        return {"accepted": True, "message": f"switch requested on the backup {peer}"}


    def rejoin(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """A stale server becomes a backup again, with a full resynchronisation."""
        reply = self.host.main.ask(Rejoin(str(args.get("operator") or "operator")),
                                   timeout=ASK_TIMEOUT)
        if not reply["accepted"]:
            raise ServiceCommandError(409, reply["message"])
        return reply

    def _pause(self, paused: bool, args: Mapping[str, Any]) -> dict[str, Any]:
        """Maintenance mode for the pair: this server and its peer (told at once, and
        again through the peer view if it is down now)."""
        origin = str(args.get("operator") or "operator")
        return self.host.main.ask(SetPause(paused, origin), timeout=ASK_TIMEOUT)


def _error(errno: int, reason: str) -> dict[str, Any]:
    return {"status": "error", "errno": errno, "reason": reason, "result": None}
