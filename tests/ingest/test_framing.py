"""Syslog framing (RFC 6587) and the token bucket: pure logic, exact results."""

from __future__ import annotations

import pytest

from ingest.ratelimit import RateLimiter
from ingest.syslog.framing import FrameDecoder, Framing, FramingError

RFC5424 = b"<165>1 2025-07-01T08:00:00.003+07:00 web01 sshd 4242 ID47 - Failed password for root"
RFC3164 = b"<38>Jul  1 08:00:00 web01 sshd[4242]: Accepted publickey for admin"


def octet(msg: bytes) -> bytes:
    return str(len(msg)).encode() + b" " + msg


def test_newline_framing_with_crlf_nul_and_a_last_line_without_lf() -> None:
    dec = FrameDecoder(1024)
    out = dec.feed(RFC5424 + b"\r\n" + RFC3164 + b"\x00" + b"<13>partial")
    assert dec.framing is Framing.LF
    assert out.messages == [RFC5424, RFC3164]
    assert dec.finish().messages == [b"<13>partial"]


def test_octet_counted_frames_split_anywhere_and_keep_embedded_newlines() -> None:
    multi = b"<13>1 - host app - - - line one\nline two"
    stream = octet(RFC5424) + octet(multi) + octet(RFC3164)
    for cut in range(1, len(stream)):
        dec = FrameDecoder(1024)
        got = dec.feed(stream[:cut]).messages + dec.feed(stream[cut:]).messages
        assert got == [RFC5424, multi, RFC3164], cut
        assert dec.framing is Framing.OCTET_COUNTED


def test_a_line_starting_with_digits_is_not_mistaken_for_octet_counting() -> None:
    dec = FrameDecoder(1024)
    assert dec.feed(b"2025-07-01 08:00:00 app started\n").messages == [b"2025-07-01 08:00:00 app started"]
    assert dec.framing is Framing.LF


def test_oversized_messages_are_skipped_whole_and_counted() -> None:
    dec = FrameDecoder(100)
    out = dec.feed(b"a" * 150 + b"\n<13>ok\n")
    assert (out.messages, out.oversized) == ([b"<13>ok"], 1)
    # a long line arriving in pieces is counted once and discarded up to its LF
    dec = FrameDecoder(100)
    first = dec.feed(b"<13>" + b"b" * 120)
    second = dec.feed(b"c" * 300)
    third = dec.feed(b"tail\n<13>next\n")
    assert first.oversized + second.oversized + third.oversized == 1
    assert third.messages == [b"<13>next"]
    # octet-counted: skipped by its declared length, the next frame is intact
    dec = FrameDecoder(100)
    big = b"<13>" + b"x" * 200
    out = dec.feed(octet(big)[:50])
    out2 = dec.feed(octet(big)[50:] + octet(RFC3164[:90]))
    assert out.oversized + out2.oversized == 1
    assert out2.messages == [RFC3164[:90]]


def test_a_broken_length_prefix_is_a_framing_error() -> None:
    dec = FrameDecoder(1024)
    dec.feed(octet(RFC3164))
    with pytest.raises(FramingError):
        dec.feed(b"abc <13>x")


def test_token_bucket_allows_the_burst_then_the_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=10, burst=20, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(20)] == [0.0] * 20
    assert limiter.take("a") > 0  # empty
    assert limiter.take("b") == 0.0  # per source
    now[0] += 1.0  # 10 tokens back
    assert sum(1 for _ in range(15) if limiter.take("a") == 0.0) == 10
    # a large batch may borrow, then the source waits for the debt to be repaid
    now[0] += 10.0
    assert limiter.take("a", 50) == 0.0
    wait = limiter.take("a", 1)
    assert wait == pytest.approx(3.1, abs=0.01)
    assert RateLimiter(rate=0).take("a", 10**6) == 0.0
