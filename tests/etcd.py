"""Real etcd servers for tests: one member or a cluster of three, on 127.0.0.1 (or on an
address inside a network namespace the test made).

Each member listens on ports the kernel called free, keeps its data in a directory of the
test's own and writes its log there; it is stopped by the PID this module started, never
by name. `./dev test` unpacks Debian's `etcd-server` into `.venv/etcd` where it runs as root
with apt-get; elsewhere `etcd_binary()` says why there is none and the tests that need one skip.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import requests

from switchover.localpair import free_ports

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0


def etcd_binary() -> tuple[str | None, str]:
    """The etcd executable (`./dev`'s unpacked copy first), or None and why tests skip."""
    named = os.environ.get("SWITCHOVER_TEST_ETCD")
    if named:
        if not os.access(named, os.X_OK):
            return None, f"SWITCHOVER_TEST_ETCD={named} is not an executable file"
        return named, ""
    unpacked = ROOT / ".venv" / "etcd" / "usr" / "bin" / "etcd"
    path = str(unpacked) if unpacked.exists() else shutil.which("etcd")
    if path is None:
        return None, ("no etcd binary (`./dev test` unpacks Debian's etcd-server as root "
                      "where apt-get works; or install etcd, or set SWITCHOVER_TEST_ETCD)")
    return path, ""


@dataclass(frozen=True)
class TlsFiles:
    """A test CA, etcd's server certificate for 127.0.0.1, and a client certificate."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_tls(directory: Path) -> tuple[TlsFiles | None, str]:
    """Certificates made with the openssl command, or None and why not."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None, "no openssl command to make test certificates with"
    directory.mkdir(parents=True, exist_ok=True)
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=directory, check=True, capture_output=True)

    run("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
        "-subj", "/CN=switchover-test-ca")
    for name, usage in (("server", "serverAuth,clientAuth"), ("client", "clientAuth")):
        (directory / f"{name}.ext").write_text(
            f"subjectAltName=IP:127.0.0.1\nextendedKeyUsage={usage}\n")
        run("req", *key, "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-subj", f"/CN=switchover-test-{name}")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "1",
            "-extfile", f"{name}.ext")
    d = directory
    return TlsFiles(d / "ca.pem", d / "server.pem", d / "server.key", d / "client.pem",
                    d / "client.key"), ""


#: etcd's /health from inside a namespace: exit status 0 when it reports healthy.
_HEALTH = (
    "import json, sys, urllib.request\n"
    "reply = json.load(urllib.request.urlopen(sys.argv[1], timeout=0.5))\n"
    "sys.exit(0 if reply.get('health') == 'true' else 1)\n"
)


class EtcdMember:
    """One etcd process; `stop` and `start` again keep its data, as a restart does.

    With `tls`, clients must speak https and show a certificate of the test CA. With
    `exec_prefix` (`ip netns exec NS`) it runs, and is asked for its health, inside a
    namespace the test made, listening on `host` there.
    """

    def __init__(self, binary: str, name: str, base: Path, tls: TlsFiles | None = None,
                 extra: Sequence[str] = (), host: str = "127.0.0.1",
                 exec_prefix: Sequence[str] = ()) -> None:
        if tls is not None and exec_prefix:
            raise ValueError("TLS inside a namespace is not supported by these fixtures")
        self.binary = binary
        self.name = name
        self.tls = tls
        self.extra = list(extra)
        self.host = host
        self.exec_prefix = list(exec_prefix)
        self.client_port, self.peer_port = free_ports(2)
        self.data_dir = base / name
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://{self.host}:{self.peer_port}"

    def start(self, initial_cluster: str, token: str, state: str = "new") -> None:
        args = [
            *self.exec_prefix, self.binary, "--name", self.name,
            "--data-dir", str(self.data_dir / "data"),
            "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
            "--listen-peer-urls", self.peer_url, "--initial-advertise-peer-urls", self.peer_url,
            "--initial-cluster", initial_cluster, "--initial-cluster-state", state,
            "--initial-cluster-token", token,
        ]
        args += self.extra
        if self.tls is not None:
            args += ["--cert-file", str(self.tls.server_cert), "--key-file",
                     str(self.tls.server_key), "--trusted-ca-file", str(self.tls.ca),
                     "--client-cert-auth"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
        with open(self.data_dir / "etcd.log", "ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)

    def healthy(self) -> bool:
        """The member answers and its cluster has a leader (etcd's own /health)."""
        if self.process is None or self.process.poll() is not None:
            return False
        if self.exec_prefix:
            check = [*self.exec_prefix, sys.executable, "-c", _HEALTH, self.url + "/health"]
            try:
                return subprocess.run(check, capture_output=True, timeout=3).returncode == 0
            except subprocess.TimeoutExpired:
                return False
        try:
            tls = self.tls
            reply = requests.get(
                self.url + "/health", timeout=0.5, verify=str(tls.ca) if tls else True,
                cert=(str(tls.client_cert), str(tls.client_key)) if tls else None)
            return reply.ok and reply.json().get("health") == "true"
        except (requests.RequestException, ValueError):
            return False

    def stop(self) -> None:
        """SIGTERM by PID, then SIGKILL if it lingers; waits until the process is gone."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)

    def log_tail(self, lines: int = 20) -> str:
        path = self.data_dir / "etcd.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class EtcdCluster:
    """`size` members started together; `endpoints` is what `[witness] endpoints` lists.

    `extra` are more etcd flags for every member (e.g. a short `--auth-token-ttl`);
    `host` and `exec_prefix` place every member in a namespace (see EtcdMember).
    """

    def __init__(self, binary: str, base: Path, size: int = 1,
                 tls: TlsFiles | None = None, extra: Sequence[str] = (),
                 host: str = "127.0.0.1", exec_prefix: Sequence[str] = ()) -> None:
        self.token = f"so-test-{uuid.uuid4().hex[:8]}"
        self.members = [EtcdMember(binary, f"m{i}", base, tls, extra, host, exec_prefix)
                        for i in range(size)]
        self.initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members)

    @property
    def endpoints(self) -> list[str]:
        return [m.url for m in self.members]

    def start(self) -> None:
        for member in self.members:
            member.start(self.initial, self.token)
        self.wait_healthy(self.members)

    def restart(self, member: EtcdMember, down_for: float = 0.0, crash: bool = False) -> None:
        """Stop one member (`crash`: SIGKILL, so a leader hands nothing over), leave it down
        `down_for` seconds, start it again on its data."""
        if crash and member.process is not None:
            member.process.kill()
            member.process.wait(STOP_TIMEOUT)
        member.stop()
        time.sleep(down_for)
        member.start(self.initial, self.token, state="existing")
        self.wait_healthy([member])

    def leader(self) -> EtcdMember:
        """The member the others follow now, as the first member that answers says."""
        for member in self.members:
            try:
                status = requests.post(member.url + "/v3/maintenance/status", json={},
                                       timeout=1).json()
                listed = requests.post(member.url + "/v3/cluster/member/list", json={},
                                       timeout=1).json()["members"]
            except (requests.RequestException, ValueError, KeyError):
                continue
            names = {entry["ID"]: entry["name"] for entry in listed}
            by_name = {m.name: m for m in self.members}
            return by_name[names[status["leader"]]]
        raise RuntimeError("no etcd member answers with its leader")

    def wait_healthy(self, members: Sequence[EtcdMember]) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        waiting = list(members)
        while waiting:
            waiting = [m for m in waiting if not m.healthy()]
            if not waiting:
                return
            dead = [m for m in waiting if m.process is None or m.process.poll() is not None]
            if dead or time.monotonic() > deadline:
                member = (dead or waiting)[0]
                raise RuntimeError(f"etcd member {member.name} did not become healthy:\n"
                                   f"{member.log_tail()}")
            time.sleep(0.05)

    def stop(self) -> None:
        for member in self.members:
            member.stop()
