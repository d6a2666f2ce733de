"""What the faust baselines share: hashgate's own faust app with its raw topics, their writes
through its producer, and a worker run the way ``python -m streams worker`` runs hashgate's."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import faust

from bench.baseline_scan import Output, client_for
from streams.kafka.app import create_app, raw_topic
from streams.kafka.internals import producer_client
from streams.kafka.producer_topics import TrackedTopics
from streams.observability.logging import logging_config
from streams.photodna import PhotoDNAClient
from streams.settings import Settings, load_settings


@dataclass(frozen=True)
class BaselineApp:
    """hashgate's faust app, the baselines' PhotoDNA client and the app's raw topics."""

    settings: Settings
    app: faust.App
    client: PhotoDNAClient
    #: The app's raw topic by name (``raw_topic``), declared once: a send must not build one.
    topic: Callable[[str], faust.TopicT]
    #: The topics the app's producer keeps in its metadata, once that producer has started.
    tracked: Callable[[], TrackedTopics]

    @classmethod
    def build(cls, settings: Settings) -> BaselineApp:
        app = create_app(settings)
        topic = cache(lambda name: raw_topic(app, name, settings))
        tracked = cache(lambda: TrackedTopics(producer_client(app.producer)))
        return cls(settings, app, client_for(settings), topic, tracked)

    def uploads_agent(self, name: str) -> Callable[[Any], Any]:
        """Decorates an agent reading the uploads topic."""
        return self.app.agent(self.topic(self.settings.topics.uploads), name=name)

    async def confirmed(self, outputs: list[Output]) -> None:
        """Send every output through the app's producer (not faust's ``Topic.send``: see
        bench/faust_loop.py), each topic tracked before its first record
        (streams/kafka/producer_topics.py), then wait for the broker's acknowledgement of each."""
        tracked = self.tracked()
        send = self.app.producer.send
        sent = []
        for o in outputs:
            tracked.track(o.topic)
            sent.append(
                await send(o.topic, o.key, o.value, partition=None, timestamp=None, headers=None)
            )
        await asyncio.gather(*sent)


def run_worker(build_app: Callable[[Settings], faust.App]) -> None:
    """Build the app from the ``HASHGATE_*`` settings and run it until SIGTERM."""
    settings = load_settings()
    worker = faust.Worker(
        build_app(settings),
        loglevel=settings.log_level,
        logging_config=logging_config(settings.log_level, []),
        quiet=True,
    )
    worker.execute_from_commandline()
