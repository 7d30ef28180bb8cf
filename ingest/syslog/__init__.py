"""Syslog receiver: UDP, TCP and TLS (RFC 5425), RFC 3164 and RFC 5424 messages, newline or
octet-counted framing (RFC 6587) detected per connection. See `ingest.syslog.receiver`."""
