"""keepalived (VRRP) moving the same VIP, as the switchover pair's yardstick.

The same `switchover module` process as the pair's runs alone on each host under a pid
file, tracked by a vrrp_script (interval 1, fall 1) `kill -0 $(cat pidfile)`; faults are
that module SIGKILLed, A's keepalived SIGKILLed, or SIGTERM to it (a priority 0 advert
first). keepalived is installed with apt-get when missing and possible.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from bench.failover_kit import (
    FAULT_TIMEOUT,
    NAMES,
    Result,
    cleanup,
    client_answered,
    say,
    start_web,
    stop_process,
    watch_client,
)
from bench.arp_observer import ArpObserver
from bench.lan_web import stop_http_server
from bench.netns import PREFIX, VIP, Topology
from switchover.localpair import LocalPair

#: keepalived's fastest advert_int: VRRPv3 carries the interval in centiseconds.
FASTEST_ADVERT = 0.01


def ensure_keepalived() -> str | None:
    """The keepalived binary; installs it with apt-get when running as root and possible."""
    found = shutil.which("keepalived")
    if found:
        return found
    print("keepalived is not installed; install it with:  apt-get install -y keepalived",
          flush=True)
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say("installing keepalived with apt-get")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        try:
            subprocess.run(["apt-get", "update"], env=env, timeout=600, check=False,
                           stdout=subprocess.DEVNULL)
            subprocess.run(["apt-get", "install", "-y", "keepalived"], env=env, timeout=600,
                           check=False, stdout=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            say("apt-get timed out")
        found = shutil.which("keepalived")
    return found


KEEPALIVED_CONF = """\
global_defs {{
    router_id so_{letter}
    script_user root
    vrrp_garp_master_delay 0
    vrrp_version {version}
}}
vrrp_script chk_module {{
    script "{check}"
    interval 1
    fall 1
    rise 1
}}
vrrp_instance so_vip {{
    state BACKUP
    interface {dev}
    virtual_router_id 51
    priority {priority}
    advert_int {advert}
    virtual_ipaddress {{
        {vip}/{prefix} dev {dev}
    }}
    track_script {{
        chk_module
    }}
}}
"""


def stop_daemon(proc: subprocess.Popen) -> None:
    """Stop a keepalived started here, and any child its killed parent left behind."""
    children = descendants(proc.pid)
    stop_process(proc)
    for pid in children:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def descendants(pid: int) -> list[int]:
    import psutil

    try:
        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def run_keepalived(result: Result, fault: str, reps: int, binary: str,
                   keep: Path | None, advert: float = 1.0) -> None:
    topo = Topology().build()
    observer = None
    web: list[subprocess.Popen] = []
    try:
        observer = ArpObserver(topo).start()
        web = start_web(topo)
        mac_b = topo.mac("B")
        for rep in range(reps):
            base = Path(tempfile.mkdtemp(prefix="so-ka-", dir=keep))
            # The module: the same `switchover module` process as the pair's, run alone.
            pair = LocalPair(base, addresses={NAMES[0]: topo.address("A"),
                                              NAMES[1]: topo.address("B")},
                             netns={NAMES[0]: topo.ns("A"), NAMES[1]: topo.ns("B")})
            daemons: dict[str, subprocess.Popen] = {}
            client = None
            try:
                for name, letter, priority in zip(NAMES, "AB", (150, 100)):
                    module = pair.start_module(name)
                    pid_file = base / f"module-{letter}.pid"
                    pid_file.write_text(f"{module.pid}\n")
                    check = base / f"check-{letter}.sh"
                    check.write_text(f"#!/bin/sh\nkill -0 $(cat {pid_file}) 2>/dev/null\n")
                    check.chmod(0o755)
                    conf = base / f"keepalived-{letter}.conf"
                    conf.write_text(KEEPALIVED_CONF.format(
                        letter=letter, check=check, dev=topo.ifname(letter),
                        priority=priority, vip=VIP, prefix=PREFIX, advert=f"{advert:g}",
                        version=2 if advert >= 1 else 3))
                    log = open(base / f"keepalived-{letter}.log", "ab")
                    daemons[letter] = subprocess.Popen(
                        [*topo.exec_prefix(letter), binary, "--dont-fork", "--log-console",
                         "--log-detail", "--vrrp", "--use-file", str(conf),
                         "--pid", str(base / f"keepalived-{letter}.pid"),
                         "--vrrp_pid", str(base / f"vrrp-{letter}.pid")],
                        stdout=log, stderr=subprocess.STDOUT)
                    log.close()
                pair.wait_for(lambda: topo.has_address("A") and not topo.has_address("B"),
                              30, "keepalived to put the VIP on A")
                time.sleep(2.0)  # a few adverts in the steady state
                client = watch_client(topo, NAMES[0])
                t0 = time.monotonic()
                observer.watch(mac_b, t0)
                t0 = time.monotonic()
                if fault == "module":
                    # reaped at once, as a supervisor would: `kill -0` succeeds on a zombie
                    pair.kill(f"{NAMES[0]}/TsServer", signal.SIGKILL)
                elif fault == "stop":
                    daemons["A"].send_signal(signal.SIGTERM)  # priority 0 advert, then exit
                else:
                    parent = daemons["A"].pid
                    for pid in [*descendants(parent), parent]:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                answered = observer.wait(FAULT_TIMEOUT)
                served = client_answered(client, NAMES[1], t0)
                if answered is None:
                    result.notes.append(f"rep {rep + 1}: B never answered (logs in {base})")
                else:
                    result.vip.append(answered - t0)
                if served is None:
                    result.notes.append(f"rep {rep + 1}: B's service never answered on the "
                                        f"VIP (logs in {base})")
                else:
                    result.client.append(served)
                say(f"{result.name} rep {rep + 1}: VIP "
                    f"{(answered - t0) if answered else float('nan'):.3f} s, client "
                    f"{served if served is not None else float('nan'):.3f} s")
            except Exception as exc:
                result.notes.append(f"rep {rep + 1}: {exc} (logs in {base})")
                say(f"{result.name} rep {rep + 1} failed: {exc}")
            finally:
                if client is not None:
                    cleanup("client", client.stop)
                for proc in daemons.values():
                    cleanup("keepalived", lambda: stop_daemon(proc))
                cleanup("modules", pair.stop_all)
                for letter in "AB":
                    cleanup("VIP", lambda: topo.drop_address(letter))
                if keep is None and not result.notes:
                    shutil.rmtree(base, ignore_errors=True)
    finally:
        for proc in web:
            cleanup("web service", lambda: stop_http_server(proc))
        if observer is not None:
            observer.stop()
        topo.destroy()
