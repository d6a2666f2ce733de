"""faust's seek to the committed offsets, on a real broker, through hashgate's consumer: what a
rebalance does to a partition whose records were fetched before anything of it was committed."""

from __future__ import annotations

from typing import cast

import faust

from hashgate_tools.harness.kafka import Record, create_topics, produce, unique
from hashgate_tools.harness.waiting import eventually
from streams.kafka.app import create_app, raw_topic
from streams.settings import Settings

RECORDS = 10


async def test_a_partition_never_committed_is_read_again_from_its_start_after_the_seek(
    kafka_bootstrap: str,
) -> None:
    """aiokafka's seek_to_committed leaves such a partition at its fetch position; had faust
    dropped some of the records before that position (a paused partition's batch, an ended
    generation), they would never come again and faust would commit past them."""
    topic = unique("uploads")
    await create_topics(kafka_bootstrap, [topic], partitions=1)
    await produce(kafka_bootstrap, topic, [Record(b"k", b"%d" % n) for n in range(RECORDS)])
    settings = Settings(
        kafka={"bootstrap_servers": kafka_bootstrap, "consumer_group": unique("seek")}
    )
    app = create_app(settings, web_enabled=False)
    offsets: list[int] = []

    @app.agent(raw_topic(app, topic, settings))
    async def take(stream: faust.StreamT[bytes]) -> None:
        unacked = cast(faust.Stream[bytes], stream).noack()  # nothing acked: nothing committed
        async for event in unacked.events():
            offsets.append(event.message.offset)

    await app.start()
    try:
        await eventually(lambda: len(offsets) == RECORDS, within=60, what="the first reading")
        await app.consumer.perform_seek()  # as faust's recovery does after every rebalance
        await eventually(
            lambda: offsets[RECORDS:] == list(range(RECORDS)),
            within=30,
            what="every record read again from offset 0",
        )
    finally:
        await app.stop()
    assert offsets[:RECORDS] == list(range(RECORDS))
