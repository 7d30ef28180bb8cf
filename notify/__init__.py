"""The notify stage (issue 16): who must hear of an alert, what they are told, and when again.

A pure stage like the others (it depends on `soc_core` only): `NotifyStage.offer(alerts)` routes
each alert (`rules`), holds back floods and quiet-hour noise (`flood`), writes the Vietnamese early
warning (`text`, with a signed acknowledgement link from `ack`) and watches high and critical alerts
for their acknowledgement (`escalation`); `NotifyStage.tick()` releases digests and escalations
that fell due by the injected clock. `Dispatcher` hands the messages to channel adapters
(`notifiers/`) with retries, and turns what cannot be delivered into dead letters.
"""
