"""Structured logs for every dui-sla process: one `key=value` line per event on stderr.

Callers pass fields with `extra={"fields": {...}}`; never pass a secret.
"""

from __future__ import annotations

import json
import logging
import sys
import time


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        parts = [
            f"ts={stamp}.{int(record.msecs):03d}Z",
            f"level={record.levelname.lower()}",
            f"logger={record.name}",
            f"event={_quote(record.getMessage())}",
        ]
        fields = getattr(record, "fields", None) or {}
        parts.extend(f"{key}={_quote(value)}" for key, value in fields.items())
        if record.exc_info:
            parts.append(f"exc={_quote(self.formatException(record.exc_info))}")
        return " ".join(parts)


def _quote(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if text and all(c.isalnum() or c in "-_.:/@+" for c in text):
        return text
    return json.dumps(text, ensure_ascii=False)


def setup(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # paho and aiomqtt are chatty at debug; keep them at warning unless asked.
    for name in ("aiomqtt", "paho", "asyncio"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


def fields(**kwargs: object) -> dict[str, dict[str, object]]:
    """`log.info("event", extra=fields(a=1))`."""
    return {"fields": kwargs}


class Throttle:
    """When a repeating log line is due: the first time for a key, when its value changes,
    then at most once per `every` seconds; it counts the lines left out in between."""

    MAX_KEYS = 1000  # a flood of distinct keys never grows it without bound

    def __init__(self, every: float) -> None:
        self.every = every
        self._last: dict[object, tuple[float, object]] = {}
        self._skipped: dict[object, int] = {}

    def due(self, key: object, value: object = None) -> int | None:
        """The number of lines left out since the last one when this one is due, else None."""
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and last[1] == value and now - last[0] < self.every:
            self._skipped[key] = self._skipped.get(key, 0) + 1
            return None
        if len(self._last) >= self.MAX_KEYS and key not in self._last:
            self._last.clear()
            self._skipped.clear()
        self._last[key] = (now, value)
        return self._skipped.pop(key, 0)

    def forget(self, key: object) -> None:
        """The condition ended: its next occurrence is logged at once."""
        self._last.pop(key, None)
        self._skipped.pop(key, None)
