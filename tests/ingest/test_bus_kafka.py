"""The Kafka adapter's producer: kafka-python must checksum record batches in C."""

from __future__ import annotations

from buses.kafka import native_crc32c


def test_kafka_python_checksums_batches_in_c() -> None:
    from kafka.record.util import calc_crc32c

    assert native_crc32c(), "pip install crc32c: without it kafka-python checksums in pure Python"
    assert calc_crc32c(memoryview(b"123456789")) == 0xE3069283  # the CRC-32C check value
