"""The HTML pages: one autoescaped Jinja environment over templates/ and the fr/en
strings, shared by the report and the HTTP server's status page."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2

HERE = Path(__file__).parent
STRINGS: dict[str, dict[str, str]] = json.loads((HERE / "strings.json").read_text(encoding="utf-8"))
LANGS = tuple(STRINGS)
_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True
)


def render(template: str, lang: str, **context: Any) -> str:
    """A page of templates/ in `lang`, with the strings as `t` and the number formats."""
    return _environment.get_template(template).render(
        lang=lang,
        t=STRINGS[lang],
        pct=lambda v: percent(v, lang),
        num=lambda v: number(v, lang),
        money=lambda p: money(p, lang),
        **context,
    )


def percent(value: float | None, lang: str) -> str:
    if value is None:
        return "—"
    text = f"{value * 100:.3f} %"
    return text.replace(".", ",") if lang == "fr" else text


def number(value: float, lang: str) -> str:
    text = f"{value:,}"
    return text.replace(",", "\u202f") if lang == "fr" else text


def money(penalty: dict[str, Any] | None, lang: str) -> str:
    if penalty is None:
        return "—"
    text = f"{Decimal(penalty['amount']):,.2f}"
    if lang == "fr":
        text = text.replace(",", "\u202f").replace(".", ",")
    return f"{text} {'€' if penalty['currency'] == 'EUR' else penalty['currency']}"


def report_html(document: dict[str, Any], lang: str = "fr") -> str:
    """A printable page of the report document's figures."""
    return render("report.html", lang, r=document)
