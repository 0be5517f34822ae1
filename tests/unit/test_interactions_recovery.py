"""Enablement, the mail filter, promotion rules, seqno and duration: all pure."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest

from switchover.replication.interactions.model import (
    Assign,
    CallbackDetails,
    Create,
    EmailContent,
    Interaction,
    InteractionType,
    QueueKind,
    Requeue,
    State,
    UpdateState,
    apply,
    dumps,
    interaction_loads,
)
from switchover.replication.interactions.recovery import (
    PROMOTION_RULES,
    EnabledTypes,
    PromotionAction,
    RecoveryParamError,
    duration,
    mail_filter_from_params,
    outbound,
    parameter_on,
    plan_settings_change,
    promote_one,
    shadowable,
    time_in_queue,
)

E = InteractionType.EMAIL


def at(hour: int) -> float:
    return datetime(2024, 3, 4, hour, 0, tzinfo=timezone.utc).timestamp()


def make(type_: InteractionType, state: State = State.QUEUED,
         kind: QueueKind = QueueKind.WORKGROUP, key: str = "1001", **kw) -> Interaction:
    content: dict = {}
    if type_ is E:
        content["email"] = EmailContent(subject="s", body_html="<p>b</p>")
    if type_ is InteractionType.CALLBACK:
        content["callback"] = CallbackDetails(number="+1555", requested_at=at(5))
    user = kind is QueueKind.USER
    fields = dict(key=key, type=type_, state=state, queue_kind=kind,
                  queue="alice" if user else "Support", agent="alice" if user else None,
                  workgroup="Support", created_at=at(5), queued_at=at(5))
    fields.update(content)
    fields.update(kw)
    return Interaction(**fields)


# --- enablement -----------------------------------------------------------------------


@pytest.mark.parametrize("value,on", [
    (1, True), ("1", True), ("Yes", True), ("yes", True), (2, True), ("-3", True),
    (" 7 ", True), (True, True), (0, False), ("0", False), ("No", False), ("Off", False),
    ("", False), (None, False),
])
def test_parameter_values(value, on: bool) -> None:
    assert parameter_on({"Chat Interaction Recovery Enabled": value},
                        "Chat Interaction Recovery Enabled") is on


def test_bad_value_names_the_parameter() -> None:
    with pytest.raises(RecoveryParamError, match="SMS Interaction Recovery Enabled"):
        EnabledTypes.from_params({"SMS Interaction Recovery Enabled": "maybe"})


def test_every_type_has_its_parameter_and_defaults_off() -> None:
    assert not EnabledTypes.from_params({})
    params = {
        "mail interaction recovery enabled": 1,  # names are case-insensitive
        "Chat Interaction Recovery Enabled": "Yes",
        "Callback Interaction Recovery Enabled": 1,
        "SMS Interaction Recovery Enabled": "1",
        "Socialconversation Interaction Recovery Enabled": 5,
        "Directmessage Interaction Recovery Enabled": "-1",
    }
    assert EnabledTypes.from_params(params) == EnabledTypes.all()
    params["Chat Interaction Recovery Enabled"] = "No"
    assert InteractionType.CHAT not in EnabledTypes.from_params(params)


def test_mail_filter_needs_mail_recovery() -> None:
    assert not mail_filter_from_params({"Mail Interaction Recovery Filter Enabled": 1})
    assert mail_filter_from_params({"Mail Interaction Recovery Filter Enabled": 1,
                                    "Mail Interaction Recovery Enabled": 1})


def test_settings_change_plan() -> None:
    old, new = EnabledTypes.of(E, InteractionType.CHAT), EnabledTypes.of(E, InteractionType.SMS)
    plan = plan_settings_change(old, False, new, True)
    assert plan.full_sync == {InteractionType.SMS}
    assert plan.drop == {InteractionType.CHAT}
    assert plan.resync_email
    assert plan_settings_change(new, True, new, True).nothing
    assert not plan_settings_change(EnabledTypes(), False, new, True).resync_email


# --- the mail filter ------------------------------------------------------------------


def test_filter_shadows_only_emails_that_reached_an_agent_and_keeps_them() -> None:
    enabled = EnabledTypes.of(E, InteractionType.CHAT)
    email = make(E)
    assert shadowable(email, enabled, mail_filter=False)
    assert not shadowable(email, enabled, mail_filter=True)
    assert shadowable(make(InteractionType.CHAT), enabled, mail_filter=True)
    assert not shadowable(make(InteractionType.SMS), enabled, mail_filter=False)
    assigned = apply(email, Assign(type=E, key=email.key, agent="alice"))
    assert shadowable(assigned, enabled, mail_filter=True)
    working = apply(assigned, UpdateState(type=E, key=email.key, state=State.CONNECTED))
    transferred = apply(working, Requeue(type=E, key=email.key,
                                         queue_kind=QueueKind.WORKGROUP, queue="Billing"))
    assert shadowable(transferred, enabled, mail_filter=True)


def test_outbound_sends_the_whole_email_when_it_becomes_shadowable() -> None:
    enabled = EnabledTypes.of(E)
    email = make(E)
    create = Create.of(email, seq=1)
    assert outbound(None, email, create, enabled, mail_filter=True) is None
    assert outbound(None, email, create, enabled, mail_filter=False) is create
    op = Assign(type=E, key=email.key, seq=2, at=at(6), agent="alice")
    assigned = apply(email, op)
    sent = outbound(email, assigned, op, enabled, mail_filter=True)
    assert isinstance(sent, Create) and sent.seq == 2 and sent.interaction == assigned
    assert sent.interaction.created_at == at(5)
    op3 = Requeue(type=E, key=email.key, seq=3, queue_kind=QueueKind.WORKGROUP, queue="B")
    assert outbound(assigned, apply(assigned, op3), op3, enabled, mail_filter=True) is op3
    assert outbound(None, email, create, EnabledTypes(), mail_filter=False) is None


# --- promotion ------------------------------------------------------------------------

# Written out independently of the module's table, so a change to either shows here.
EXPECTED = {
    (State.CONNECTED, QueueKind.USER): PromotionAction.KEEP,
    (State.CONNECTED, QueueKind.WORKGROUP): PromotionAction.KEEP,
    (State.HELD, QueueKind.USER): PromotionAction.KEEP,
    (State.HELD, QueueKind.WORKGROUP): PromotionAction.KEEP,
    (State.QUEUED, QueueKind.USER): PromotionAction.KEEP,
    (State.QUEUED, QueueKind.WORKGROUP): PromotionAction.REQUEUE,
    (State.OFFERING, QueueKind.WORKGROUP): PromotionAction.REQUEUE,
    (State.OFFERING, QueueKind.USER): PromotionAction.REQUEUE_WORKGROUP,
    (State.DISCONNECTED, QueueKind.USER): PromotionAction.CLOSE,
    (State.DISCONNECTED, QueueKind.WORKGROUP): PromotionAction.CLOSE,
    (State.CLOSED, QueueKind.USER): PromotionAction.CLOSE,
    (State.CLOSED, QueueKind.WORKGROUP): PromotionAction.CLOSE,
}
CASES = [(t, s, k) for t in InteractionType for s in State for k in QueueKind]


def test_the_table_covers_every_type_state_and_queue_kind() -> None:
    assert set(PROMOTION_RULES) == set(CASES)


@pytest.mark.parametrize("type_,state,kind", CASES, ids=lambda v: str(v))
def test_promotion_rule(type_: InteractionType, state: State, kind: QueueKind) -> None:
    action = EXPECTED[(state, kind)]
    assert PROMOTION_RULES[(type_, state, kind)] is action
    before = make(type_, state, kind)
    after, result = promote_one(before)
    assert result.action is action and result.key == before.key == after.key
    assert after.seqno == result.seqno == 1
    assert after.created_at == before.created_at
    if action is PromotionAction.KEEP:
        assert after == replace(before, seqno=1)
    elif action is PromotionAction.REQUEUE:
        assert (after.state, after.queue_kind, after.queue, after.agent) == (
            State.QUEUED, QueueKind.WORKGROUP, "Support", None)
    elif action is PromotionAction.REQUEUE_WORKGROUP:
        assert (after.state, after.queue_kind, after.queue, after.agent) == (
            State.QUEUED, QueueKind.WORKGROUP, "Support", None)
    else:
        assert after.state is State.CLOSED
    assert (result.state, result.queue_kind, result.queue) == (
        after.state, after.queue_kind, after.queue)


def test_offered_to_an_agent_without_a_workgroup_stays_offered() -> None:
    direct = make(InteractionType.CHAT, State.OFFERING, QueueKind.USER, workgroup=None)
    after, result = promote_one(direct)
    assert result.action is PromotionAction.REQUEUE_WORKGROUP
    assert (after.state, after.queue_kind, after.agent) == (
        State.OFFERING, QueueKind.USER, "alice")


def test_seqno_counts_each_switchover_and_the_key_is_kept() -> None:
    chat = make(InteractionType.CHAT, State.CONNECTED, QueueKind.USER)
    first, _ = promote_one(chat)
    second, result = promote_one(interaction_loads(dumps(first)))  # re-shadowed by a sync
    assert (chat.seqno, first.seqno, second.seqno, result.seqno) == (0, 1, 2, 2)
    assert second.key == chat.key


# --- duration -------------------------------------------------------------------------


def test_duration_survives_two_switchovers() -> None:
    """The reference's example: 5 AM created, 6 AM switch, 7 AM pair restored, 8 AM switch."""
    active1 = make(E, State.CONNECTED, QueueKind.USER)  # created 5 AM
    shadow1 = interaction_loads(dumps(active1))  # shadowed at 5 AM
    active2, _ = promote_one(shadow1)  # switchover at 6 AM
    shadow2 = interaction_loads(dumps(active2))  # pair restored at 7 AM: a fresh shadow
    active3, _ = promote_one(shadow2)  # switchover at 8 AM
    assert duration(active3, now=at(8)) == 3 * 3600  # not 1 hour
    assert duration(active2, now=at(6)) == 3600
    assert time_in_queue(active3, now=at(8)) == 3 * 3600
    assert active3.seqno == 2
    assert duration(active3, now=at(4)) == 0.0
