"""The parameters switchover adds beyond the reference ("project extension").

Each one is a behaviour the reference does not have (a witness, a fence policy,
synchronous DS replication, rejoining by itself) or a limit the reference keeps out of
sight (the initial mirror's timeout, in the registry); the defaults keep the
reference's behaviour, and each description says what differs.
"""
from __future__ import annotations

from functools import partial

from switchover.params_spec import CHOSEN, ParamSpec, catalogued

EXTENSION = "project extension"
_extension = partial(catalogued, section=EXTENSION)

#: The extensions, listed after the reference's own sections.
EXTENSION_SPECS: tuple[ParamSpec, ...] = (
    _extension(
        "Switchover Auto Rejoin", "bool", "No",
        "Beyond the reference: Yes or 1 makes a stale (inactive) server rejoin as backup by "
        "itself, with a full resynchronisation, once its peer answers as a healthy active; "
        "No or 0 (the default, the reference's behaviour) keeps it stale until an operator "
        "runs `switchover rejoin` or restarts it.",
        dynamic=True,
    ),
    _extension(
        "Switchover Initial Mirror Timeout", "seconds", 600,
        "The maximum start-up time allowed for copying InitialMirrorDir on the backup; if "
        "the copy does not finish in time the backup does not start. The reference keeps "
        "this limit in the registry; switchover makes it a parameter so it is visible and "
        "replicated. (Range chosen by switchover: 1..86400.)",
        minimum=1, maximum=86400,
        range_note=CHOSEN + "at least a second, at most a day",
    ),
    _extension(
        "Switchover Synchronous DS Replication", "bool", "No",
        "When Yes, a DS change on the active is acknowledged only after the backup has "
        "applied it (bounded by Switchover Synchronous DS Timeout), so no acknowledged change "
        "is lost in a switchover. The reference replicates asynchronously; this is the "
        "opt-in for operators who prefer safety to latency.",
    ),
    _extension(
        "Switchover Synchronous DS Timeout", "seconds", 5,
        "With Switchover Synchronous DS Replication, how long the active waits for the "
        "backup's acknowledgement before it commits anyway and reports the backup as lagging, "
        "so a slow backup never stops the active. (Range chosen by switchover: 1..60.)",
        minimum=1, maximum=60,
        range_note=CHOSEN + "the reference has no such parameter",
    ),
    _extension(
        "Switchover Witness Lease TTL", "seconds", 10,
        "With a [witness] configured, the lifetime of the etcd lease under which the active "
        "holds the pair's key, the right to be active. The active renews the lease every "
        "third of this time and counts the key lost two thirds of it after its last "
        "confirmed renewal, leaving a third before the backup can take the key: it asks its "
        "peer and demotes itself unless the peer answers within a third of that, so its "
        "discontinue hooks have the rest. A backup that has decided to switch waits at most this long for a dead "
        "active's key. (Range chosen by switchover: 5..120.)",
        minimum=5, maximum=120,
        range_note=CHOSEN + "at least 5 so that a renewal outlasts an etcd leader election "
        "(about 1 s) with two retries to spare; at most 120 so that the witness never delays "
        "a host-loss switchover by more than twice the reference's 'around 70 seconds'",
    ),
    _extension(
        "Switchover Fence Policy", "choice", "Require",
        "Beyond the reference: what a failed `[hooks] fence` means. The fence runs on the "
        "server about to become active, before its commence hooks, when the old active was "
        "lost rather than told to stop (an automatic switch after Loss of Connection to "
        "Notifier, or `switchover switch --force`). Require (the default) stops the switch "
        "when a fence command fails or times out: the old active may still be serving, and "
        "two actives are worse than none; the reason is in status and the event log. Best "
        "Effort switches anyway, with a warning that both servers may be active. Without "
        "`[hooks] fence` this parameter does nothing.",
        dynamic=True, choices=("Require", "Best Effort"),
    ),
)
