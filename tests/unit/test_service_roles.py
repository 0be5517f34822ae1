"""SwitchoverMain never waits on a service: a role change returns at once, the services
take it on a thread of their own, in order, and its end is reported (and shown in
status while it is under way)."""
from __future__ import annotations

import threading

from switchover.actors.replication_health import startup_progress
from switchover.actors.service_roles import ServiceRoles


def test_a_role_change_returns_while_the_services_still_take_it() -> None:
    release = threading.Event()
    took: list[tuple[str, float]] = []
    done = threading.Event()

    def apply(role: str, upgrade: str | None) -> None:
        release.wait(10)  # a file service stopping its actors, say

    def report(role: str, seconds: float) -> None:
        took.append((role, seconds))
        done.set()

    roles = ServiceRoles(apply, resync=lambda: None, done=report)
    roles.change("active", None)  # would block here if it waited on the services
    assert roles.taking == "active" and not took
    release.set()
    assert done.wait(10)
    assert [r for r, _ in took] == ["active"] and roles.taking is None
    assert roles.close(timeout=10)


def test_changes_and_resyncs_reach_the_services_in_the_order_decided() -> None:
    seen: list[str] = []
    gate = threading.Event()

    def apply(role: str, upgrade: str | None) -> None:
        gate.wait(10)
        seen.append(f"{role}/{upgrade}")

    roles = ServiceRoles(apply, resync=lambda: seen.append("resync"))
    roles.change("backup", None)
    roles.resync()  # for the backup: must not overtake the role it is for
    roles.change("backup", "higher")
    roles.change("stopping", None)
    gate.set()
    assert roles.close(timeout=10)  # the last change (stopping) is taken before it returns
    assert seen == ["backup/None", "resync", "backup/higher", "stopping/None"]


def test_a_failing_service_does_not_stop_the_changes_after_it() -> None:
    seen: list[str] = []

    def apply(role: str, upgrade: str | None) -> None:
        if role == "backup":
            raise RuntimeError("boom")
        seen.append(role)

    roles = ServiceRoles(apply, resync=lambda: None)
    roles.change("backup", None)
    roles.change("active", None)
    assert roles.close(timeout=10)
    assert seen == ["active"]


def test_a_starting_backup_waits_while_the_services_take_the_role() -> None:
    # Until they have, their health still describes the role before: not "done".
    assert startup_progress([], taking="backup") == \
        "replication services taking the role backup"
    assert startup_progress([], taking=None) is None
