"""Which replication services a host runs, in start order (stopped in reverse)."""
from __future__ import annotations

from typing import Callable

from switchover.replication.ds.service import DSService
from switchover.replication.files.service import FileService
from switchover.replication.interactions.service import InteractionService
from switchover.replication.service import ReplicationService, ServiceContext

#: Factories taking the host's ServiceContext; each builds one service.
SERVICES: tuple[Callable[[ServiceContext], ReplicationService], ...] = (
    DSService,
    FileService,
    InteractionService,
)
