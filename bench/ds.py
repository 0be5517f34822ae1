"""DS replication over the real transport: full sync, resync, stream latency, throughput.

The active (this process) runs a Notifier and a DSService on a 100,000-entry tree
(100 groups of 1,000 users); the backup (its own process) runs PeerLinks (main and aux)
and a DSService, as a host does, without CURVE. Measured:

- full sync of an empty backup (time, bytes transferred, the phases of the copy), beside
  copying the SQLite file over a plain TCP socket on the same loopback in the same run
  (the limit), and the ratio of the two;
- resync after 10 changes made while the backup was not following: through the active's
  change log (what a reconnect does) and through the hash compare (what a backup whose
  log cannot serve does), time and bytes as a share of the full sync's;
- change-to-applied latency at 1,000 single-operation changes/s (p50, p99);
- sustained changes/s with 100-operation change sets and with single operations;
- the backup's RSS.

Rerun with:  ./dev bench ds  [--entries 100000]
"""
from __future__ import annotations

import argparse
import atexit
import concurrent.futures
import multiprocessing as mp
import os
import shutil
import socket
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from switchover.replication.ds import Entry, Put  # noqa: E402
from switchover.replication.service import ServiceContext  # noqa: E402
from switchover.clock import RealClock  # noqa: E402
from switchover.localpair import free_ports  # noqa: E402
from switchover.params import ServerParameters  # noqa: E402

PARAMS = {"SwitchoverServer A": "A", "SwitchoverServer B": "B"}


def context(name: str, peer: str, data: Path, notifier: Any, links: Any) -> ServiceContext:
    config = SimpleNamespace(server_name=name, peer=SimpleNamespace(name=peer),
                             parameters=ServerParameters.from_mapping(PARAMS), data_dir=data)
    from switchover.logs import EventLog

    return ServiceContext(config=config, clock=RealClock(1.0), events=EventLog(None, name),
                          notifier=notifier, links=links,
                          executor=concurrent.futures.ThreadPoolExecutor(1),
                          params=lambda: config.parameters, set_params=lambda p: None)


# -- the backup process ------------------------------------------------------------------

def backup_main(conn: Any, ports: list[int], data: str) -> None:
    import zmq

    from switchover.actors.peer import PeerLinks
    from switchover.replication.ds.service import DSService

    ctx = zmq.Context()
    holder: dict[str, Any] = {}
    links = PeerLinks(ctx, RealClock(1.0),
                      endpoints={"main": f"tcp://127.0.0.1:{ports[0]}",
                                 "aux": f"tcp://127.0.0.1:{ports[1]}"},
                      keys=None, server_public=None, sender="SwitchoverService",
                      on_state=lambda c, up: None,
                      on_event=lambda env, bulk: holder["s"].on_peer_event(env, bulk),
                      reconnect_delay=1.0)
    service = holder["s"] = DSService(context("B", "A", Path(data), None, links))
    service.ctx.notifier = SimpleNamespace(register_service=lambda *a: None,
                                           publish=lambda *a: None)
    service.start()
    links.start()
    applied: dict[int, float] = {}
    service.store.subscribe(lambda cs: applied.__setitem__(cs.seq, time.monotonic()))
    while True:
        cmd, arg = conn.recv()
        if cmd == "follow":
            if arg == "compare":
                service.store.sync_batch([])  # unsynced: the log cannot be used
            service.on_role("backup", None)
            conn.send(time.monotonic())
        elif cmd == "unfollow":
            service.on_role("none", None)
            conn.send(None)
        elif cmd == "wait":  # until at seq `arg` and in sync
            while not (service.store.seq >= arg and service.health()["state"] == "in sync"):
                time.sleep(0.0005)
            conn.send((time.monotonic(), service.status.snapshot()["bytes_total"]))
        elif cmd == "applied":
            conn.send(dict(applied))
            applied.clear()
        elif cmd == "phases":  # of the last copy of the active's store
            conn.send(service.status.snapshot()["copy_phases"])
        elif cmd == "hash":
            conn.send(service.store.subtree_hash("/"))
        elif cmd == "copy":  # receive a file over TCP, write it, fsync
            sock = socket.create_connection(("127.0.0.1", arg))
            with open(Path(data) / "copy.sqlite", "wb") as fh:
                while chunk := sock.recv(1 << 20):
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            sock.close()
            conn.send(time.monotonic())
        elif cmd == "stop":
            service.stop()
            links.stop()
            ctx.destroy(linger=0)
            conn.send(None)
            return


# -- the active (this process) -------------------------------------------------------------

def user(i: int, ext: int) -> Put:
    return Put(Entry.make(f"/Config/Users/g{i // 1000:03d}/u{i:06d}", "User",
                          {"Extension": str(ext), "Mail": f"u{i}@example.com",
                           "Workgroups": ["Support", "Sales"]}))


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--latency-seconds", type=float, default=3.0)
    args = parser.parse_args()
    import psutil
    import zmq

    from switchover.replication.ds.service import DSService
    from switchover.transport.notifier import Notifier

    tmp = Path(tempfile.mkdtemp(prefix="bench-ds-"))
    atexit.register(shutil.rmtree, tmp, True)  # hundreds of MB: never left behind
    ports = free_ports(2)
    spawn = mp.get_context("spawn")
    conn, child_conn = spawn.Pipe()
    child = spawn.Process(target=backup_main, args=(child_conn, ports, str(tmp / "B")))
    child.start()

    def ask(cmd: str, arg: Any = None) -> Any:
        conn.send((cmd, arg))
        return conn.recv()

    ctx = zmq.Context()
    notifier = Notifier(ctx, remote_endpoints=[f"tcp://127.0.0.1:{p}" for p in ports],
                        local_endpoint=f"ipc://{tmp}/notifier.ipc", keys=None,
                        authenticator=None, server_name="A", heartbeat_interval=1.0)
    notifier.start()
    active = DSService(context("A", "B", tmp / "A", notifier, None))
    active.start()
    active.on_role("active", None)
    store = active.store
    t = time.monotonic()
    batch: list[Put] = []
    for i in range(args.entries):
        batch.append(user(i, i))
        if len(batch) == 10_000:
            store.write(batch)
            batch = []
    if batch:
        store.write(batch)
    build = time.monotonic() - t
    rows: list[tuple[str, str, str, str]] = []

    # full sync
    t0 = ask("follow")
    done, full_bytes = ask("wait", store.seq)
    snapshot = full_bytes
    full = done - t0
    assert ask("hash") == store.subtree_hash("/")
    phases = ask("phases")
    rows.append(("full sync", f"{full * 1000:.0f} ms", f"{full_bytes / 1e6:.1f} MB",
                 "goal < 3 x the file copy"))
    rows.append(("  its phases (ms)", " ".join(f"{k} {v:g}" for k, v in phases.items()), "",
                 ""))
    # the limit: the SQLite file over a socket on the same loopback
    copy = tmp / "snapshot.sqlite"
    with sqlite3.connect(copy) as dst:
        src = sqlite3.connect(tmp / "A" / "ds.sqlite")
        src.backup(dst)
        src.close()
    size = copy.stat().st_size
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def send_file() -> None:
        c, _ = server.accept()
        with open(copy, "rb") as fh:
            c.sendfile(fh)
        c.close()

    threading.Thread(target=send_file, daemon=True).start()
    t0 = time.monotonic()
    copied = ask("copy", port) - t0
    server.close()
    rows.append(("copy SQLite file (limit)", f"{copied * 1000:.0f} ms", f"{size / 1e6:.1f} MB",
                 f"full sync = {full / copied:.1f} x this"))

    # resync after 10 changes, both ways
    for round_, how in enumerate(("log", "compare")):
        ask("unfollow")
        for k in range(10):
            store.write([user((k * 9973 + round_) % args.entries, 10**6 + 100 * round_ + k)])
        t0 = ask("follow", how)
        done, total = ask("wait", store.seq)
        rs_bytes = total - full_bytes
        full_bytes = total
        assert ask("hash") == store.subtree_hash("/")
        label = "change log" if how == "log" else "hash compare"
        rows.append((f"resync after 10 changes ({label})",
                     f"{(done - t0) * 1000:.1f} ms",
                     f"{rs_bytes / 1e3:.1f} kB = {100 * rs_bytes / snapshot:.3f} % of full sync",
                     "goal < 100 ms, < 1 %"))
    ask("applied")

    # latency at 1,000 changes/s
    written: dict[int, float] = {}
    n = int(1000 * args.latency_seconds)
    start = time.monotonic()
    for k in range(n):
        due = start + k / 1000
        while time.monotonic() < due:
            time.sleep(max(0.0, due - time.monotonic() - 0.0002))
        cs = store.write([user(k % args.entries, 2 * 10**6 + k)])
        written[cs.seq] = time.monotonic()
    ask("wait", store.seq)
    applied = ask("applied")
    lat = [(applied[s] - w) * 1000 for s, w in written.items() if s in applied]
    rows.append(("latency at 1,000 changes/s", f"p50 {pct(lat, 0.5):.2f} ms",
                 f"p99 {pct(lat, 0.99):.2f} ms", "goal p99 < 10 ms"))

    # sustained throughput
    for size_ops in (100, 1):
        count = 60_000 if size_ops == 100 else 4_000
        t0 = time.monotonic()
        for k in range(0, count, size_ops):
            store.write([user((k + j) % args.entries, 3 * 10**6 + k + j)
                         for j in range(size_ops)])
        written_at = time.monotonic()
        done, _ = ask("wait", store.seq)
        rows.append((f"sustained, {size_ops}-op change sets",
                     f"{count / (done - t0):,.0f} changes/s",
                     f"active alone {count / (written_at - t0):,.0f}/s",
                     "goal >= 20,000/s" if size_ops == 100 else "fsync per commit"))
    ask("applied")
    rss = psutil.Process(child.pid).memory_info().rss
    rows.append(("backup RSS", f"{rss / 1e6:.0f} MB", f"{args.entries:,} entries", ""))

    ask("stop")
    child.join(10)
    active.stop()
    notifier.stop()
    ctx.destroy(linger=0)
    print(f"DS replication, {args.entries:,} entries (built in {build:.1f} s), "
          f"durability full, loopback, no CURVE")
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    print("Rerun with:  ./dev bench ds")


if __name__ == "__main__":
    main()
