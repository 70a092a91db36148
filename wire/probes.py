"""The probe kinds of wire format v1 (docs/wire.md): one entry per kind, with the
Result fields it fills. The agent schedules by it; the collector names metrics by it."""

from __future__ import annotations

from dataclasses import dataclass

# Every result carries these, whatever its kind (wire.schema.Result).
COMMON_FIELDS = ("seq", "ts", "probe", "target", "role", "success", "duration_seconds", "error")


@dataclass(frozen=True)
class ProbeKind:
    name: str  # the result's `probe`, and the agent config's key
    description: str
    fields: tuple[str, ...]  # Result fields it fills besides COMMON_FIELDS
    timed: bool = False  # times the network path: a bandwidth test must not run alongside
    # Workstation-wide kinds have a fixed target and role `workstation`; None: one run per
    # configured target, under that target's name and role.
    target: str | None = None


_KINDS = (
    ProbeKind(
        "http",
        "a DUI URL: status code, phases, TLS certificate expiry and issuer",
        ("status_code", "reused_connection", "phases", "tls_expiry_ts", "tls_issuer"),
        timed=True,
    ),
    ProbeKind(
        "latency",
        "TCP-connect or ICMP round trips: min/avg/max, jitter, loss",
        (
            "method",
            "sent",
            "received",
            "rtt_seconds",
            "kernel_rtt_seconds",
            "jitter_seconds",
            "loss_ratio",
        ),
        timed=True,
    ),
    ProbeKind("dns", "resolution time of a host", (), timed=True),
    ProbeKind(
        "scenario",
        "a multi-step login with a synthetic account, timed step by step",
        ("steps",),
        timed=True,
    ),
    ProbeKind(
        "bandwidth",
        "download and upload throughput against the collector's /speedtest",
        ("download_bytes_per_second", "upload_bytes_per_second"),
    ),
    ProbeKind(
        "context",
        "agent version, link type, Wi-Fi signal, clock offset",
        ("version", "link", "wifi_signal_percent", "clock_offset_seconds"),
        target="workstation",
    ),
    ProbeKind(
        "inventory",
        "OS, hardware and firmware date, CPU, RAM, free disk, browsers, link",
        (
            "os",
            "hardware",
            "cpu",
            "ram_bytes",
            "disk_free_bytes",
            "browsers",
            "link",
            "wifi_signal_percent",
        ),
        target="workstation",
    ),
    ProbeKind(
        "usage",
        "whether the workstation has a connection to a DUI host this minute",
        ("in_use",),
        target="dui",
    ),
)

PROBES: dict[str, ProbeKind] = {kind.name: kind for kind in _KINDS}
PROBE_NAMES: tuple[str, ...] = tuple(PROBES)
