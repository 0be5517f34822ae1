"""Round trips through the Notifier, beside a bare pyzmq echo as the limit.

A main Channel (this process) asks "TS Diagnostic Ping" of a ModuleClient (its own
process) through a Notifier (its own process), as the backup's ModuleMonitor does of the
active, and "Ping" of the Notifier itself, as its PrimaryMonitor does (the layout of the
bare echo: 2 processes, 1 hop). The
same count runs sequentially and with several requests in flight, with CURVE off and on.
Two bare pyzmq rows give the limits on this machine: the echo (client and a ROUTER echo
in its own process: 2 processes, 1 hop) and the relay (client, a ROUTER relay process and
a DEALER echo process: the Notifier path's 3 processes and 2 hops, with no envelopes, no
loop threads and no JSON). Each configuration runs --runs times (fresh processes each
time); the table gives the median of each column and the spread of req/s.
Rerun with:  ./dev bench notifier  [--count 5000] [--inflight 32] [--runs 3]
"""
from __future__ import annotations

import argparse
import atexit
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import zmq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from switchover.transport import (  # noqa: E402
    Authenticator,
    Channel,
    ModuleClient,
    Notifier,
    generate_keypair,
    load_keypair,
)
from switchover.transport.security import curve_client, curve_server  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- child processes ------------------------------------------------------------------------

def serve(args: argparse.Namespace) -> None:
    ctx = zmq.Context()
    keys = load_keypair(Path(args.keys)) if args.keys else None
    auth = None
    if args.role == "notifier":
        if keys is not None:
            auth = Authenticator(ctx)
            auth.start()
        loop = Notifier(ctx, remote_endpoints=[args.endpoint], local_endpoint=args.local,
                        keys=keys, authenticator=auth, server_name="bench")
    elif args.role == "module":
        loop = ModuleClient(ctx, endpoint=args.local, name="TsServer")
    elif args.role in ("relay", "relay-echo"):
        target = relay if args.role == "relay" else relay_echo
        started = threading.Event()
        threading.Thread(target=target, args=(ctx, args, keys, started), daemon=True).start()
        started.wait(10)
        print("READY", flush=True)
        sys.stdin.read()
        os._exit(0)
    else:
        loop = None
        threading.Thread(target=echo, args=(ctx, args.endpoint, keys), daemon=True).start()
    if loop is not None:
        loop.start()
    print("READY", flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    if loop is None:
        os._exit(0)  # the echo thread is blocked in recv: end without tearing it down
    if loop is not None:
        loop.stop()
    if auth is not None:
        auth.stop()
    ctx.destroy(linger=0)


def echo(ctx: zmq.Context, endpoint: str, keys) -> None:
    sock = ctx.socket(zmq.ROUTER)
    sock.linger = 0
    if keys is not None:
        curve_server(sock, keys, "bench")  # no authenticator here: any client key
    sock.bind(endpoint)
    while True:
        sock.send_multipart(sock.recv_multipart())


def relay(ctx: zmq.Context, args: argparse.Namespace, keys, started: threading.Event) -> None:
    """The Notifier's forwarding with nothing else: remote ROUTER <-> local ROUTER."""
    remote = ctx.socket(zmq.ROUTER)
    remote.linger = 0
    if keys is not None:
        curve_server(remote, keys, "bench")
    remote.bind(args.endpoint)
    local = ctx.socket(zmq.ROUTER)
    local.linger = 0
    local.bind(args.local)
    started.set()
    module = local.recv_multipart()[0]  # the echo says hello first
    poller = zmq.Poller()
    poller.register(remote, zmq.POLLIN)
    poller.register(local, zmq.POLLIN)
    while True:
        for sock, _ in poller.poll(1000):
            while True:
                try:
                    frames = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                if sock is remote:
                    local.send_multipart([module, *frames])
                else:
                    remote.send_multipart(frames[1:])


def relay_echo(ctx: zmq.Context, args: argparse.Namespace, keys, started: threading.Event) -> None:
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(args.local)
    sock.send(b"hello")
    started.set()
    while True:
        sock.send_multipart(sock.recv_multipart())


def spawn(*argv: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, __file__, "--serve", *argv],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "READY":
        proc.kill()
        raise RuntimeError(f"child {argv[0]} failed to start")
    return proc


def finish(proc: subprocess.Popen) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- measurements ------------------------------------------------------------------------------

def summary(name: str, lat: list[float], elapsed: float) -> dict:
    lat = sorted(lat)
    return {"name": name, "n": len(lat), "p50": statistics.median(lat) * 1e6,
            "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e6,
            "rate": len(lat) / elapsed}


def bare(ctx: zmq.Context, endpoint: str, keys, count: int, inflight: int,
         name: str = "bare echo") -> dict:
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    if keys is not None:
        curve_client(sock, keys, keys.public)
    sock.connect(endpoint)
    payload = b'{"v":1,"kind":"request","eid":"TS Diagnostic Ping","req_id":%d}'
    for i in range(200):  # warm up (and finish the handshake)
        sock.send(payload % i)
        sock.recv()
    lat: list[float] = []
    sent: dict[int, float] = {}
    t0 = time.perf_counter()
    nxt = 0
    while nxt < min(inflight, count):
        sent[nxt] = time.perf_counter()
        sock.send(b"%d" % nxt)
        nxt += 1
    while len(lat) < count:
        rid = int(sock.recv())
        lat.append(time.perf_counter() - sent.pop(rid))
        if nxt < count:
            sent[nxt] = time.perf_counter()
            sock.send(b"%d" % nxt)
            nxt += 1
    elapsed = time.perf_counter() - t0
    sock.close(0)
    return summary(f"{name}, {inflight} in flight", lat, elapsed)


#: What the Channel asks: the module through the Notifier (2 hops, the ModuleMonitor's
#: ping), or the Notifier itself (1 hop, the PrimaryMonitor's ping: the bare echo's layout).
PATHS = {
    "notifier -> module": ("TsServer", "TS Diagnostic Ping"),
    "notifier itself": ("Notifier", "Ping"),
}


def through_notifier(channel: Channel, count: int, inflight: int,
                     path: str = "notifier -> module") -> dict:
    target, eid = PATHS[path]
    for _ in range(200):  # warm up
        assert channel.request(target, eid, timeout=5).result(10).ok
    lat: list[float] = []
    done = threading.Event()
    lock = threading.Lock()
    issued = [0]
    failures: list[str] = []

    def issue() -> None:
        with lock:
            if issued[0] >= count:
                return
            issued[0] += 1
        start = time.perf_counter()
        fut = channel.request(target, eid, timeout=5)
        fut.add_done_callback(lambda f, s=start: completed(f, s))

    def completed(fut, start: float) -> None:
        outcome = fut.result()
        lat.append(time.perf_counter() - start)
        if not outcome.ok:
            failures.append(outcome.status)
        if len(lat) >= count:
            done.set()
        else:
            issue()

    t0 = time.perf_counter()
    for _ in range(min(inflight, count)):
        issue()
    if not done.wait(120):
        raise RuntimeError("benchmark stalled")
    elapsed = time.perf_counter() - t0
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed: {failures[:3]}")
    return summary(f"{path}, {inflight} in flight", lat, elapsed)


def run(count: int, inflight: int) -> list[tuple[str, dict]]:
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-notifier-"))
    atexit.register(shutil.rmtree, tmp, True)  # hundreds of MB: never left behind
    _, secret = generate_keypair(tmp / "keys", "group")
    keys = load_keypair(secret)
    ctx = zmq.Context()
    try:
        for curve in (False, True):
            label = "CURVE on " if curve else "CURVE off"
            key_args = ["--keys", str(secret)] if curve else []
            use = keys if curve else None
            echo_ep = f"tcp://127.0.0.1:{free_port()}"
            proc = spawn("echo", "--endpoint", echo_ep, *key_args)
            try:
                for n in (1, inflight):
                    rows.append((label, bare(ctx, echo_ep, use, count, n)))
            finally:
                finish(proc)
            relay_ep = f"tcp://127.0.0.1:{free_port()}"
            relay_local = f"ipc://{tmp}/relay-{int(curve)}.ipc"
            relay_proc = spawn("relay", "--endpoint", relay_ep, "--local", relay_local,
                               *key_args)
            relay_echo_proc = spawn("relay-echo", "--local", relay_local)
            try:
                for n in (1, inflight):
                    rows.append((label, bare(ctx, relay_ep, use, count, n, "bare relay")))
            finally:
                finish(relay_echo_proc)
                finish(relay_proc)
            main = f"tcp://127.0.0.1:{free_port()}"
            local = f"ipc://{tmp}/notifier-{int(curve)}.ipc"
            notifier = spawn("notifier", "--endpoint", main, "--local", local, *key_args)
            module = spawn("module", "--local", local)
            up = threading.Event()
            channel = Channel(ctx, name="main", endpoint=main, keys=use,
                              server_public=keys.public if curve else None,
                              sender="SwitchoverService",
                              on_state=lambda name, state: state and up.set())
            channel.start()
            try:
                if not up.wait(10):
                    raise RuntimeError("channel did not connect")
                deadline = time.monotonic() + 10
                while not channel.request("TsServer", "TS Diagnostic Ping",
                                          timeout=1).result(5).ok:
                    if time.monotonic() > deadline:
                        raise RuntimeError("module did not register")
                    time.sleep(0.1)
                for path in PATHS:
                    for n in (1, inflight):
                        rows.append((label, through_notifier(channel, count, n, path)))
            finally:
                channel.stop()
                finish(module)
                finish(notifier)
    finally:
        ctx.destroy(linger=0)
    return rows


def median_rows(runs: list[list[tuple[str, dict]]]) -> list[tuple[str, dict]]:
    """Each row's median over the runs, with the lowest and highest req/s seen."""
    out = []
    for i, (label, first) in enumerate(runs[0]):
        same = [run[i][1] for run in runs]
        rates = [r["rate"] for r in same]
        out.append((label, {"name": first["name"], "n": first["n"],
                            "p50": statistics.median(r["p50"] for r in same),
                            "p99": statistics.median(r["p99"] for r in same),
                            "rate": statistics.median(rates),
                            "low": min(rates), "high": max(rates)}))
    return out


def table(rows: list[tuple[str, dict]]) -> str:
    out = [f"{'security':<10} {'path':<26} {'count':>6} {'p50 us':>8} {'p99 us':>8} {'req/s':>9}"
           f" {'req/s spread':>15}", "-" * 88]
    for label, r in rows:
        spread = f"{r['low']:.0f}-{r['high']:.0f}" if "low" in r else ""
        out.append(f"{label:<10} {r['name']:<26} {r['n']:>6} {r['p50']:>8.0f} {r['p99']:>8.0f} "
                   f"{r['rate']:>9.0f} {spread:>15}")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--inflight", type=int, default=32)
    parser.add_argument("--runs", type=int, default=3,
                        help="repeat every configuration; report medians (default 3)")
    parser.add_argument("--serve", dest="role",
                        choices=["notifier", "module", "echo", "relay", "relay-echo"])
    parser.add_argument("--endpoint")
    parser.add_argument("--local")
    parser.add_argument("--keys")
    args = parser.parse_args()
    if args.role:
        serve(args)
        return
    runs = [run(args.count, args.inflight) for _ in range(max(1, args.runs))]
    print(f"Notifier round trip (TS Diagnostic Ping), loopback, {os.cpu_count()} CPUs, "
          f"pyzmq {zmq.__version__}, libzmq {zmq.zmq_version()}, "
          f"median of {len(runs)} runs")
    print("bare echo: 2 processes, 1 hop (client -> echo).  bare relay and notifier: "
          "3 processes, 2 hops\n(client -> notifier -> module); notifier adds the Channel's "
          "loop thread in the client.")
    print(table(median_rows(runs)))
    print("\nrerun: ./dev bench notifier  [--count N] [--inflight N] [--runs N]")


if __name__ == "__main__":
    main()
