"""The timed turn: one timed section at a time, the queue outside every clock, the
kernel's RTT beside the user-space one, and the agent's deadline that allows the queue."""

from __future__ import annotations

import socket
import sys
import threading
import time

from agent.probes import measure
from agent.probes._common import Deadline, begin_probe, result, timed_turn
from agent.scheduler import Job, with_queue_bounds
from tests.helpers.servers import http_server, silent_server

HOLD = 0.3  # how long a first thread keeps the turn


def hold_turn(entered: threading.Event, release: threading.Event) -> threading.Thread:
    def hold() -> None:
        with timed_turn():
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert entered.wait(10)
    return thread


def test_sections_never_overlap_and_are_served_in_order() -> None:
    inside = 0
    overlaps = 0
    order: list[int] = []
    lock = threading.Lock()

    def section(i: int) -> None:
        nonlocal inside, overlaps
        with timed_turn():
            with lock:
                inside += 1
                overlaps += inside > 1
                order.append(i)
            time.sleep(0.005)
            with lock:
                inside -= 1

    entered, release = threading.Event(), threading.Event()
    holder = hold_turn(entered, release)
    threads = []
    for i in range(8):
        threads.append(threading.Thread(target=section, args=(i,), daemon=True))
        threads[-1].start()
        time.sleep(0.02)  # queue them one after the other
    release.set()
    for thread in [holder, *threads]:
        thread.join(10)
    assert overlaps == 0
    assert order == list(range(8))


def test_queue_wait_counts_neither_in_timeout_nor_in_ts_nor_duration() -> None:
    entered, release = threading.Event(), threading.Event()
    holder = hold_turn(entered, release)
    threading.Timer(HOLD, release.set).start()
    begin_probe()
    ts, start = time.time(), time.perf_counter_ns()
    deadline = Deadline(0.2)  # shorter than the wait: the wait must not use it up
    with timed_turn(deadline):
        left = deadline.remaining()
    r = result(ts, start, True, None)
    holder.join(10)
    assert left > 0.15
    assert r["ts"] - ts >= HOLD * 0.9
    assert r["duration_seconds"] < 0.1


def test_a_queued_http_probe_keeps_its_timeout_and_figures() -> None:
    entered, release = threading.Event(), threading.Event()
    with http_server() as url:
        holder = hold_turn(entered, release)
        threading.Timer(HOLD, release.set).start()
        ts = time.time()
        r = measure("http", {"url": url, "timeout": 0.2})
        holder.join(10)
    assert r["success"] is True, r  # the 0.3 s queue did not use up its 0.2 s timeout
    assert r["ts"] - ts >= HOLD * 0.9
    assert r["duration_seconds"] < HOLD


def test_latency_reports_the_kernel_rtt_beside_its_own() -> None:
    with silent_server() as port:
        r = measure("latency", {"host": "127.0.0.1", "port": port, "samples": 3, "spacing": 0.0})
    assert r["success"] is True
    if sys.platform != "linux":
        assert "kernel_rtt_seconds" not in r  # absent, not zero, where the OS gives none
        return
    kernel = r["kernel_rtt_seconds"]
    assert 0 < kernel["min"] <= kernel["avg"] <= kernel["max"] < 0.1


def test_no_kernel_rtt_from_a_reset() -> None:
    with socket.socket() as sock:  # a port nobody listens on: a RST, no TCP state
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    r = measure("latency", {"host": "127.0.0.1", "port": port, "samples": 2, "spacing": 0.0})
    assert r["received"] == 2 and "kernel_rtt_seconds" not in r


def job(kind: str, timeout: float, interval: float = 30.0, **params: float) -> Job:
    return Job(kind, kind, "dui", {"timeout": timeout, **params}, interval, timeout)


def test_agent_deadline_allows_for_every_other_timed_probe_ahead() -> None:
    latency = job("latency", 2.0, samples=20, spacing=0.1)  # own time 42 s
    http, dns = job("http", 10.0), job("dns", 5.0)
    bandwidth = job("bandwidth", 60.0)
    jobs = {j.kind: j for j in with_queue_bounds([latency, http, dns, bandwidth])}
    assert jobs["bandwidth"].queue == 0.0  # runs alone behind the gate, not in the turn
    # http may wait for the latency run and the dns run, each at most once per interval.
    assert jobs["http"].queue == latency.own * 2 + dns.own * 2
    assert jobs["http"].deadline >= http.own + latency.own + dns.own
    # latency (42 s) spans two 30 s intervals of each of the others.
    assert jobs["latency"].queue == http.own * 3 + dns.own * 3


def test_workstation_probes_take_the_turn_and_count_in_the_bound() -> None:
    inventory = Job("inventory", "workstation", "workstation", {}, 86400.0, 60.0)
    http = job("http", 10.0)
    jobs = {j.kind: j for j in with_queue_bounds([inventory, http])}
    assert jobs["http"].queue == inventory.own * 2
    assert jobs["inventory"].queue == http.own * 3  # 60 s spans two 30 s intervals
