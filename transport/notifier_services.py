"""The in-process services behind the Notifier: the host's actors answering requests.

A service handler runs on the notifier thread and must not block, so it gets a `reply`
it may call once, later, from any thread (a job's result, an actor's answer). This
module keeps that contract: one reply per request, and a handler's failure or an
unsendable body answered as an error instead of leaving the requester to time out.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Mapping, Sequence

from .envelope import Envelope, EnvelopeError, encode

log = logging.getLogger("NotifierLib")

Reply = Callable[..., None]
ServiceHandler = Callable[[Envelope, tuple[bytes, ...], Reply], None]


def once_reply(env: Envelope, ident: bytes, deliver: Callable[[list[bytes]], None]) -> Reply:
    """The `reply(status="ok", body=None, bulk=())` of one request; a second call is
    ignored with a warning."""
    once = [True]

    def reply(status: str = "ok", body: Mapping[str, Any] | None = None,
              bulk: Sequence[bytes] = ()) -> None:
        try:
            once.pop()
        except IndexError:
            log.warning("second reply to %s RI[%d] ignored", env.eid, env.req_id)
            return
        resp = env.reply(status, body)
        try:
            frames = [ident, *encode(resp, bulk)]
        except (EnvelopeError, TypeError) as exc:
            log.warning("response to %s RI[%d] cannot be sent: %s", env.eid, env.req_id, exc)
            frames = [ident, *encode(env.reply("error", {"reason": str(exc)}))]
        deliver(frames)

    return reply


def serve(name: str, handler: ServiceHandler, env: Envelope, bulk: tuple[bytes, ...],
          reply: Reply) -> None:
    """Run service `name`'s handler; its exception becomes an error reply."""
    try:
        handler(env, bulk, reply)
    except Exception as exc:
        log.exception("service %s failed on %s", name, env.eid)
        reply("error", {"reason": f"{type(exc).__name__}: {exc}"})
