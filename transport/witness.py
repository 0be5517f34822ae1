"""The witness's store: one key under a lease in etcd, through etcd's v3 JSON gateway.

The key is the right to be active. Whoever creates it, in a transaction that succeeds
only while the key is absent, holds it for as long as it keeps the key's lease alive;
nobody ever overwrites another holder's key. `EtcdWitness` is synchronous and blocking:
every call is bounded by the timeout it was built with and either returns or raises
:class:`WitnessError`, so its owner (a worker thread, never an actor's handler) knows
within that bound whether etcd answered.

`etcd3gw` speaks the gateway over plain HTTP(S) with `requests`, which suits a worker
thread better than a gRPC client with its own threads and event loop. It has no
user/password login, so :meth:`EtcdWitness._login` calls `/auth/authenticate` itself
and sends the token the way the gateway expects it (an `Authorization` header). Endpoints
are tried in turn within one call's time budget, starting with the last that answered,
so a stopped member of a cluster costs a refused connection and a hung one a share of
the budget, never the whole call.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any, Sequence
from urllib.parse import urlsplit

import orjson
import requests
from etcd3gw import Etcd3Client
from etcd3gw.exceptions import (
    ConnectionFailedError,
    ConnectionTimeoutError,
    Etcd3Exception,
    InternalServerError,
)
from etcd3gw.utils import _decode, _encode

__all__ = ["AcquireResult", "EtcdWitness", "Holder", "WitnessError", "holder_key"]

#: The gateway path of etcd >= 3.4 (Debian ships 3.4); fixed, so no discovery round trip.
API_PATH = "/v3/"


class WitnessError(Exception):
    """etcd could not be reached or refused the request; the message says which and why."""


@dataclass(frozen=True)
class Holder:
    """Who holds the key: a server's name and the generation it was active in."""

    server: str
    generation: int

    def encode(self) -> bytes:
        return orjson.dumps({"server": self.server, "generation": self.generation})

    @classmethod
    def decode(cls, raw: bytes) -> Holder:
        """The holder a key's value names; a value nobody of ours wrote still names someone."""
        try:
            data = orjson.loads(raw)
            return cls(str(data["server"]), int(data["generation"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return cls(raw.decode("utf-8", "replace")[:80], -1)

    def __str__(self) -> str:
        return f"{self.server} (generation {self.generation})"


@dataclass(frozen=True)
class AcquireResult:
    """`lease` and `ttl` (seconds etcd granted) when the key was taken, else who holds it
    and, when etcd said, in how many (whole) seconds the holder's lease runs out unless
    it is renewed."""

    acquired: bool
    lease: int = 0
    ttl: int = 0
    holder: Holder | None = None
    expires_in: float | None = None


def holder_key(prefix: str) -> str:
    """The pair's key under its prefix: one etcd serves many pairs, one key each."""
    return prefix.rstrip("/") + "/active"


class EtcdWitness:
    """Blocking operations on the pair's key; use it from one thread only (see module doc)."""

    def __init__(
        self,
        endpoints: Sequence[str],
        prefix: str,
        *,
        timeout: float,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        user: str | None = None,
        password: str | None = None,
    ) -> None:
        if not endpoints:
            raise ValueError("at least one etcd endpoint is required")
        self.key = holder_key(prefix)
        self.timeout = timeout
        self._credentials = (user, password) if user is not None else None
        self._session = requests.Session()
        # Not the environment's proxies or CA bundle: REQUESTS_CA_BUNDLE would silently
        # replace `ca_file`, and a proxy would put a fourth party between us and etcd.
        self._session.trust_env = False
        if ca_file is not None:
            self._session.verify = ca_file
        if cert_file is not None and key_file is not None:
            self._session.cert = (cert_file, key_file)
        self._clients = [self._client(url) for url in endpoints]
        self._current = 0
        self._token: str | None = None

    def _client(self, url: str) -> Etcd3Client:
        parts = urlsplit(url)
        return Etcd3Client(
            host=parts.hostname or "", port=parts.port or 2379, protocol=parts.scheme,
            api_path=API_PATH, session=self._session,
        )

    # --- operations -----------------------------------------------------------------

    def acquire(self, holder: Holder, ttl: int) -> AcquireResult:
        """Grant a lease, then create the key under it if absent, in one transaction.

        When someone else holds the key the fresh lease is revoked at once (best effort:
        it holds nothing and would expire by itself) and the holder is returned, with the
        time its lease has left, so that a candidate can try again just after it ends.
        """
        granted = self._post("/lease/grant", {"TTL": ttl, "ID": 0})
        lease, ttl_granted = int(granted["ID"]), int(granted["TTL"])
        key = _encode(self.key)
        reply = self._post("/kv/txn", {
            "compare": [{"key": key, "result": "EQUAL", "target": "CREATE",
                         "create_revision": 0}],
            "success": [{"request_put": {"key": key, "value": _encode(holder.encode()),
                                         "lease": lease}}],
            "failure": [{"request_range": {"key": key}}],
        })
        if reply.get("succeeded"):
            return AcquireResult(True, lease=lease, ttl=ttl_granted, holder=holder)
        try:
            self._post("/kv/lease/revoke", {"ID": lease})
        except WitnessError:
            pass
        kvs = reply.get("responses", [{}])[0].get("response_range", {}).get("kvs", [])
        if not kvs:
            return AcquireResult(False)
        return AcquireResult(False, holder=Holder.decode(_decode(kvs[0]["value"])),
                             expires_in=self._time_to_live(int(kvs[0].get("lease", 0))))

    def _time_to_live(self, lease: int) -> float | None:
        """Seconds etcd still gives `lease` (0 once it expired); None when unknown."""
        if not lease:
            return None
        try:
            reply = self._post("/kv/lease/timetolive", {"ID": lease})
        except WitnessError:
            return None  # best effort: the candidate then tries again at its usual pace
        return float(max(0, int(reply.get("TTL", -1))))

    def keep_alive(self, lease: int) -> int:
        """Renew `lease`; the TTL etcd restarted it with, or 0 when the lease is gone."""
        reply = self._post("/lease/keepalive", {"ID": lease})
        return max(0, int(reply.get("result", {}).get("TTL", 0)))

    def read(self) -> tuple[Holder | None, int]:
        """Who holds the key, and under which lease (0 when nobody does)."""
        reply = self._post("/kv/range", {"key": _encode(self.key)})
        kvs = reply.get("kvs", [])
        if not kvs:
            return None, 0
        return Holder.decode(_decode(kvs[0]["value"])), int(kvs[0].get("lease", 0))

    def release(self, lease: int) -> None:
        """Revoke `lease`: the key goes with it, at once, for whoever waits to take it."""
        self._post("/kv/lease/revoke", {"ID": lease})

    def close(self) -> None:
        self._session.close()

    # --- requests -------------------------------------------------------------------

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST to the first endpoint that answers within the call's time budget.

        Each endpoint not yet tried gets an equal share of what remains, so one member
        that accepts connections and never answers cannot eat the whole budget; the
        next call starts with the endpoint that answered.
        """
        deadline = time.monotonic() + self.timeout
        errors: list[str] = []
        count, start = len(self._clients), self._current
        for step in range(count):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            index = (start + step) % count
            client = self._clients[index]
            try:
                result = self._attempt(client, path, body, remaining / (count - step))
            except (ConnectionFailedError, ConnectionTimeoutError, InternalServerError) as exc:
                errors.append(f"{client.base_url} {_reason(exc)}")
                continue
            except Etcd3Exception as exc:
                raise WitnessError(f"etcd at {client.base_url} refused {path}: "
                                   f"{_reason(exc)}") from exc
            self._current = index
            return result
        tried = "; ".join(errors) or f"no answer within {self.timeout:g} s"
        raise WitnessError(f"etcd unreachable: {tried}")

    def _attempt(self, client: Etcd3Client, path: str, body: dict, timeout: float) -> dict:
        client.timeout = timeout
        if self._credentials is not None and self._token is None:
            self._login(client)
        try:
            return client.post(client.get_url(path), json=body)
        except Etcd3Exception as exc:
            if self._credentials is None or "token" not in _reason(exc).lower():
                raise
            self._token = None  # expired: log in again, once
            self._login(client)
            return client.post(client.get_url(path), json=body)

    def _login(self, client: Etcd3Client) -> None:
        user, password = self._credentials or ("", "")
        self._session.headers.pop("Authorization", None)
        reply = client.post(client.get_url("/auth/authenticate"),
                            json={"name": user, "password": password})
        self._token = str(reply["token"])
        self._session.headers["Authorization"] = self._token


def _reason(exc: Etcd3Exception) -> str:
    """The words etcd or the socket gave, without urllib3's wrapping of them."""
    text = " ".join(str(exc.detail_text or exc or type(exc).__name__).split())
    if isinstance(exc, ConnectionTimeoutError) or "timed out" in text:
        return "timed out"
    tls = _TLS.search(text)
    if tls:
        return f"TLS: {tls.group(1)}"
    errno = _ERRNO.search(text)
    if errno:
        return errno.group(1)
    try:
        return str(orjson.loads(text).get("error", text))[:200]
    except (orjson.JSONDecodeError, AttributeError):
        return text[:200]


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")
_TLS = re.compile(r"SSL\w*Error\(\d+, '([^']+)'")
