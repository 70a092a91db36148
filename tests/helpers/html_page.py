"""A rendered HTML page read with the standard library's html.parser, never a regex:
its visible text, each element's text by id, each table's rows, and every tag with
its attributes (to check a page fetches nothing)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

VOID = {"meta", "br", "img", "link", "input", "hr", "source", "col", "wbr"}
BLOCKS = {"p", "div", "h1", "h2", "h3", "tr", "li", "title", "table", "ul"}
HIDDEN = {"style", "script", "head"}


def squeeze(text: str) -> str:
    """ASCII white space collapsed; Babel's no-break spaces (U+00A0, U+202F) are kept."""
    return re.sub(r"[ \t\r\n]+", " ", text).strip()


class Page(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.ids: dict[str, list[str]] = {}
        self.tables: dict[str, list[tuple[str | None, list[str]]]] = {}
        self._stack: list[tuple[str, str | None]] = []
        self._tables: list[str] = []
        self._row: tuple[str | None, list[str]] | None = None
        self._cell: list[str] | None = None
        self._chunks: list[str] = []  # visible text, "\n" at block ends
        self._svg_chunks: list[str] = []  # the same without the charts' text
        self.feed(html)
        self.close()

    def _inside(self, tags: set[str]) -> bool:
        return any(tag in tags for tag, _ in self._stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag in VOID:
            return
        self._stack.append((tag, a.get("id")))
        if a.get("id"):
            self.ids.setdefault(a["id"], [])
        if tag == "table":
            self._tables.append(a.get("id") or f"table-{len(self.tables)}")
            self.tables.setdefault(self._tables[-1], [])
        elif tag == "tr":
            self._row = (a.get("data-key"), [])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID or not any(t == tag for t, _ in self._stack):
            return
        while self._stack:
            open_tag, _ = self._stack.pop()
            if open_tag == tag:
                break
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row[1].append(squeeze("".join(self._cell)))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._tables:
            self.tables[self._tables[-1]].append(self._row)
            self._row = None
        elif tag == "table" and self._tables:
            self._tables.pop()
        if tag in BLOCKS or tag in ("td", "th"):
            for _, element_id in self._stack:
                if element_id:
                    self.ids[element_id].append(" ")
            sep = "\n" if tag in BLOCKS else " | "
            self._chunks.append(sep)
            if not self._inside({"svg"}):
                self._svg_chunks.append(sep)

    def handle_data(self, data: str) -> None:
        if self._inside(HIDDEN):
            return
        for _, element_id in self._stack:
            if element_id:
                self.ids[element_id].append(data)
        if self._cell is not None:
            self._cell.append(data)
        self._chunks.append(data)
        if not self._inside({"svg"}):
            self._svg_chunks.append(data)

    def text(self, charts: bool = True) -> str:
        """The visible text, one line per block; `charts=False` leaves the SVG text out."""
        raw = "".join(self._chunks if charts else self._svg_chunks)
        lines = (squeeze(line).strip(" |") for line in raw.split("\n"))
        return "\n".join(line for line in lines if line)

    def by_id(self, element_id: str) -> str:
        return squeeze("".join(self.ids[element_id]))

    def rows(self, table_id: str) -> dict[str, list[str]]:
        """A table's rows that have a `data-key`, by key."""
        return {key: cells for key, cells in self.tables[table_id] if key}

    def body_rows(self, table_id: str, header: bool = True) -> list[list[str]]:
        """A table's rows, without its first (header) row when it has one."""
        return [cells for _, cells in self.tables[table_id][1 if header else 0 :]]
