"""Secret files (MQTT passwords, tokens, synthetic accounts), read and stripped; an
unreadable one raises SecretError naming the file and why, never its content."""

from __future__ import annotations

import hmac
import os


class SecretError(Exception):
    """A secret file that cannot be read; the message names the file, not the content."""


def read_secret(path: str | os.PathLike[str]) -> str:
    """The file's text without surrounding whitespace (a trailing newline is usual). An
    empty one is an error: compared as it is, "Bearer " would let anyone in."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read().strip()
    except OSError as exc:
        raise SecretError(f"{path}: cannot read the secret file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:  # its message would quote the file's bytes
        raise SecretError(f"{path}: the secret file is not UTF-8 text") from None
    if not text:
        raise SecretError(f"{path}: the secret file is empty")
    return text


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison of a credential as received: compared as bytes, so that a
    header with non-ASCII characters is a mismatch, not an error."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
    )
