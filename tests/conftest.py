"""Fixtures with real parts: Mosquitto, the stand-in collector, the agent and the
collector as processes, delaywire links. What they are made of is in tests/helpers/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.acker import Acker
from tests.helpers.broker import Mosquitto
from tests.helpers.netns import netns_unavailable, wire_factory
from tests.helpers.processes import AgentProcess, CollectorProcess, process_factory


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A real broker on a free loopback port."""
    broker_dir = tmp_path / "broker"
    broker_dir.mkdir()
    broker = Mosquitto(broker_dir)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
async def acker(mosquitto: Mosquitto):
    """A stand-in collector on `mosquitto` that records batches and acks them."""
    async with Acker(mosquitto.port) as stand_in:
        yield stand_in


@pytest.fixture
def agent_process(tmp_path: Path) -> Iterator:
    """make(config) → AgentProcess, not started."""
    yield from process_factory(tmp_path, AgentProcess, "agent")


@pytest.fixture
def collector_process(tmp_path: Path) -> Iterator:
    """make(config) → CollectorProcess, not started."""
    yield from process_factory(tmp_path, CollectorProcess, "collector")


@pytest.fixture
def delaywire() -> Iterator:
    """make(*delaywire_up_args) → Wire; skips where namespaces cannot be built."""
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)
    yield from wire_factory()
