"""What the faust baselines share: raw bytes topics on hashgate's own faust app, and a worker
run the way ``python -m streams worker`` runs hashgate's."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import faust

from bench.baseline_scan import client_for
from streams.kafka.app import create_app
from streams.observability.logging import logging_config
from streams.photodna import PhotoDNAClient
from streams.settings import Settings, load_settings


class RawTopics:
    """The app's topics of raw keys and values, each declared once, by name."""

    def __init__(self, app: faust.App) -> None:
        self._app = app
        self._topics: dict[str, faust.TopicT] = {}

    def __call__(self, name: str) -> faust.TopicT:
        if name not in self._topics:
            self._topics[name] = self._app.topic(
                name,
                key_type=bytes,
                value_type=bytes,
                key_serializer="raw",
                value_serializer="raw",
            )
        return self._topics[name]


@dataclass(frozen=True)
class BaselineApp:
    """hashgate's faust app, the baselines' PhotoDNA client and the app's raw topics."""

    settings: Settings
    app: faust.App
    client: PhotoDNAClient
    topic: RawTopics

    @classmethod
    def build(cls, settings: Settings) -> BaselineApp:
        app = create_app(settings)
        return cls(settings, app, client_for(settings), RawTopics(app))

    def uploads_agent(self, name: str) -> Callable[[Any], Any]:
        """Decorates an agent reading the uploads topic."""
        return self.app.agent(self.topic(self.settings.topics.uploads), name=name)


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
