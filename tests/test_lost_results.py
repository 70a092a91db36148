"""What never arrived: `dui_agent_lost_results_total` counts the seqs below a batch's
`first_seq` that the collector never stored nor rejected, once, whatever the re-sends;
the agent's `dropped_results` counts what it removed before an ack, arrived or not."""

from __future__ import annotations

import pytest

from collector.ingest import Ingest
from collector.ledger import SqliteLedger
from tests.helpers.poll import await_until
from tests.helpers.processes import agent_config, ledger_seqs
from tests.helpers.servers import http_server
from tests.test_collector_e2e import collector_config
from tests.test_collector_ingest import NOW, TOPIC, batch, result
from tests.test_delivery import http_target, spool_state

pytestmark = pytest.mark.timeout(180)
AGENT = ("og", "site-a", "poste-1")


@pytest.fixture
def ingest(tmp_path):
    ledger = SqliteLedger(tmp_path / "ledger.db")
    yield Ingest(ledger, raw_retention=35 * 86400)
    ledger.close()


def lost(ingest: Ingest, *batches: bytes) -> int:
    return sum(ingest.process([(TOPIC, b)], now=NOW).lost.get(AGENT, 0) for b in batches)


def test_a_gap_below_first_seq_is_lost_once(ingest) -> None:
    first = batch([result(1), result(2)])
    after_gap = batch([result(6), result(7)], first_seq=6)  # 3, 4, 5 never came
    assert lost(ingest, first, after_gap) == 3
    assert lost(ingest, after_gap, batch([result(8)], first_seq=6)) == 0, "re-sends: no more"


def test_what_was_stored_or_rejected_is_not_lost(ingest) -> None:
    stored_out_of_order = batch([result(4)], first_seq=1)
    rejected = batch([result(2, role="vendor")], first_seq=1)  # settled for good
    assert lost(ingest, batch([result(1)]), stored_out_of_order, rejected) == 0
    assert lost(ingest, batch([result(6)], first_seq=6)) == 2  # only 3 and 5


def test_no_gap_no_loss(ingest) -> None:
    assert lost(ingest, batch([result(1)]), batch([result(2), result(3)], first_seq=2)) == 0


def agent_metric(collector, name: str) -> float | None:
    return collector.metrics().get(f'{name}{{agent="poste-1",org="og-test",site="site-a"}}')


async def test_dropped_but_arrived_is_not_lost(
    tmp_path, mosquitto, collector_process, agent_process
) -> None:
    """A spool too small for the backlog while the collector is away: the broker queues
    what was sent, so the spool's drops all arrive (dropped > 0, lost 0); then with the
    broker down nothing is sent, and what the spool drops is lost, exactly the gaps."""
    collector = collector_process(collector_config(mosquitto.url))
    collector.start()  # its persistent session makes the broker queue for it
    await collector.astop()
    with http_server() as url:
        config = agent_config(
            tmp_path,
            mosquitto.url,
            [http_target(url, "100ms")],
            spool={"max_bytes": 3000},
            mqtt={"ack_timeout": "10m"},
        )
        agent = agent_process(config)
        agent.start()
        await await_until(lambda: (spool_state(agent.spool_path)[1] or 0) > 20, 30, "drops")
        collector.start()
        await await_until(
            lambda: (agent_metric(collector, "dui_agent_dropped_results_total") or 0) > 0,
            90,
            "the agent's status with its drops",
            step=0.5,
        )
        (stored,) = ledger_seqs(collector).values()
        assert stored == list(range(1, max(stored) + 1)), "every sent result arrived"
        assert agent_metric(collector, "dui_agent_lost_results_total") == 0
        mosquitto.stop()  # nothing can be sent: what the spool drops now never arrives
        before = max(stored)
        await await_until(
            lambda: (spool_state(agent.spool_path)[1] or 0) > before + 20, 30, "drops offline"
        )
        mosquitto.start()
        await await_until(
            lambda: (agent_metric(collector, "dui_agent_lost_results_total") or 0) > 0,
            60,
            "lost results",
            step=0.5,
        )
        await agent.astop()
    (stored,) = ledger_seqs(collector).values()
    gaps = set(range(1, max(stored))) - set(stored)
    assert gaps and agent_metric(collector, "dui_agent_lost_results_total") == len(gaps)
    await collector.astop()
    assert "Traceback" not in collector.log()


def test_a_forged_first_seq_cannot_make_a_loss(ingest) -> None:
    """Without results, or above its own results, a batch's first_seq is not the agent's:
    it must neither count a loss nor settle seqs the agent will still send."""
    assert lost(ingest, batch([result(1)])) == 0
    empty = ingest.process([(TOPIC, batch([], first_seq=10**12))], now=NOW)
    assert (empty.lost, empty.rejected_messages) == ({}, {"invalid": 1})
    assert lost(ingest, batch([result(5)], first_seq=10**12)) == 0  # 2..4 may still come
    out = ingest.process([(TOPIC, batch([result(2)], first_seq=2))], now=NOW)
    assert out.messages == {"accepted": 1}, out.messages
