"""Real parts for the tests: Mosquitto, a stand-in collector that acks, loopback servers,
the agent and the collector as processes, and one way to wait for a condition (poll.py)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository: tests run `python -m …` here
