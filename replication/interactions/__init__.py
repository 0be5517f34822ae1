"""Interaction recovery: shadows of the active's live interactions, kept on the backup.

`model` says what an interaction is and how operations change it; `recovery` what is
shadowed and what a shadow becomes at a switchover; `store` keeps them in SQLite on both
hosts. The InteractionRecovery actor and the network use these and nothing below them.
"""
from .model import (
    AppendMessage,
    Assign,
    Attachment,
    CallbackDetails,
    Close,
    Create,
    EmailContent,
    EmailDraft,
    Interaction,
    InteractionType,
    InvalidOperation,
    LineKind,
    Op,
    QueueKind,
    Requeue,
    SaveDraft,
    State,
    TranscriptLine,
    UpdateState,
    apply,
    dumps,
    interaction_loads,
    op_loads,
)
from .recovery import (
    PROMOTION_RULES,
    EnabledTypes,
    PromotionAction,
    PromotionResult,
    RecoveryParamError,
    SettingsChange,
    duration,
    mail_filter_from_params,
    outbound,
    plan_settings_change,
    promote_one,
    shadowable,
    time_in_queue,
)
from .rows import SnapshotHeader, SnapshotRecord, StatKey, snapshot_frames, snapshot_item
from .store import InteractionStore

__all__ = [
    "AppendMessage", "Assign", "Attachment", "CallbackDetails", "Close", "Create",
    "EmailContent", "EmailDraft", "Interaction", "InteractionType", "InvalidOperation",
    "LineKind", "Op", "QueueKind", "Requeue", "SaveDraft", "State", "TranscriptLine",
    "UpdateState", "apply", "dumps", "interaction_loads", "op_loads",
    "PROMOTION_RULES", "EnabledTypes", "PromotionAction", "PromotionResult",
    "RecoveryParamError", "SettingsChange", "duration", "mail_filter_from_params",
    "outbound", "plan_settings_change", "promote_one", "shadowable", "time_in_queue",
    "SnapshotHeader", "SnapshotRecord", "StatKey", "snapshot_frames", "snapshot_item",
    "InteractionStore",
]
