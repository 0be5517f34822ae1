"""Promotion of a whole store at once: PROMOTION_RULES as set-based SQL.

A switchover must not wait for 150,000 shadows to be promoted one round trip at a time:
the rules go into a temporary table, one join picks each shadow's action, and one
statement per action changes every shadow it picks (about a second for 150,000).
"""
from __future__ import annotations

import sqlite3

from . import rows
from .model import InteractionType, QueueKind, State
from .recovery import PROMOTION_RULES, PromotionAction, PromotionResult

#: Enum members by value: a dict lookup is several times cheaper than calling the enum,
#: which counts at 150,000 rows.
_TYPES = {t.value: t for t in InteractionType}
_ACTIONS = {a.value: a for a in PromotionAction}
_STATES = {s.value: s for s in State}
_KINDS = {k.value: k for k in QueueKind}

_PICKED = "key IN (SELECT key FROM temp.promoted WHERE action = '{}')"


def promote_rows(db: sqlite3.Connection) -> list[PromotionResult]:
    """Applies PROMOTION_RULES to every row, inside the caller's transaction.

    Leaves `temp.promoted (key, action)` for the caller, which forgets the CLOSE-d rows
    (with their lines and files), rebuilds the gauges and drops the table. Every row's
    `seqno` goes up by one; CLOSE-d rows are counted in their queue's closed total.
    """
    db.execute("CREATE TEMP TABLE IF NOT EXISTS promotion_rules "
               "(type TEXT, state TEXT, queue_kind TEXT, action TEXT, "
               "PRIMARY KEY (type, state, queue_kind)) WITHOUT ROWID")
    db.execute("DELETE FROM temp.promotion_rules")
    db.executemany("INSERT INTO temp.promotion_rules VALUES (?, ?, ?, ?)",
                   [(t.value, s.value, k.value, a.value)
                    for (t, s, k), a in PROMOTION_RULES.items()])
    db.execute("DROP TABLE IF EXISTS temp.promoted")
    db.execute("CREATE TEMP TABLE promoted (key TEXT PRIMARY KEY, action TEXT) WITHOUT ROWID")
    db.execute("INSERT INTO temp.promoted SELECT i.key, r.action FROM interactions i "
               "JOIN temp.promotion_rules r USING (type, state, queue_kind)")
    db.execute("UPDATE interactions SET seqno = seqno + 1")
    db.execute("UPDATE interactions SET state = 'queued', agent = NULL WHERE "
               + _PICKED.format(PromotionAction.REQUEUE.value))
    # Offered to an agent: back to its last workgroup; one that never had a workgroup
    # (sent straight to the agent) stays offered to that agent.
    db.execute("UPDATE interactions SET state = 'queued', queue_kind = 'workgroup', "
               "queue = workgroup, agent = NULL WHERE workgroup IS NOT NULL AND "
               + _PICKED.format(PromotionAction.REQUEUE_WORKGROUP.value))
    closing = _PICKED.format(PromotionAction.CLOSE.value)
    db.execute(f"INSERT INTO stats SELECT queue_kind, queue, type, '{rows.CLOSED}', count(*) "
               f"FROM interactions WHERE {closing} GROUP BY 1, 2, 3 "
               "ON CONFLICT DO UPDATE SET n = n + excluded.n")
    close = PromotionAction.CLOSE.value
    return [
        PromotionResult(
            key=key, type=_TYPES[type_], action=_ACTIONS[action],
            state=State.CLOSED if action == close else _STATES[state],
            queue_kind=_KINDS[kind], queue=queue, agent=agent, seqno=seqno,
        )
        for key, type_, action, state, kind, queue, agent, seqno in db.execute(
            "SELECT i.key, i.type, p.action, i.state, i.queue_kind, i.queue, i.agent, i.seqno "
            "FROM temp.promoted p JOIN interactions i USING (key) ORDER BY i.key")
    ]
