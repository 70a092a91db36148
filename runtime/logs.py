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
