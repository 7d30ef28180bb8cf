"""Message-bus adapters of the kernel's `Bus` port; the in-process bus ships beside the port.

    buses/kafka.py   Kafka (kafka-python), distributed mode

Like `stores/`, only the composition root (`socpipe.runtime.build_kafka`) picks one.
"""
