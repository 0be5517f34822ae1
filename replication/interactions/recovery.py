"""What is shadowed, and what a shadow becomes when its backup turns active. Pure.

Three decisions the reference leaves to the Interaction Recovery Service, kept as data so
the actor, the store and the tests read the same answer:

- enablement: the "... Interaction Recovery Enabled" server parameters, one per type;
- the mail filter ("Mail Interaction Recovery Filter Enabled"): only emails that have been
  on an agent's queue are shadowed, and they stay shadowed from then on;
- promotion: `PROMOTION_RULES[(type, state, queue kind)]` says what each shadow does when
  the switchover makes it the live interaction.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Iterator, Mapping

from .model import (
    Create,
    Interaction,
    InteractionType,
    Op,
    QueueKind,
    State,
)

#: The reference's parameter name for each type ("Optional Switchover Server parameters").
PARAMETERS: dict[InteractionType, str] = {
    InteractionType.EMAIL: "Mail Interaction Recovery Enabled",
    InteractionType.CHAT: "Chat Interaction Recovery Enabled",
    InteractionType.CALLBACK: "Callback Interaction Recovery Enabled",
    InteractionType.SMS: "SMS Interaction Recovery Enabled",
    InteractionType.SOCIAL_CONVERSATION: "Socialconversation Interaction Recovery Enabled",
    InteractionType.DIRECT_MESSAGE: "Directmessage Interaction Recovery Enabled",
}
MAIL_FILTER_PARAMETER = "Mail Interaction Recovery Filter Enabled"

_TRUE_WORDS = frozenset({"yes", "on", "true"})
_FALSE_WORDS = frozenset({"", "no", "off", "false"})


class RecoveryParamError(ValueError):
    """A recovery parameter whose value is neither a number nor yes/no."""


def parameter_on(params: Mapping[str, Any], name: str) -> bool:
    """The reference's reading of a switch: 1, Yes or any non-zero integer is on.

    Absent means off (every recovery parameter defaults to "0 or Off"). Names compare
    case-insensitively, as Interaction Administrator's do.
    """
    wanted = name.casefold()
    value = next((v for k, v in params.items() if k.casefold() == wanted), None)
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return value != 0
    text = str(value).strip()
    if text.casefold() in _TRUE_WORDS:
        return True
    if text.casefold() in _FALSE_WORDS:
        return False
    try:
        return int(text) != 0
    except ValueError:
        raise RecoveryParamError(
            f"{name} = {value!r}: expected 1, Yes or any non-zero integer (on), 0 or No (off)"
        ) from None


@dataclass(frozen=True)
class EnabledTypes:
    """The interaction types whose shadows the backup keeps."""

    types: frozenset[InteractionType] = frozenset()

    def __contains__(self, item: object) -> bool:
        return item in self.types

    def __iter__(self) -> Iterator[InteractionType]:
        return iter(sorted(self.types))

    def __bool__(self) -> bool:
        return bool(self.types)

    @classmethod
    def of(cls, *types: InteractionType) -> EnabledTypes:
        return cls(frozenset(types))

    @classmethod
    def all(cls) -> EnabledTypes:
        return cls(frozenset(InteractionType))

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> EnabledTypes:
        return cls(frozenset(t for t, name in PARAMETERS.items() if parameter_on(params, name)))


def mail_filter_from_params(params: Mapping[str, Any]) -> bool:
    """The filter; it only has effect with email recovery on (the reference requires both)."""
    return parameter_on(params, MAIL_FILTER_PARAMETER) and parameter_on(
        params, PARAMETERS[InteractionType.EMAIL]
    )


def shadowable(interaction: Interaction, enabled: EnabledTypes, mail_filter: bool) -> bool:
    """Whether the backup keeps a shadow of `interaction`.

    With the mail filter on, an email is shadowed once it has been on an agent's queue,
    and stays shadowed while the agent works on it, a transfer to a workgroup included.
    One that never reached an agent queues from the mailbox again after a switchover.
    """
    if interaction.type not in enabled:
        return False
    if interaction.type is InteractionType.EMAIL and mail_filter:
        return interaction.assigned_once
    return True


def outbound(
    before: Interaction | None,
    after: Interaction,
    op: Op,
    enabled: EnabledTypes,
    mail_filter: bool,
) -> Op | None:
    """What the active sends its backup for `op`, which took `before` to `after`.

    Nothing while the interaction is not shadowable; when it becomes shadowable (a filtered
    email reaching an agent) the backup has never seen it, so it gets the whole interaction
    as a Create, carrying the original creation time. The op's sequence number is kept, so
    the stream stays ordered; the numbers it skips are the filtered-out changes.
    """
    if not shadowable(after, enabled, mail_filter):
        was = before is not None and shadowable(before, enabled, mail_filter)
        return op if was else None
    if isinstance(op, Create) or (before is not None and shadowable(before, enabled, mail_filter)):
        return op
    return Create.of(after, seq=op.seq, at=op.at)


@dataclass(frozen=True)
class SettingsChange:
    """What a change of recovery parameters asks of the backup's shadows."""

    full_sync: frozenset[InteractionType]  # newly enabled: full synchronisation
    drop: frozenset[InteractionType]  # newly disabled: forget the shadows
    resync_email: bool  # filter switched on or off: drop and re-synchronise email

    @property
    def nothing(self) -> bool:
        return not (self.full_sync or self.drop or self.resync_email)


def plan_settings_change(
    old: EnabledTypes, old_filter: bool, new: EnabledTypes, new_filter: bool
) -> SettingsChange:
    """The reference re-synchronises when a type is enabled and when the filter is."""
    full_sync = new.types - old.types
    email_kept = InteractionType.EMAIL in old and InteractionType.EMAIL in new
    return SettingsChange(
        full_sync=frozenset(full_sync),
        drop=frozenset(old.types - new.types),
        resync_email=email_kept and old_filter != new_filter,
    )


# --- promotion ------------------------------------------------------------------------


class PromotionAction(StrEnum):
    """What a shadow does when its backup becomes the active server."""

    KEEP = "keep"  # stays exactly as it was: the agent's client reconnects to it
    REQUEUE = "requeue"  # queued again on its own workgroup queue; ACD routes it anew
    REQUEUE_WORKGROUP = "requeue-workgroup"  # offered to an agent who may be gone: back to
    #                                          its last workgroup (kept if it never had one)
    CLOSE = "close"  # finishes its deallocation on the new active


_BY_STATE: dict[tuple[State, QueueKind], PromotionAction] = {
    # "interactions in a connected state on a user queue do not change"; "emails connected
    # to an agent remain connected"; chats and callbacks stay connected too.
    (State.CONNECTED, QueueKind.USER): PromotionAction.KEEP,
    # A conversation still going on a workgroup queue (a system or bot leg): nothing to redo.
    (State.CONNECTED, QueueKind.WORKGROUP): PromotionAction.KEEP,
    # The agent put it on hold: it waits for that agent, who reconnects to the new active.
    (State.HELD, QueueKind.USER): PromotionAction.KEEP,
    (State.HELD, QueueKind.WORKGROUP): PromotionAction.KEEP,
    # "ACD automatically reprocesses interactions in an offering state on a workgroup
    # queue"; "email interactions in queues are requeued"; callbacks "continue to be
    # routed". Waiting ones are requeued too: the old active's routing decision is gone.
    (State.OFFERING, QueueKind.WORKGROUP): PromotionAction.REQUEUE,
    (State.QUEUED, QueueKind.WORKGROUP): PromotionAction.REQUEUE,
    # Alerting an agent who may not come back: ACD offers it again from its workgroup.
    (State.OFFERING, QueueKind.USER): PromotionAction.REQUEUE_WORKGROUP,
    # Sitting in the agent's own queue (an email assigned but not yet opened): it stays his.
    (State.QUEUED, QueueKind.USER): PromotionAction.KEEP,
    # Disconnected but not deallocated: the conversation is over; finish the cleanup.
    (State.DISCONNECTED, QueueKind.USER): PromotionAction.CLOSE,
    (State.DISCONNECTED, QueueKind.WORKGROUP): PromotionAction.CLOSE,
    # A closed interaction is never stored; if one were, it would only be cleaned up.
    (State.CLOSED, QueueKind.USER): PromotionAction.CLOSE,
    (State.CLOSED, QueueKind.WORKGROUP): PromotionAction.CLOSE,
}

#: Every (type, state, queue kind). The rules are the same for every type: the types
#: differ in how their clients reconnect (chat web users never notice, the callback window
#: disappears and comes back), not in what the recovered interaction becomes.
PROMOTION_RULES: dict[tuple[InteractionType, State, QueueKind], PromotionAction] = {
    (t, state, kind): action
    for t in InteractionType
    for (state, kind), action in _BY_STATE.items()
}


@dataclass(frozen=True)
class PromotionResult:
    """One promoted interaction: what was done and where it ended up."""

    key: str
    type: InteractionType
    action: PromotionAction
    state: State
    queue_kind: QueueKind
    queue: str
    agent: str | None
    seqno: int


def promote_one(interaction: Interaction) -> tuple[Interaction, PromotionResult]:
    """The live interaction a shadow becomes, keeping its key, with `seqno` + 1.

    The reference gives recovered emails new ids; here every recovered interaction keeps
    its InteractionIdKey and counts the recovery in `seqno`, as its database rows do.
    """
    action = PROMOTION_RULES[(interaction.type, interaction.state, interaction.queue_kind)]
    after = replace(interaction, seqno=interaction.seqno + 1)
    if action is PromotionAction.REQUEUE:
        after = replace(after, state=State.QUEUED, agent=None)
    elif action is PromotionAction.REQUEUE_WORKGROUP and interaction.workgroup is not None:
        after = replace(after, state=State.QUEUED, queue_kind=QueueKind.WORKGROUP,
                        queue=interaction.workgroup, agent=None)
    elif action is PromotionAction.CLOSE:
        after = replace(after, state=State.CLOSED)
    return after, PromotionResult(
        key=after.key, type=after.type, action=action, state=after.state,
        queue_kind=after.queue_kind, queue=after.queue, agent=after.agent, seqno=after.seqno,
    )


# --- time -----------------------------------------------------------------------------


def duration(interaction: Interaction, now: float) -> float:
    """Seconds since the interaction first entered the system, across every switchover.

    The reference's shadows restart this clock ("A note about the loss of duration
    information"); ours carry the original `created_at`, so it never restarts.
    """
    return max(0.0, now - interaction.created_at)


def time_in_queue(interaction: Interaction, now: float) -> float:
    """Seconds since the interaction entered its current queue (kept across switchovers)."""
    return max(0.0, now - interaction.queued_at)
