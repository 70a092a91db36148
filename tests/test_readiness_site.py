"""Site readiness evaluated from hand-built measurements stored through the real ingest and
SQLite ledger: every check passing, a site failing only on bandwidth per user, one failing
only on Wi-Fi loss, unknown without measurements, workstations per staff, pilot weeks."""

from __future__ import annotations

import datetime as dt

import pytest

from collector.config import parse
from collector.ingest import Ingest
from collector.ledger import SqliteLedger
from collector.readiness.evaluate import CHECK_IDS, evaluate
from collector.readiness.model import Readiness, SiteReadiness
from collector.readiness.pilot import adoption, started_days, week_bounds
from tests.helpers.readiness import NOW, PREREQUISITES, Sites, usage

ALL_CHECKS = list(CHECK_IDS)


def config(sites: dict, prerequisites: dict | None = None, contracts: list | None = None):
    return parse(
        {
            "sites": sites,
            "prerequisites": prerequisites or PREREQUISITES,
            "contracts": contracts or [],
        },
        files=False,
    )


@pytest.fixture
def ledger(tmp_path):
    ledger = SqliteLedger(tmp_path / "ledger.db")
    yield ledger
    ledger.close()


@pytest.fixture
def sites(ledger) -> Sites:
    return Sites(Ingest(ledger, raw_retention=35 * 86400))


def one(readiness: Readiness, site: str) -> SiteReadiness:
    (found,) = [s for s in readiness.sites if s.site == site]
    return found


def verdicts(site: SiteReadiness) -> dict[str, str]:
    return {c.id: c.verdict for c in site.checks}


def test_a_healthy_site_passes_every_check(ledger, sites) -> None:
    sites.healthy("tilleuls", ["p1", "p2"])
    sites.workstation("tilleuls", "p3", link="wifi", signal=70)
    sites.latency("tilleuls", "p3", "gateway", 0.002)
    sites.bandwidth("tilleuls", "p1", [2_000_000, 1_500_000, 2_500_000])
    sites.latency("tilleuls", "p1", "internet", 0.5, received=0)  # no check reads it
    conf = config({"tilleuls": {"name": "EHPAD Les Tilleuls", "users": 6}})
    site = one(evaluate(conf, ledger, NOW, pilot=False), "tilleuls")
    assert [c.id for c in site.checks] == ALL_CHECKS
    assert verdicts(site) == dict.fromkeys(ALL_CHECKS, "pass"), site.checks
    assert site.verdict == "pass" and site.name == "EHPAD Les Tilleuls" and site.org == "og"
    assert site.met("dui_rtt") is True and site.wifi_share == pytest.approx(1 / 3)
    by = {c.id: c for c in site.checks}
    assert by["workstations"].evidence == 3 and by["workstations"].threshold == 3
    assert by["download_per_user"].evidence == pytest.approx(2_000_000 / 6)
    assert by["download_per_user"].threshold == 125_000
    assert by["dui_rtt"].evidence == pytest.approx(0.020)
    assert by["gateway_loss"].evidence == 0 and by["wifi_loss"].evidence == 0
    assert by["wifi_signal"].evidence == 70
    assert by["dui_p95"].evidence == pytest.approx(0.8)  # nearest rank of 40 values
    assert by["max_age"].evidence == {"failing": 0, "of": 3, "unknown": 0}
    facts = {w.agent: w for w in site.workstations}
    assert facts["p3"].link == "wifi" and facts["p3"].wifi_signal_percent == 70
    assert facts["p1"].os_maintained is True and facts["p1"].model == "OptiPlex 7010"
    assert facts["p1"].os_name and facts["p1"].ram_bytes == 16_000_000_000
    assert facts["p1"].inventory_ts == NOW - 3600
    assert facts["p1"].age_seconds == (dt.date(2026, 11, 18) - dt.date(2023, 3, 1)).days * 86400


def test_a_site_failing_only_on_bandwidth_per_user(ledger, sites) -> None:
    sites.healthy("saturee", ["p1", "p2", "p3"])
    # 0.4 Mbit/s per user: a 2 Mbit/s link shared by 5 users
    sites.bandwidth("saturee", "p1", [250_000, 240_000, 260_000])
    conf = config({"saturee": {"users": 5}})
    site = one(evaluate(conf, ledger, NOW, pilot=False), "saturee")
    failed = {c.id for c in site.checks if c.verdict != "pass"}
    assert failed == {"download_per_user"}, site.checks
    assert site.verdict == "fail" and site.met("download_per_user") is False
    assert site.check("download_per_user").evidence == pytest.approx(50_000)


def test_a_site_failing_only_on_wifi_loss(ledger, sites) -> None:
    sites.healthy("wifi", ["fixe-1", "fixe-2"])
    # Wi-Fi PCs lose 2 probes of 10 to the gateway (and so to the DUI): only wifi_loss fails
    for agent in ("portable-1", "portable-2"):
        sites.workstation("wifi", agent, link="wifi", signal=55)
        sites.latency("wifi", agent, "gateway", 0.004, received=8)
        sites.latency("wifi", agent, "dui", 0.030, received=8)
        sites.http("wifi", agent, [0.5, 0.7] * 5)
    sites.bandwidth("wifi", "fixe-1", [5_000_000])
    conf = config({"wifi": {"users": 8}})
    site = one(evaluate(conf, ledger, NOW, pilot=False), "wifi")
    failed = {c.id: c for c in site.checks if c.verdict != "pass"}
    assert set(failed) == {"wifi_loss"}, site.checks
    assert failed["wifi_loss"].evidence == pytest.approx(0.2)
    assert "2 of 4 workstations on Wi-Fi" in failed["wifi_loss"].detail
    assert site.check("gateway_loss").evidence == 0
    assert "wired" in site.check("gateway_loss").detail
    assert site.wifi_share == 0.5


def test_every_workstation_measured_when_none_is_wired(ledger, sites) -> None:
    sites.workstation("tout-wifi", "p1", link="wifi", signal=30)
    sites.latency("tout-wifi", "p1", "gateway", 0.004, received=9)
    conf = config({"tout-wifi": {"users": 2}})
    site = one(evaluate(conf, ledger, NOW, pilot=False), "tout-wifi")
    v = verdicts(site)
    # without a wired PC the LAN checks see the Wi-Fi, and say where they looked
    assert v["gateway_loss"] == "fail" and v["wifi_loss"] == "fail" and v["wifi_signal"] == "fail"
    assert "every workstation (no wired workstation)" in site.check("gateway_loss").detail


def test_unknown_without_measurements(ledger, sites) -> None:
    conf = config({"vide": {"users": 10}})
    site = one(evaluate(conf, ledger, NOW, pilot=False), "vide")
    assert [c.id for c in site.checks] == ALL_CHECKS
    assert verdicts(site) == dict.fromkeys(ALL_CHECKS, "unknown"), site.checks
    assert site.verdict == "unknown" and site.org == "" and site.workstations == []
    assert all(site.met(c) is None for c in ALL_CHECKS)
    assert site.check("download_per_user").detail == "no bandwidth result"
    # the thresholds are said even before any agent reports
    assert site.check("workstations").threshold == 5 and site.check("max_age").threshold == 5.0
    assert site.check("min_ram").threshold == 8_000_000_000
    assert site.check("max_age").evidence == {"failing": 0, "of": 0, "unknown": 0}


def test_without_users_the_per_user_checks_are_unknown(ledger, sites) -> None:
    sites.healthy("anonyme", ["p1"])
    sites.bandwidth("anonyme", "p1", [3_000_000])
    site = one(evaluate(config({}), ledger, NOW, pilot=False), "anonyme")  # seen, not declared
    v = verdicts(site)
    assert v["workstations"] == "unknown" and v["download_per_user"] == "unknown"
    assert site.verdict == "unknown" and site.name == "anonyme"


def test_workstations_per_declared_staff(ledger, sites) -> None:
    for agent in ("p1", "p2", "p3"):
        sites.workstation("jour", agent)
        sites.workstation("nuit", agent)
    prereq = {"site": {"min_workstations_per_user": 0.33}}
    conf = config(
        {"jour": {"users": 10}, "nuit": {"users": 10, "min_workstations_per_user": 0.2}}, prereq
    )
    readiness = evaluate(conf, ledger, NOW, pilot=False)
    jour, nuit = one(readiness, "jour"), one(readiness, "nuit")
    # 10 × 0.33 = 3.3 → 4 needed; the site's own 0.2 → 2
    assert (jour.check("workstations").evidence, jour.check("workstations").threshold) == (3, 4)
    assert jour.verdict == "fail" and nuit.check("workstations").threshold == 2
    assert nuit.verdict == "pass" and [c.id for c in nuit.checks] == ["workstations"]


def test_one_workstation_per_three_users_as_a_fraction() -> None:
    from collector.readiness.evaluate import count_check

    third = config({"s": {"users": 100, "min_workstations_per_user": "1/3"}})
    ratio = third.sites["s"].min_workstations_per_user
    # 1 per 3 of 100 users is 34; the decimal 0.33 asked for 33, 0.34 for 102 of 300
    assert count_check(34, 100, ratio).threshold == 34
    assert count_check(33, 100, ratio).verdict == "fail"
    assert count_check(100, 300, ratio).threshold == 100
    assert (
        config(
            {}, {"site": {"min_workstations_per_user": "1/2"}}
        ).prerequisites.site.min_workstations_per_user
        == 0.5
    )


def test_workstation_checks_fail_at_the_site_with_the_agents_named(ledger, sites) -> None:
    sites.healthy("vieux", ["neuf"])
    sites.workstation("vieux", "ancien", firmware="2014-01-10", ram=4_000_000_000)
    prereq = {"workstation": PREREQUISITES["workstation"]}
    site = one(evaluate(config({}, prereq), ledger, NOW, pilot=False), "vieux")
    age = site.check("max_age")
    assert age.verdict == "fail" and age.evidence == {"failing": 1, "of": 2, "unknown": 0}
    assert age.detail == "failing: ancien" and age.threshold == 5.0
    assert site.check("min_ram").verdict == "fail" and site.check("browsers").verdict == "pass"


def test_only_newest_inventory_and_link_count(ledger, sites) -> None:
    sites.workstation("mobile", "p1", link="wired", ago=7200, firmware="2010-01-01")
    sites.workstation("mobile", "p1", link="wifi", signal=80, ago=600)
    sites.send(
        "mobile",
        "p1",
        [{"ts": NOW - 60, "probe": "context", "target": "workstation", "role": "workstation",
          "success": True, "error": None, "link": "wired"}],
    )  # fmt: skip
    site = one(evaluate(config({}), ledger, NOW, pilot=False), "mobile")
    (p1,) = site.workstations
    assert p1.link == "wired" and p1.inventory_ts == NOW - 600
    assert site.check("max_age").verdict == "pass"


def test_a_failed_inventory_or_context_keeps_the_last_good_one(ledger, sites) -> None:
    sites.workstation("site-a", "p1", link="wired", ago=7200)
    failed = {"target": "workstation", "role": "workstation", "success": False,
              "duration_seconds": 60.0, "error": "timeout"}  # fmt: skip
    sites.send(
        "site-a",
        "p1",
        [{"ts": NOW - 120, "probe": "inventory", **failed},
         {"ts": NOW - 60, "probe": "context", **failed}],
    )  # fmt: skip
    site = one(evaluate(config({"site-a": {"users": 2}}), ledger, NOW, pilot=False), "site-a")
    (p1,) = site.workstations
    assert p1.inventory_ts == NOW - 7200 and p1.link == "wired"
    assert p1.os_maintained is True
    assert {c.id: c.verdict for c in p1.checks} == dict.fromkeys(
        ("max_age", "min_ram", "os_maintained", "browsers"), "pass"
    )


def test_results_outside_the_window_are_not_read(ledger, sites) -> None:
    sites.workstation("ancien", "p1")
    sites.latency(
        "ancien", "p1", "dui", 0.5, runs=3, start=20 * 86400, span=12 * 86400
    )  # 20 to 12 d
    site = one(evaluate(config({}), ledger, NOW, pilot=False), "ancien")
    assert site.check("dui_rtt").verdict == "unknown"


def test_site_filter(ledger, sites) -> None:
    sites.healthy("a", ["p1"])
    sites.healthy("b", ["p1"])
    assert [s.site for s in evaluate(config({}), ledger, NOW, site="b").sites] == ["b"]
    assert evaluate(config({}), ledger, NOW, site="zzz").sites == []


def test_no_prerequisite_configured_is_unknown(ledger, sites) -> None:
    sites.healthy("a", ["p1"])
    site = one(evaluate(parse({}, files=False), ledger, NOW), "a")
    assert site.checks == [] and site.verdict == "unknown"


CONTRACT = {"id": "dui", "targets": ["dui-login"], "availability": {"objective": 0.99}}


def test_a_contract_alone_does_not_make_a_site_ready(ledger, sites) -> None:
    """The trial's config: a contract and no `prerequisites:`. The contract's
    slow_threshold judged the DUI's p95 and the site read "ready" with nothing of the
    go-live checklist checked; it cannot be judged. With `prerequisites:` (here only the
    workstation part) the p95 is checked against that slow_threshold, as documented."""
    sites.healthy("a", ["p1"])
    alone = parse({"contracts": [CONTRACT]}, files=False)
    site = one(evaluate(alone, ledger, NOW), "a")
    assert site.checks == [] and site.verdict == "unknown"
    some = parse(
        {"contracts": [CONTRACT], "prerequisites": {"workstation": {"min_ram": "8GB"}}},
        files=False,
    )
    site = one(evaluate(some, ledger, NOW), "a")
    p95 = site.check("dui_p95")
    assert p95 is not None and (p95.threshold, p95.verdict) == (10.0, "pass")
    assert site.verdict == "pass"


def test_pilot_weeks_since_go_live(ledger, sites) -> None:
    # NOW is Wednesday 2026-11-18, 12:06 in Paris; go-live on Monday 2026-11-09
    sites.workstation("pilote", "p1")
    sites.http("pilote", "p1", [0.5] * 18 + [2.0, 4.0], start=9 * 86400, span=6 * 86400)
    sites.http("pilote", "p1", [1.0] * 9, failures=1, start=2 * 86400)
    sites.http("pilote", "p1", [9.0], start=11 * 86400)  # before go-live: in no week
    conf = config(
        {"pilote": {"pilot": True, "go_live": "2026-11-09", "users": 2}}, contracts=[CONTRACT]
    )
    site = one(evaluate(conf, ledger, NOW), "pilote")
    first, second = site.weeks
    paris = dt.timezone(dt.timedelta(hours=1))
    assert first.start == dt.datetime(2026, 11, 9, tzinfo=paris)
    assert first.end == second.start == dt.datetime(2026, 11, 16, tzinfo=paris)
    assert second.end == dt.datetime.fromtimestamp(NOW, dt.UTC)
    assert (first.requests, first.errors, first.p95_seconds) == (20, 0, 2.0)
    assert (second.requests, second.errors, second.error_ratio) == (10, 1, 0.1)
    assert second.p95_seconds == 1.0
    assert first.local_fault_seconds == 0 and second.local_fault_seconds == 0
    # three minutes where the DUI and the site's gateway both fail: local fault, as the
    # SLA engine attributes it (the gateway being valid over the day before)
    at = NOW - 86400 + 30
    sites.latency("pilote", "p1", "gateway", 0.001, runs=48, start=2 * 86400, span=86400)
    kinds = (("http", "dui-login", "dui"), ("latency", "gateway", "gateway"))
    failing = [
        {"ts": at + 60 * k, "probe": probe, "target": target, "role": role, "success": False,
         "duration_seconds": 1.0, "error": "timeout"}
        for k in range(3)
        for probe, target, role in kinds
    ]  # fmt: skip
    sites.send("pilote", "p1", failing)
    second = one(evaluate(conf, ledger, NOW), "pilote").weeks[1]
    assert second.local_fault_seconds == 180 and second.errors == 1 + 3
    assert second.workstations_in_use_peak is None and "usage_off" in second.reasons


def test_pilot_weeks_adoption_from_the_site_usage(ledger, sites) -> None:
    # week 2 (from Monday 2026-11-16 00:00 in Paris): three workstations on two minutes
    minute = (NOW - 86400) // 60 * 60
    # in time order, as an agent's spool sends them (ingest counts a workstation once per
    # minute and forgets minutes over an hour behind its newest)
    sites.send("pilote", "p1", [usage(NOW - 8 * 86400, True)])  # week 1: one minute
    sites.send("pilote", "p1", [usage(minute + 5, True), usage(minute + 65, True)])
    sites.send("pilote", "p2", [usage(minute + 7, True), usage(minute + 67, False)])
    sites.send("pilote", "p3", [usage(minute + 9, True)])
    conf = config(
        {"pilote": {"pilot": True, "go_live": "2026-11-09", "users": 2}}, contracts=[CONTRACT]
    )
    first, second = one(evaluate(conf, ledger, NOW), "pilote").weeks
    assert (first.workstations_in_use_peak, first.usage_minutes_per_day) == (1, 1 / 7)
    assert second.workstations_in_use_peak == 3
    # NOW is Wednesday 18 at 12:06 in Paris: Monday, Tuesday and Wednesday begun
    assert second.usage_minutes_per_day == 4 / 3
    assert not {"usage_off", "usage_unavailable"} & set(second.reasons)
    assert evaluate(conf, ledger, NOW, pilot=False).sites[0].weeks == []


def test_pilot_weeks_need_a_started_go_live() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Europe/Paris")
    assert week_bounds(dt.date(2026, 12, 1), zone, NOW) == []
    weeks = week_bounds(dt.date(2026, 10, 19), zone, NOW)
    # across the end of summer time (2026-10-25) a week is still 7 local days
    assert weeks[0] == (
        dt.datetime(2026, 10, 19, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        dt.datetime(2026, 10, 26, tzinfo=paris),
    )
    assert len(weeks) == 5


def test_pilot_without_contract_has_no_local_fault(ledger, sites) -> None:
    sites.http("pilote", "p1", [0.5] * 4, start=86400)
    conf = config({"pilote": {"pilot": True, "go_live": "2026-11-16"}})
    (week,) = one(evaluate(conf, ledger, NOW), "pilote").weeks
    assert week.requests == 4 and week.local_fault_seconds is None
    assert "no_contract" in week.reasons


def test_pilot_week_without_sla_data_has_an_unknown_local_fault(ledger, sites) -> None:
    # an agent there, but no result of the contract's targets: nothing to attribute, so
    # the local fault is unknown (None), never 0 minutes that would clear the site
    sites.workstation("pilote", "p1", ago=3600)
    conf = config(
        {"pilote": {"pilot": True, "go_live": "2026-11-09", "users": 2}}, contracts=[CONTRACT]
    )
    weeks = one(evaluate(conf, ledger, NOW), "pilote").weeks
    assert [w.local_fault_seconds for w in weeks] == [None, None]
    assert all("no_sla_data" in w.reasons for w in weeks)
    # once the site's results of the contract arrive, its week has a figure again
    sites.http("pilote", "p1", [0.5] * 4, start=86400)
    first, second = one(evaluate(conf, ledger, NOW), "pilote").weeks
    assert first.local_fault_seconds is None and second.local_fault_seconds == 0
    assert "no_sla_data" not in second.reasons


def test_adoption_per_started_local_day() -> None:
    from zoneinfo import ZoneInfo

    from collector.readiness.usage import DayUsage

    zone = ZoneInfo("Europe/Paris")
    go_live = dt.date(2026, 11, 23)
    at_0830 = dt.datetime(2026, 11, 23, 8, 30, tzinfo=zone).timestamp()
    ((start, end),) = week_bounds(go_live, zone, at_0830)
    # ten workstations used 30 minutes since 08:00 on go-live day: 300 min that day
    assert adoption([DayUsage(go_live, 300, 10)], start, end) == (10, 300.0)
    # a whole week across the end of summer time (169 hours) is 7 days, a part of one
    # the local days begun
    first, current = week_bounds(
        dt.date(2026, 10, 19), zone, dt.datetime(2026, 10, 27, 0, 1, tzinfo=zone).timestamp()
    )
    assert started_days(*first) == 7 and started_days(*current) == 2
