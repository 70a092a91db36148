"""The report as PDF: the same self-contained HTML laid out on A4 by WeasyPrint, an
optional extra (`pip install 'dui-sla[pdf]'`) because it pulls in Pango from the OS."""

from __future__ import annotations

from typing import Any

EXTRA = "pip install 'dui-sla[pdf]'"


class PdfUnavailable(Exception):
    """WeasyPrint is not installed, or cannot load its system libraries."""


def _no_fetch(url: str, *args: Any, **kwargs: Any) -> dict:
    # the report is self-contained: a URL in it is a bug, never a request
    raise ValueError(f"the report does not fetch {url}")


def report_pdf(html: str) -> bytes:
    """The PDF of a report page."""
    try:
        import weasyprint
    except ImportError:
        raise PdfUnavailable(f"--format pdf needs WeasyPrint: {EXTRA}") from None
    except OSError as exc:  # installed, but Pango or its friends are missing
        raise PdfUnavailable(
            f"WeasyPrint cannot load its system libraries ({str(exc).splitlines()[0]}): "
            "install Pango (Debian: apt-get install libpango-1.0-0 libpangoft2-1.0-0 "
            "libharfbuzz-subset0)"
        ) from None
    return weasyprint.HTML(string=html, url_fetcher=_no_fetch).write_pdf()
