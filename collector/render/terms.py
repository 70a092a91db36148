"""The contract's clauses and penalty as the report writes them out: each clause with
its measured figure, its contractual target and its verdict, and the penalty's
calculation line by line with the period's numbers. A field an older document lacks
falls back on what it still says."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from functools import partial
from typing import Any

from collector.render import formats

CLAUSES = ("availability", "rto", "rpo", "backup_frequency", "retention", "restore_test")


def _figure(value: Any, clause: str, lang: str) -> str:
    """A clause figure: a ratio for availability, a duration for the others."""
    if value is None:
        return formats.DASH
    if clause == "availability":
        return formats.percent(value, lang)
    return formats.duration(value, lang)


def _fallback_figures(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What an older document without `clause_figures` still says about each clause."""
    b, t = doc.get("backups") or {}, doc.get("restore_tests") or {}
    rto = [i["duration_seconds"] for i in doc.get("incidents", [])]
    return {
        "availability": {"figure": doc.get("availability"), "target": doc.get("objective")},
        "rto": {"figure": max(rto) if rto else None, "target": doc.get("rto_seconds")},
        "rpo": {"figure": b.get("largest_gap_seconds"), "target": doc.get("rpo_seconds")},
        "backup_frequency": {"figure": None, "target": None},
        "retention": {"figure": None, "target": None},
        "restore_test": {"figure": t.get("last_duration_seconds"), "target": None},
    }


def clauses(doc: dict[str, Any], t: dict[str, str], lang: str) -> list[dict[str, Any]]:
    """One entry per clause: label, whether the contract has it, figure, target, verdict."""
    verdicts = doc.get("clauses") or {}
    figures = doc.get("clause_figures") or {}
    terms = doc.get("terms") or {}
    fallback = _fallback_figures(doc)
    out = []
    for key in CLAUSES:
        given = figures.get(key)
        f = given or fallback[key]
        compliant = given.get("compliant") if given else verdicts.get(key)
        # in the contract: it has a target, or the engine judged it
        in_contract = verdicts.get(key) is not None or f.get("target") is not None
        details = []
        clock = terms.get("rto_clock")
        if key == "rto" and clock in ("wall", "service_hours"):
            details.append((t["rto_clock"], t[f"clock_{clock}"]))
        if given and "breaches" in given:
            details.append((t["breaches"], formats.number(given["breaches"], lang)))
        if given and "duration_seconds" in given:
            details.append(
                (
                    t["restore_duration"],
                    f"{formats.duration(given['duration_seconds'], lang)} "
                    f"({t['target_lc']} {formats.duration(given.get('duration_target'), lang)})",
                )
            )
        out.append(
            {
                "key": key,
                "label": t[f"clause_{key}"],
                "explain": t[f"clause_{key}_explain"],
                "in_contract": in_contract,
                "figure": _figure(f.get("figure"), key, lang),
                "target": _figure(f.get("target"), key, lang),
                "verdict": None if compliant is None else ("pass" if compliant else "fail"),
                "details": details,
            }
        )
    return out


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _points(value: Decimal, lang: str) -> str:
    """A contract's percentage as written in it (`5`, `2.5`): `5 %`, `2,5 %`."""
    exponent = value.normalize().as_tuple().exponent
    places = max(0, -exponent) if isinstance(exponent, int) else 0
    return formats.percent(value / 100, lang, places)


def penalty(doc: dict[str, Any], t: dict[str, str], lang: str) -> dict[str, Any] | None:
    """The penalty and its calculation, line by line, with the actual numbers."""
    p = doc.get("penalty")
    if not p:
        return None
    currency = p.get("currency", "EUR")
    money = partial(formats.money, currency=currency, lang=lang)
    lines: list[tuple[str, str]] = []
    below, step = _decimal(p.get("below")), _decimal(p.get("step"))
    exact = doc.get("availability_exact")
    if below is not None and step is not None and doc.get("availability") is not None:
        a = Fraction(exact) if exact else Fraction(str(doc["availability"]))
        quotient = (Fraction(below) - a) / Fraction(step)
        rounding = "⌊" if p.get("rounding") == "completed" else "⌈"
        close = "⌋" if rounding == "⌊" else "⌉"
        pct = partial(formats.percent, lang=lang)
        if quotient <= 0:  # at or above the threshold: no step
            said = f"{pct(doc['availability'])} ≥ {pct(float(below))} → {formats.number(0, lang)}"
        else:
            said = (
                f"{rounding}({pct(float(below))} − {pct(doc['availability'])}) / "
                f"{pct(float(step))}{close} = {rounding}{formats.number(float(quotient), lang, 3)}"
                f"{close} = {formats.number(p['steps'], lang)}"
            )
        lines.append((t["pen_steps"], said))
    else:
        lines.append((t["pen_steps"], formats.number(p.get("steps"), lang)))
    per_step = _decimal(p.get("percent_per_step"))
    if per_step is not None:
        lines.append(
            (
                t["pen_steps_percent"],
                f"{formats.number(p['steps'], lang)} × {_points(per_step, lang)} = "
                f"{_points(p['steps'] * per_step, lang)}",
            )
        )
    if "rto_breaches" not in p:  # an older document: the count from its incidents
        breaches = sum(1 for i in doc.get("incidents", []) if i.get("rto_breach"))
        lines.append((t["pen_rto"], formats.number(breaches, lang)))
    for kind in ("rto", "rpo"):
        each = _decimal(p.get(f"per_{kind}_breach_percent"))
        count = p.get(f"{kind}_breaches")
        if each is not None and count is not None and (each or count):
            lines.append(
                (
                    t[f"pen_{kind}"],
                    f"{formats.number(count, lang)} × {_points(each, lang)} = "
                    f"{_points(count * each, lang)}",
                )
            )
    fee, percent = _decimal(p.get("monthly_fee")), _decimal(p.get("percent"))
    if percent is not None:
        lines.append((t["pen_percent"], _points(percent, lang)))
    if fee is not None and percent is not None:
        uncapped = p.get("uncapped_amount") or str(fee * percent / 100)
        lines.append(
            (
                t["pen_amount"],
                f"{money(fee)} × {_points(percent, lang)} = {money(uncapped)}",
            )
        )
    cap = _decimal(p.get("cap_percent"))
    if cap is not None and fee is not None:
        bit = t["pen_cap_bit"] if p.get("capped") else t["pen_cap_not_bit"]
        lines.append(
            (
                t["pen_cap"],
                f"{_points(cap, lang)} × {money(fee)} = {money(fee * cap / 100)} ({bit})",
            )
        )
    elif p.get("capped"):
        lines.append((t["pen_cap"], t["pen_cap_bit"]))
    return {"amount": money(p.get("amount")), "lines": lines}
