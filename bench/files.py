"""File mirroring between two real host processes, beside lsyncd and rsync on this machine.

A pair runs on 127.0.0.1 at time_scale 1.0 (the reference's timings), with a TsServer
module so the backup stays the backup. Each row runs in the same run as its comparison:

- change -> visible: 1,000 small files written one every --gap ms into a mirrored
  directory; a poller on the other side (scandir every 0.5 ms) notes when each name
  appears. Against lsyncd (default.rsync to a local directory) with its default settings
  (delay 15 s) and with `delay = 0`. lsyncd mirrors its own copy of the directory so the
  two never compete for the CPU.
- burst: 1,000 files written as fast as possible; time until all are on the other side.
- start-up copy of 10,000 small files and of large files (default 1 GB), as the backup's
  "start-up copy ... done in" event-log entry reports it, against `rsync -a` of the same
  trees into an empty directory. Peak RSS of both host processes during the large copy.

Rerun with:  ./dev bench files  [--large-mb 1024] [--small 10000] [--gap 5]
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from switchover.localpair import LocalPair  # noqa: E402

LIVE, SMALL, LARGE = "/bench/live", "/bench/small", "/bench/large"


class Appearances:
    """Polls a directory and notes when each name with `prefix` first appears."""

    def __init__(self, directory: Path, want: int, prefix: str) -> None:
        self.directory, self.want, self.prefix = directory, want, prefix
        self.seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set() and len(self.seen) < self.want:
            now = time.monotonic()
            try:
                with os.scandir(self.directory) as it:
                    for entry in it:
                        if entry.name not in self.seen and \
                                entry.name.startswith(self.prefix):
                            self.seen[entry.name] = now
            except FileNotFoundError:
                pass
            time.sleep(0.0005)

    def wait(self, timeout: float) -> bool:
        self._thread.join(timeout)
        self._stop.set()
        return len(self.seen) >= self.want


def write_series(src: Path, dst: Path, count: int, gap: float, prefix: str,
                 timeout: float) -> list[float]:
    """Write `count` small files `gap` seconds apart; latencies (s) until each is in dst."""
    watcher = Appearances(dst, count, prefix)
    written: dict[str, float] = {}
    for i in range(count):
        name = f"{prefix}{i:05d}.dat"
        data = os.urandom(512)
        t = time.monotonic()
        with open(src / name, "wb") as f:
            f.write(data)
        written[name] = t
        if gap:
            time.sleep(max(0.0, gap - (time.monotonic() - t)))
    watcher.wait(timeout)
    return [watcher.seen[n] - written[n] for n in written if n in watcher.seen]


def burst(src: Path, dst: Path, count: int, prefix: str, timeout: float) -> float | None:
    watcher = Appearances(dst, count, prefix)
    t0 = time.monotonic()
    for i in range(count):
        (src / f"{prefix}{i:05d}.dat").write_bytes(b"b" * 256)
    if not watcher.wait(timeout):
        return None
    return max(watcher.seen.values()) - t0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Lsyncd:
    """lsyncd in the foreground (-nodaemon), stopped by its PID."""

    def __init__(self, base: Path, src: Path, dst: Path, delay: int | None) -> None:
        self.src, self.dst = src, dst
        src.mkdir(parents=True, exist_ok=True)
        dst.mkdir(parents=True, exist_ok=True)
        (src / ".ready").write_text("x")
        conf = base / f"lsyncd-{delay}.lua"
        delay_line = f", delay = {delay}" if delay is not None else ""
        conf.write_text(
            f'settings {{ nodaemon = true, logfile = "{base}/lsyncd.log" }}\n'
            f'sync {{ default.rsync, source = "{src}", target = "{dst}"{delay_line} }}\n')
        self.proc = subprocess.Popen(["lsyncd", "-nodaemon", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not (dst / ".ready").exists():  # the start-up rsync has run
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("lsyncd did not start (see lsyncd.log)")
            time.sleep(0.01)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def ensure(tool: str) -> bool:
    if shutil.which(tool):
        return True
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", tool], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
        return shutil.which(tool) is not None
    print(f"{tool} is missing: install it with `sudo apt-get install {tool}`")
    return False


def startup_copy_seconds(pair: LocalPair, name: str, after: int) -> tuple[float, str]:
    """The backup's "start-up copy ... done in N s (...)" entry, after `after` entries."""
    def entry():
        for e in pair.events(name)[after:]:
            m = re.search(r"start-up copy from \S+ done in ([0-9.]+) s \((.*)\)", e["message"])
            if m:
                return float(m.group(1)), m.group(2)
        return None
    return pair.wait_for(entry, 600, "the start-up copy")


def rsync_seconds(src: Path, dst: Path) -> float:
    shutil.rmtree(dst, ignore_errors=True)
    t = time.monotonic()
    subprocess.run(["rsync", "-a", f"{src}/", f"{dst}/"], check=True)
    return time.monotonic() - t


def make_trees(root: Path, small: int, large_mb: int) -> None:
    sdir = root / SMALL[1:]
    for i in range(small):
        d = sdir / f"d{i % 100:02d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:05d}.dat").write_bytes(os.urandom(2048))
    ldir = root / LARGE[1:]
    ldir.mkdir(parents=True, exist_ok=True)
    block = os.urandom(1 << 20)
    per = 128
    for i in range(max(1, large_mb // per)):
        with open(ldir / f"big{i}.bin", "wb") as f:
            for j in range(min(per, large_mb)):
                f.write(j.to_bytes(8, "big") + block[8:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", type=int, default=10_000)
    ap.add_argument("--large-mb", type=int, default=1024)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--gap", type=float, default=5.0, help="ms between timed writes")
    args = ap.parse_args()
    have_lsyncd, have_rsync = ensure("lsyncd"), ensure("rsync")
    base = Path(tempfile.mkdtemp(prefix="so-bench-"))
    rows: list[tuple[str, str, str]] = []
    lsyncs: list[Lsyncd] = []
    pair = LocalPair(base / "pair", time_scale=1.0, parameters={
        "CustomMirrorDir": f"+{LIVE}", "InitialMirrorDir": f"+{SMALL};+{LARGE}"})
    a, b = pair.names
    ra, rb = pair.base / a / "root", pair.base / b / "root"
    try:
        (ra / LIVE[1:]).mkdir(parents=True)
        make_trees(ra, args.small, 0)
        pair.start_active(timeout=60)
        t0 = time.monotonic()
        pair.start_host(b)
        ours_small, what = startup_copy_seconds(pair, b, 0)
        wall = time.monotonic() - t0
        rs_small = rsync_seconds(ra / SMALL[1:], base / "rsync-small") if have_rsync else None
        rows.append((f"start-up copy, {args.small} files of 2 KB",
                     f"{ours_small:.2f} s ({what}; {wall:.1f} s from process start)",
                     f"rsync -a {rs_small:.2f} s" if rs_small else "rsync missing"))
        pair.wait_state(b, "Backup")
        time.sleep(1.0)

        gap = args.gap / 1000
        lat = write_series(ra / LIVE[1:], rb / LIVE[1:], args.count, gap, "s", 60)
        comparisons = []
        if have_lsyncd:
            for delay in (0, None):
                ls = Lsyncd(base, base / f"ls{delay}-src", base / f"ls{delay}-dst", delay)
                lsyncs.append(ls)
                try:
                    comparisons.append((delay, write_series(ls.src, ls.dst, args.count, gap,
                                                            "s", 60)))
                finally:
                    ls.stop()
        def fmt(v: list[float]) -> str:
            if not v:
                return "nothing arrived"
            return (f"p50 {pct(v, .5) * 1000:.1f} ms, p99 {pct(v, .99) * 1000:.1f} ms, "
                    f"max {max(v) * 1000:.1f} ms ({len(v)}/{args.count})")
        theirs = "; ".join(f"lsyncd delay={'15 (default)' if d is None else d}: {fmt(v)}"
                           for d, v in comparisons) or "lsyncd missing"
        rows.append((f"change -> visible, {args.count} writes {args.gap:g} ms apart",
                     fmt(lat), theirs))

        ours_burst = burst(ra / LIVE[1:], rb / LIVE[1:], args.count, "b", 60)
        their_burst = None
        if have_lsyncd:
            ls = Lsyncd(base, base / "lsb-src", base / "lsb-dst", 0)
            lsyncs.append(ls)
            try:
                their_burst = burst(ls.src, ls.dst, args.count, "b", 60)
            finally:
                ls.stop()
        rows.append((f"burst of {args.count} files, all visible",
                     f"{ours_burst:.3f} s" if ours_burst else "incomplete",
                     f"lsyncd delay=0: {their_burst:.3f} s" if their_burst else "n/a"))

        # large files: a fresh start-up copy while both hosts' RSS is sampled
        pair.kill(b, signal.SIGTERM)
        make_trees(ra, 0, args.large_mb)
        os.sync()
        before = len(pair.events(b))
        peaks = {a: 0, b: 0}
        stop = threading.Event()

        def sample() -> None:
            procs = {n: psutil.Process(pair.processes[n].pid) for n in (a, b)}
            while not stop.is_set():
                for n, p in procs.items():
                    try:
                        peaks[n] = max(peaks[n], p.memory_info().rss)
                    except psutil.Error:
                        pass
                time.sleep(0.02)

        pair.start_host(b)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        ours_large, what = startup_copy_seconds(pair, b, before)
        stop.set()
        sampler.join()
        size = sum(p.stat().st_size for p in (ra / LARGE[1:]).iterdir())
        rs_large = rsync_seconds(ra / LARGE[1:], base / "rsync-large") if have_rsync else None
        mb = size / 1e6
        rows.append((f"start-up copy, {mb:.0f} MB in {max(1, args.large_mb // 128)} files",
                     f"{ours_large:.2f} s = {mb / ours_large:.0f} MB/s ({what})",
                     f"rsync -a {rs_large:.2f} s = {mb / rs_large:.0f} MB/s"
                     if rs_large else "rsync missing"))
        rows.append(("peak RSS during the large copy",
                     f"active {peaks[a] / 1e6:.0f} MB, backup {peaks[b] / 1e6:.0f} MB", ""))
    finally:
        for ls in lsyncs:
            ls.stop()
        pair.stop_all()
        shutil.rmtree(base, ignore_errors=True)

    w1 = max(len(r[0]) for r in rows)
    w2 = max(len(r[1]) for r in rows)
    print(f"\n{'case':<{w1}} | {'switchover':<{w2}} | comparison")
    print(f"{'-' * w1}-+-{'-' * w2}-+-{'-' * 30}")
    for r in rows:
        print(f"{r[0]:<{w1}} | {r[1]:<{w2}} | {r[2]}")
    print("\nRerun with:  ./dev bench files")


if __name__ == "__main__":
    main()
