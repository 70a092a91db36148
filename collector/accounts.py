"""The broker's accounts and ACL as files (docs/broker.md): Mosquitto 2 password hashes
made in Python, the ACL generated from the password file, both rewritten under a lock so
that two `dui-collector agents` runs never interleave their writes.

An agent's account is `{org}.{site}.{agent}`: ids never hold a dot, so the name splits
back unambiguously. The ACL has one explicit `user` block per agent (no `pattern … %u`:
the username is not a topic path)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

from wire.schema import COLLECTOR_STATUS_TOPIC, ID_PATTERN, RESULTS_SUBSCRIPTION, agent_topics

ITERATIONS = 101  # what mosquitto_passwd 2.0 writes; the salt and the password carry the strength
SALT_BYTES = 12
PASSWORD_BYTES = 24  # 192 bits
_ID = ID_PATTERN.strip("^$")
AGENT_USER = re.compile(rf"({_ID})\.({_ID})\.({_ID})")
STATUS_SUBSCRIPTION = "dui/v1/+/+/+/status"
ACK_PUBLICATION = "dui/v1/+/+/+/ack"


class AccountError(Exception):
    """A broker file that cannot be read or written, or an account that is not as asked."""


def username(org: str, site: str, agent: str) -> str:
    return f"{org}.{site}.{agent}"


def new_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


def hash_password(password: str, salt: bytes | None = None) -> str:
    """Mosquitto 2's `$7$`: PBKDF2-HMAC-SHA512, `$7$iterations$salt$hash`, base64."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, ITERATIONS, 64)
    return f"$7${ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def read_passwords(path: Path) -> dict[str, str]:
    """username → hash line as written, in file order; a missing file is empty."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise AccountError(f"{path}: cannot read the password file: {_why(exc)}") from None
    entries: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, hashed = line.partition(":")
        if not sep or not name:
            raise AccountError(f"{path}: line {number}: not `username:hash`")
        entries[name] = hashed
    return entries


def agent_ids(entries: dict[str, str]) -> list[tuple[str, str, str]]:
    """(org, site, agent) of every agent account, sorted."""
    found = (AGENT_USER.fullmatch(name) for name in entries)
    return sorted(m.groups() for m in found if m)  # type: ignore[misc]


def render_acl(collector: str, agents: list[tuple[str, str, str]]) -> str:
    """The whole ACL: the collector reads results and statuses and writes acks and its
    status; each agent writes its own results and status and reads its ack and the
    collector's status. Anything not listed is denied."""
    lines = [
        "# Written by `dui-collector agents`: edits here are lost at its next run.",
        "# Only the collector writes acks and dui/v1/_collector/status.",
        f"user {collector}",
        f"topic read {RESULTS_SUBSCRIPTION}",
        f"topic read {STATUS_SUBSCRIPTION}",
        f"topic write {ACK_PUBLICATION}",
        f"topic readwrite {COLLECTOR_STATUS_TOPIC}",
    ]
    for org, site, agent in agents:
        topics = agent_topics(org, site, agent)
        lines += [
            "",
            f"user {username(org, site, agent)}",
            f"topic write {topics['results']}",
            f"topic write {topics['status']}",
            f"topic read {topics['ack']}",
            f"topic read {COLLECTOR_STATUS_TOPIC}",
        ]
    return "\n".join(lines) + "\n"


def render_passwords(entries: dict[str, str]) -> str:
    return "".join(f"{name}:{hashed}\n" for name, hashed in entries.items())


def write_atomic(path: Path, text: str, mode: int = 0o600) -> None:
    """Write beside, fsync, rename: a reader (the broker on reload) sees the old file or
    the new one, never half of one."""
    try:
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as exc:
        raise AccountError(f"{path}: cannot write: {_why(exc)}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise AccountError(f"{path}: cannot write: {_why(exc)}") from None


def write_in_place(path: Path, text: str) -> None:
    """Rewrite the broker's file in the same inode (a new one is made 0600): a file
    bind-mounted into the broker's container would keep showing the old inode after a
    rename. Mosquitto reads it only at start and on the reload sent after this returns;
    our own writers are kept apart by `locked`."""
    data = text.encode("utf-8")
    new = not path.exists()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            view = memoryview(data)
            while view:  # each write moves at least one byte, or raises
                view = view[os.write(fd, view) :]
            os.ftruncate(fd, len(data))
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise AccountError(f"{path}: cannot write: {_why(exc)}") from None
    if new:
        _owned_like_its_folder(path)


def _owned_like_its_folder(path: Path) -> None:
    """A new broker file gets its folder's owner: Mosquitto drops root and reads its files
    as its own user, and a root-owned 0600 file would lock every client out at the reload."""
    folder = path.parent.stat()
    with contextlib.suppress(PermissionError):  # not root: the file is already ours
        os.chown(path, folder.st_uid, folder.st_gid)


@contextlib.contextmanager
def locked(password_file: Path) -> Iterator[None]:
    """Hold `<password_file>.lock` for a read-modify-write of the password file and ACL."""
    import fcntl  # POSIX: the broker's files are kept on its (Linux) host

    lock = password_file.with_name(password_file.name + ".lock")
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise AccountError(f"{lock}: cannot open the lock file: {_why(exc)}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _why(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or type(exc).__name__
