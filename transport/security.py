"""CURVE keys, allow lists and the ZAP authenticator.

Every cross-host socket is a CURVE server holding the server-group keypair; each ZAP
domain ("notifier", "switch", "admin") has its own allow list, because the pair's key
may talk to the Notifier while only operators' keys may use the admin socket. The
authenticator answers "which rights does this key have here?" so a socket can check an
operator's rights from the User-Id ZAP attached to the frames (the z85 public key).
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils import z85

log = logging.getLogger("Security")

DEFAULT_RIGHTS = frozenset({"status"})
#: A refused key is reported at most once per this many seconds per domain, so a
#: client retrying its handshake cannot flood the log.
REJECT_LOG_INTERVAL = 60.0


class Rights(frozenset):
    """An operator's rights, carrying the name of the key that grants them (the file
    stem, e.g. `alice` for `alice.key`), so what an operator does can be recorded by name."""

    name: str = ""

    def __new__(cls, rights: frozenset[str] | set[str] = frozenset(), name: str = ""):
        self = super().__new__(cls, rights)
        self.name = name
        return self


@dataclass(frozen=True)
class CurveKeys:
    """A CURVE keypair in z85 text form (40 bytes each), as the socket options take it."""

    public: bytes
    secret: bytes

    def __repr__(self) -> str:  # never print a secret
        return f"CurveKeys(public={self.public!r}, secret=<hidden>)"


def _z85_key(key: bytes) -> bytes:
    if len(key) == 32:
        return z85.encode(key)
    if len(key) == 40:
        return bytes(key)
    raise ValueError(f"not a CURVE key: {len(key)} bytes (expected 32 raw or 40 z85)")


def generate_keypair(
    directory: Path, name: str, metadata: dict[str, str] | None = None
) -> tuple[Path, Path]:
    """Write `name.key` (public) and `name.key_secret` (0600) into `directory` (0700 if new)."""
    directory = Path(directory)
    if not directory.exists():
        directory.mkdir(mode=0o700, parents=True)
        os.chmod(directory, 0o700)  # mkdir's mode is filtered by the umask
    public, secret = zmq.auth.create_certificates(str(directory), name, metadata)
    os.chmod(secret, 0o600)
    if metadata:
        # pyzmq writes metadata into the secret file only; the rights an operator's
        # public certificate grants must travel with the public file.
        _add_metadata(Path(public), metadata)
    return Path(public), Path(secret)


def _add_metadata(path: Path, metadata: dict[str, str]) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    at = lines.index("metadata") + 1
    for key, value in reversed(list(metadata.items())):
        if any(c in str(key) + str(value) for c in '"\n\r'):
            raise ValueError(f"metadata {key!r} may not contain quotes or newlines")
        lines.insert(at, f'    {key} = "{value}"')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def load_keypair(secret_path: Path) -> CurveKeys:
    """Read a `*.key_secret` certificate; ValueError naming the file if it has no secret."""
    public, secret = zmq.auth.load_certificate(str(secret_path))
    if not secret:
        raise ValueError(f"{secret_path}: no secret key in this certificate")
    return CurveKeys(public=public, secret=secret)


def load_public(path: Path) -> bytes:
    """The z85 public key from a certificate (public or secret file)."""
    public, _ = zmq.auth.load_certificate(str(path))
    return public


def _metadata(path: Path) -> dict[str, str]:
    """The `metadata` section of a ZPL certificate (zmq.auth only returns the keys)."""
    out: dict[str, str] = {}
    section = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if not raw[:1].isspace():
            section = line.strip()
            continue
        if section == "metadata" and "=" in line:
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip().strip('"')
    return out


def load_authorized(directory: Path) -> dict[bytes, frozenset[str]]:
    """Public keys in `directory/*.key` with their rights (metadata `rights`, comma-separated),
    as `Rights` named after the file.

    A certificate without `rights` gets `status` only: listing a key lets its holder look,
    not act.
    """
    out: dict[bytes, frozenset[str]] = {}
    for path in sorted(Path(directory).glob("*.key")):
        public, _ = zmq.auth.load_certificate(str(path))
        text = _metadata(path).get("rights", "")
        rights = frozenset(r.strip() for r in text.split(",") if r.strip())
        out[public] = Rights(rights or DEFAULT_RIGHTS, path.stem)
    return out


class _DomainProvider:
    """The CURVE callback of one ZAP domain (runs on the authenticator's thread)."""

    def __init__(self, owner: Authenticator, domain: str) -> None:
        self.owner = owner
        self.domain = domain

    def callback(self, domain: str, key: bytes) -> bool:
        return self.owner._check(self.domain, key)


class Authenticator:
    """One ZAP handler per zmq.Context, with a separate allow list per domain."""

    def __init__(self, ctx: zmq.Context) -> None:
        self._ctx = ctx
        self._auth: ThreadAuthenticator | None = None
        self._lists: dict[str, dict[bytes, frozenset[str]]] = {}
        self._admit_unknown: set[str] = set()
        self._last_reject: dict[tuple[str, bytes], float] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        """Bind the context's ZAP endpoint; every CURVE server socket is checked from now."""
        if self._auth is not None:
            return
        auth = ThreadAuthenticator(self._ctx, log=logging.getLogger("Security.zap"))
        auth.start()
        self._auth = auth
        for domain in self._lists:
            auth.configure_curve_callback(domain, _DomainProvider(self, domain))

    def stop(self) -> None:
        auth, self._auth = self._auth, None
        if auth is not None:
            auth.stop()

    def allow(
        self,
        domain: str,
        keys: Mapping[bytes, frozenset[str]],
        *,
        admit_unknown: bool | None = None,
    ) -> None:
        """Replace the allow list of `domain` (public keys, z85 or raw, -> rights).

        `admit_unknown` lets unlisted keys finish the handshake with no rights, so a
        server can answer them with a clear refusal (the admin socket's 403) instead of
        silence; they are still logged as rejected. None keeps the domain's setting.
        """
        table = {_z85_key(k): v if isinstance(v, Rights) else frozenset(v)
                 for k, v in keys.items()}
        with self._lock:
            self._lists[domain] = table
            if admit_unknown:
                self._admit_unknown.add(domain)
            elif admit_unknown is not None:
                self._admit_unknown.discard(domain)
        if self._auth is not None:
            self._auth.configure_curve_callback(domain, _DomainProvider(self, domain))

    def set_admit_unknown(self, domain: str, admit: bool) -> None:
        """See `allow`: whether unlisted keys of `domain` may connect (with no rights)."""
        with self._lock:
            if admit:
                self._admit_unknown.add(domain)
            else:
                self._admit_unknown.discard(domain)
        if self._auth is not None and domain in self._lists:
            self._auth.configure_curve_callback(domain, _DomainProvider(self, domain))

    def has_domain(self, domain: str) -> bool:
        """Whether `domain` has an allow list yet (a socket may then supply a default)."""
        return domain in self._lists

    def rights(self, domain: str, public: bytes) -> frozenset[str] | None:
        """The rights of `public` (z85 or raw) on `domain`; None if the key is not listed."""
        try:
            key = _z85_key(public)
        except ValueError:
            return None
        return self._lists.get(domain, {}).get(key)

    def rights_for_user_id(self, domain: str, user_id: str | None) -> frozenset[str] | None:
        """Rights from a frame's ZAP User-Id (the z85 client key)."""
        if not user_id:
            return None
        return self.rights(domain, user_id.encode("ascii", "replace"))

    def _check(self, domain: str, key: bytes) -> bool:
        if key in self._lists.get(domain, {}):
            return True
        self.report_rejected(domain, key)
        return domain in self._admit_unknown

    def report_rejected(self, domain: str, key: bytes) -> None:
        """Log a refused key (WARNING), at most once per REJECT_LOG_INTERVAL per key."""
        now = time.monotonic()
        with self._lock:
            last = self._last_reject.get((domain, key))
            if last is not None and now - last < REJECT_LOG_INTERVAL:
                return
            self._last_reject[(domain, key)] = now
            if len(self._last_reject) > 10_000:
                self._last_reject.clear()
        log.warning("rejected CURVE client key %s on %s",
                    key.decode("ascii", "replace"), domain)


def curve_server(sock: zmq.Socket, keys: CurveKeys, domain: str) -> None:
    """Make `sock` a CURVE server checked against ZAP `domain` (call before bind)."""
    sock.curve_secretkey = keys.secret
    sock.curve_publickey = keys.public
    sock.zap_domain = domain.encode()
    sock.curve_server = True


def curve_client(sock: zmq.Socket, keys: CurveKeys, server_public: bytes) -> None:
    """Make `sock` a CURVE client of the server holding `server_public` (before connect)."""
    sock.curve_secretkey = keys.secret
    sock.curve_publickey = keys.public
    sock.curve_serverkey = _z85_key(server_public)
