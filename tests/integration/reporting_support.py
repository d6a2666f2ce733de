"""The reporting agent's configuration against the simulator, shared by its integration and
browser tests."""

from __future__ import annotations

from hashgate_tools.harness.images import SIMULATOR_KEY
from hashgate_tools.simulator import RunningSimulator

NCMEC_PASSWORD = "ncmec-secret-pw-5d1c"


def reporting_env(simulator: RunningSimulator) -> dict[str, str]:
    return {
        "HASHGATE_PHOTODNA__ENDPOINT": simulator.base_url,
        "HASHGATE_PHOTODNA__SUBSCRIPTION_KEY": SIMULATOR_KEY,
        "HASHGATE_PHOTODNA__NCMEC_USERNAME": "ncmec-user",
        "HASHGATE_PHOTODNA__NCMEC_PASSWORD": NCMEC_PASSWORD,
        "HASHGATE_REPORTING__ORG_NAME": "Example Platform",
        "HASHGATE_REPORTING__REPORTER_NAME": "Trust & Safety",
        "HASHGATE_REPORTING__REPORTER_EMAIL": "tns@example.com",
        "HASHGATE_MEDIA__ALLOW_HOSTS": '["127.0.0.1"]',
    }
