"""The probe worker: a separate process by default, restarted when it dies."""

from __future__ import annotations

import os
import signal

from agent.worker import ProcessRunner, ThreadRunner
from tests.helpers.poll import await_until
from tests.helpers.servers import http_server, silent_server


async def test_process_runner_measures_in_another_process() -> None:
    with http_server() as url:
        async with ProcessRunner() as runner:
            assert runner.pid is not None and runner.pid != os.getpid()
            result = await runner.run("http", {"url": url, "timeout": 2.0}, 10)
    assert result["success"] is True and result["status_code"] == 200


async def test_probe_process_killed_is_restarted() -> None:
    with http_server() as url:
        async with ProcessRunner() as runner:
            first = runner.pid
            os.kill(first, signal.SIGKILL)
            result = await await_until(  # once the reader thread notices the pipe closing
                lambda: runner.run("http", {"url": url, "timeout": 2.0}, 10),
                60,
                "a run in the restarted process",
                until=lambda r: r["success"],
            )
            assert result["success"] is True
            assert runner.pid != first


async def test_runner_deadline_gives_a_timeout_result() -> None:
    with silent_server() as port:
        params = {"url": f"http://127.0.0.1:{port}/", "timeout": 5.0}
        for runner_class in (ThreadRunner, ProcessRunner):
            async with runner_class() as runner:
                result = await runner.run("http", params, 0.3)
            assert (result["success"], result["error"]) == (False, "timeout")


async def test_probe_bug_costs_one_result_not_the_worker() -> None:
    async with ProcessRunner() as runner:
        broken = await runner.run("http", {"timeout": 1.0}, 5)  # no url: a KeyError inside
        assert (broken["success"], broken["error"]) == (False, "internal")
        assert "KeyError" in broken["detail"]
        ok = await runner.run("dns", {"host": "localhost", "timeout": 2.0}, 5)
        assert ok["success"] is True
