"""`socpipe ship`: a file-tailing shipper for hosts with no agent, and `--once` evidence import.

    tail (globs, rotation, truncation) -> spool segment on disk (fsync) -> checkpoint (atomic)
                                                   |
    sender thread: oldest segment -> POST /ingest/v1/records (gzip) -> 202 -> delete segment

Reading and sending are decoupled by the spool, so an unreachable intake (or a 503) costs
nothing but disk: files keep being read (also the ones logrotate is about to delete) and the
sender resends with backoff. Every record carries a shipper record id, so a resend after a crash
anywhere in this chain is a duplicate the pipeline recognises, never a second event.
"""
