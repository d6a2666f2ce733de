"""The Kafka layer: the only code that touches faust's transport or aiokafka directly.

- ``config``: clients' security settings (TLS, SASL) and the start-up access check.
- ``transport``, ``buffering``: faust's transport driver with hashgate's consumer.
- ``app``: the faust app factory and raw (bytes) topics.
- ``confirmed``: writing a record and waiting for the broker (``ConfirmedWriter``), with retry.
- ``producer_topics``: a producer tracks every topic before its first record.
- ``spans``: reading partitions to a fixed end.
- ``record``: a consumed record (``SourceRecord``) and hashgate's headers.
- ``topics``: creating topics with the registry's settings (streams/events/topics.py).
- ``broker_watch``: whether the broker answers, for /readyz.
- ``log_levels``: aiokafka's errors it retries by itself logged as warnings.
- ``internals``: every private part of faust, mode and aiokafka hashgate uses, pinned by a test.
"""
