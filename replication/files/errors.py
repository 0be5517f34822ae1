"""What the applier refuses, as distinct types, so the FileMonitor can react to each.

`MissingSource` asks for a resend, `Superseded` is routine (a later operation won),
`OutsideMirror` and `SymlinkRefused` are logged as refusals, `VerifyError` retransmits.
"""
from __future__ import annotations


class ApplyError(Exception):
    """An operation the applier refused or could not do; the message names the path."""


class OutsideMirror(ApplyError):
    """The path is not in a mirrored directory (or is excluded, or climbs with `..`)."""


class SymlinkRefused(ApplyError):
    """A symlink lies on the way to the path; the applier never writes through one."""


class Superseded(ApplyError):
    """A later operation on the same path replaced this transfer."""


class VerifyError(ApplyError):
    """Size or sha256 did not match what the sender announced."""


class MissingSource(ApplyError):
    """A rename's source is not on the backup: the caller should resend the file."""
