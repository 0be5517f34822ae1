"""File mirroring without sockets: specs, manifests, chunked reading, the backup's applier.

`spec` says what is mirrored when, `manifest` compares two trees, `chunks` reads one
consistent version of a file for the transport, `applier` makes the backup's copy change
atomically. The FileMonitor actor and the transport build on these; see docs/files.md.
"""
