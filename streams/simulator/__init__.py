"""A local stand-in for the PhotoDNA Cloud Service: same API, benign database, fault injection.

Tests, the demo and the benchmarks talk to it through the real client, so what works here is
what the service would do, including its refusals, its quota and its bad days.
"""

from streams.simulator.admin import SimulatorAdmin, SimulatorAdminError
from streams.simulator.config import (
    FaultConfig,
    FixedLatency,
    ImageFault,
    LogNormalLatency,
    OutageMode,
    SimulatorConfig,
    UniformLatency,
    packaged_db_path,
)
from streams.simulator.database import DbEntry, HashDatabase
from streams.simulator.images import PdqHash, sniff
from streams.simulator.runner import RunningSimulator, run_simulator
from streams.simulator.samples import Sample, degrade, generate, png_bytes
from streams.simulator.stats import Answer, ReceivedReport, StatsSnapshot, key_fingerprint

__all__ = [
    "Answer",
    "DbEntry",
    "FaultConfig",
    "FixedLatency",
    "HashDatabase",
    "ImageFault",
    "LogNormalLatency",
    "OutageMode",
    "PdqHash",
    "ReceivedReport",
    "RunningSimulator",
    "Sample",
    "SimulatorAdmin",
    "SimulatorAdminError",
    "SimulatorConfig",
    "StatsSnapshot",
    "UniformLatency",
    "degrade",
    "generate",
    "key_fingerprint",
    "packaged_db_path",
    "png_bytes",
    "run_simulator",
    "sniff",
]
