"""`switchover module`: a monitored module that answers "TS Diagnostic Ping" with its PID.

The reference's TsServer, for a pair that has none, and a way to monitor an existing
service without changing it: with `--pid-file` or `--health-cmd` the module is present
on the Notifier only while that process lives or that command succeeds, so the backup
sees exactly what it would see if the service itself were the module.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import threading
from pathlib import Path

import zmq

from switchover.client import load
from switchover.commands.common import add_config
from switchover.processes import process_alive

NAME = "module"
HELP = "run a monitored module (TsServer by default) registered with this host's Notifier"

log = logging.getLogger("Module")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config(parser, client=False)
    parser.add_argument("--name", default="TsServer", help="module name (Switchover Monitoring)")
    parser.add_argument("--pid-file", type=Path, help="present only while this process lives")
    parser.add_argument("--health-cmd", help="present only while this command exits 0")
    parser.add_argument("--check-interval", type=float, default=1.0,
                        help="seconds between checks of --pid-file / --health-cmd")


def healthy(pid_file: Path | None, health_cmd: str | None, timeout: float) -> bool:
    """Whether the watched service is alive now (no watch: always)."""
    if pid_file is not None:
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            return False
        if not process_alive(pid):
            return False
    if health_cmd is not None:
        try:
            done = subprocess.run(health_cmd, shell=True, timeout=timeout,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return False
        if done.returncode != 0:
            return False
    return True


def execute(args: argparse.Namespace) -> int:
    from switchover.endpoints import notifier_ipc
    from switchover.logs import configure_logging
    from switchover.transport.module_client import ModuleClient

    config = load(args.config)
    configure_logging(None, server=f"{config.server_name}/{args.name}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    ctx = zmq.Context()
    endpoint = notifier_ipc(config.data_dir)
    heartbeat = config.time_scale * 1.0
    client: ModuleClient | None = None
    watched = args.pid_file is not None or args.health_cmd is not None
    try:
        while not stop.is_set():
            alive = healthy(args.pid_file, args.health_cmd, timeout=args.check_interval * 5)
            if alive and client is None:
                client = ModuleClient(ctx, endpoint=endpoint, name=args.name,
                                      heartbeat_interval=heartbeat)
                client.start()
                log.info("%s (pid %d) registering with the Notifier at %s",
                         args.name, os.getpid(), endpoint)
            elif not alive and client is not None:
                log.warning("%s: the watched service is down; leaving the Notifier", args.name)
                client.stop()
                client = None
            stop.wait(args.check_interval if watched else 3600)
    finally:
        if client is not None:
            client.stop()
        ctx.term()
    return 0
