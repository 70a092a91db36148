"""The site limits of `prerequisites.site` as numbers, read once for every output that draws
or alerts on them (the pilot dashboard's thresholds, the pilot alerts), so they cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass

from collector.config import CollectorConfig


@dataclass(frozen=True)
class SiteLimits:
    """One site's limits, None where the config gives none (then nothing is drawn or
    alerted on). Seconds, ratios and bytes per second."""

    site: str
    max_dui_p95: float | None  # prerequisites.site.max_dui_p95, else the contracts' slow_threshold
    max_dui_rtt: float | None
    max_loss: float | None
    max_gateway_rtt: float | None
    min_download_per_user: float | None
    users: int | None
    # the site's link as a whole: min_download_per_user × users; below it "link saturated"
    min_download: float | None


def slow_threshold(config: CollectorConfig) -> float | None:
    """The strictest contract's `slow_threshold`: a page slower than it fails that contract."""
    return min((float(c.availability.slow_threshold) for c in config.contracts), default=None)


def site_limits(config: CollectorConfig, site: str) -> SiteLimits:
    pre = config.prerequisites.site if config.prerequisites else None
    conf = config.sites.get(site)
    users = conf.users if conf is not None else None

    def seconds(value: float | None) -> float | None:
        return float(value) if value is not None else None

    p95 = seconds(pre.max_dui_p95) if pre is not None else None
    per_user = float(pre.min_download_per_user) if pre and pre.min_download_per_user else None
    return SiteLimits(
        site=site,
        max_dui_p95=p95 if p95 is not None else slow_threshold(config),
        max_dui_rtt=seconds(pre.max_dui_rtt) if pre is not None else None,
        max_loss=pre.max_loss if pre is not None else None,
        max_gateway_rtt=seconds(pre.max_gateway_rtt) if pre is not None else None,
        min_download_per_user=per_user,
        users=users,
        min_download=per_user * users if per_user is not None and users else None,
    )


def pilot_sites(config: CollectorConfig) -> list[str]:
    """The configured sites with `pilot: true`, sorted."""
    return sorted(sid for sid, s in config.sites.items() if s.pilot)


def pilot_limits(config: CollectorConfig) -> dict[str, SiteLimits]:
    """site → limits, for every pilot site."""
    return {sid: site_limits(config, sid) for sid in pilot_sites(config)}
