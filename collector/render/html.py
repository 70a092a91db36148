"""The HTML pages: one autoescaped Jinja environment over templates/ and the fr/en
strings (every `strings*.json` beside this file, merged), shared by the report and the
HTTP server's status page. Figures are formatted by `formats`, never in a template."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import jinja2

from collector.render import formats

HERE = Path(__file__).parent


def _strings() -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {}
    for path in sorted(HERE.glob("strings*.json")):
        for lang, texts in json.loads(path.read_text(encoding="utf-8")).items():
            clash = set(merged.get(lang, {})) & set(texts)
            if clash:
                raise RuntimeError(f"{path.name}: {lang} strings defined twice: {sorted(clash)}")
            merged.setdefault(lang, {}).update(texts)
    return merged


STRINGS = _strings()
LANGS = tuple(STRINGS)
_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,  # a missing string or field fails the render, loudly
)


def render(template: str, lang: str, **context: Any) -> str:
    """A page of templates/ in `lang`: the strings as `t`, the formats bound to `lang`."""
    return _environment.get_template(template).render(
        lang=lang,
        t=STRINGS[lang],
        pct=partial(formats.percent, lang=lang),
        num=partial(formats.number, lang=lang),
        money=partial(formats.money, lang=lang),
        moment=partial(formats.moment, lang=lang),
        day=partial(formats.day, lang=lang),
        month=partial(formats.month, lang=lang),
        duration=partial(formats.duration, lang=lang),
        **context,
    )


def report_html(document: dict[str, Any], lang: str = "fr") -> str:
    """The report a COPIL signs, self-contained and printable on A4 (collector/render/report.py
    lays out its sections)."""
    from collector.render.report import view

    return render("report.html", lang, r=document, v=view(document, STRINGS[lang], lang))
