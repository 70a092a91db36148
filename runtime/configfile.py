"""Config files of both sides: YAML in, strict msgspec Structs out, one-line errors.

Durations (`30s`) and sizes (`50MB`) as types, unknown keys refused, files that
must exist checked, and msgspec's error paths turned into `file: key: message`.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import msgspec.inspect
import yaml

from runtime.units import parse_duration, parse_size
from wire.schema import ID_PATTERN

T = TypeVar("T")


class Duration(float):
    """Seconds, written `30s` in the file."""


class Size(int):
    """Bytes, written `50MB` in the file."""


class ConfigError(Exception):
    """A config mistake, worded for the person who edits the file."""


def dec_hook(tp: type, obj: Any) -> Any:
    if tp is Duration:
        return Duration(parse_duration(obj))
    if tp is Size:
        return Size(parse_size(obj))
    raise NotImplementedError(tp)


def positive(value: float, what: str) -> None:
    if value <= 0:
        raise ValueError(f"{what} must be greater than zero")


class Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# Keys that name a file the agent must be able to read at start.
_FILE_KEYS = (
    "password_file",
    "ca_file",
    "cert_file",
    "key_file",
    "token_file",
    "file",
    "evidence_token_file",
)
# Of those, the ones holding a secret: an empty one would be an empty password or token.
_SECRET_KEYS = ("password_file", "token_file", "file", "evidence_token_file")


def check_files(node: Any, path: str, base: Path) -> None:
    if isinstance(node, msgspec.Struct):
        if not getattr(node, "files_read_at_start", True):
            return  # files another command writes or reads (the broker's), not the service
        for field in node.__struct_fields__:
            value = getattr(node, field)
            where = f"{path}.{field}" if path else field
            if field in _FILE_KEYS and value is not None:
                resolved = (base / value) if not os.path.isabs(value) else Path(value)
                if not resolved.is_file():
                    raise ConfigError(f"{where}: file {value!r} not found")
                if not os.access(resolved, os.R_OK):
                    raise ConfigError(f"{where}: file {value!r} is not readable")
                if field in _SECRET_KEYS:
                    _check_secret(resolved, where, value)
                setattr(node, field, str(resolved))
            else:
                check_files(value, where, base)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            check_files(item, f"{path}[{i}]", base)


def _check_secret(path: Path, where: str, value: str) -> None:
    """A secret file must hold UTF-8 text that is not blank; its content is never quoted."""
    try:
        text = path.read_bytes()[: 1 << 20].decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: file {value!r} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"{where}: file {value!r} cannot be read: {exc.strerror}") from None
    if not text.strip():
        raise ConfigError(f"{where}: file {value!r} is empty")


_PLAIN_WORDS = (
    ("Object contains unknown field", "unknown key"),
    ("Object missing required field", "missing required key"),
    (
        f"Expected `str` matching regex '{ID_PATTERN}'",
        "must be 1 to 63 lower-case letters, digits or '-', starting with a letter or digit",
    ),
    ("Expected `array` of length >= 1", "must list at least one entry"),
)


def where(message: str, root: type | None = None) -> str:
    """msgspec's `... - at `$.a[0].b`` becomes `a[0].b: ...`."""
    match = re.match(r"^(.*) - at `\$\.?(.*)`$", message, re.S)
    text, path = match.groups() if match else (message, "")
    for old, new in _PLAIN_WORDS:
        text = text.replace(old, new)
    if text.startswith("Invalid enum value") and path:
        choices = _choices(root, path) if root is not None else ()
        if choices:
            text += f" (choose from {', '.join(map(repr, choices))})"
    return f"{path}: {text}" if path else text


def _choices(root: type, path: str) -> tuple[Any, ...]:
    """Allowed values of the Literal field at a dotted path such as `targets[0].role`."""
    info: Any = msgspec.inspect.type_info(root)
    for part in re.sub(r"\[\d+\]", "", path).split("."):
        while isinstance(info, msgspec.inspect.UnionType):
            info = next(t for t in info.types if not isinstance(t, msgspec.inspect.NoneType))
        if isinstance(info, msgspec.inspect.ListType):
            info = info.item_type
        if not isinstance(info, msgspec.inspect.StructType):
            return ()
        field = next((f for f in info.fields if f.name == part), None)
        if field is None:
            return ()
        info = field.type
        if isinstance(info, msgspec.inspect.ListType):
            info = info.item_type
    return tuple(info.values) if isinstance(info, msgspec.inspect.LiteralType) else ()


def parse_as(
    data: Any, schema: type[T], base: Path | None = None, *, check_files_: bool = True
) -> T:
    """Validate a loaded mapping against `schema`. Raises ConfigError.

    `check_files_=False` skips opening the files it names (secrets, certificates), for tools
    that read only the rest, such as `dui-dashboards` run without the service's rights."""
    if not isinstance(data, dict):
        raise ConfigError("the file must hold a mapping of keys")
    try:
        config = msgspec.convert(data, schema, dec_hook=dec_hook)
    except msgspec.ValidationError as exc:
        raise ConfigError(where(str(exc), schema)) from None
    if check_files_:
        check_files(config, "", base or Path.cwd())
    return config


def read_yaml(path: Path) -> Any:
    """The YAML document of a config file. Raises ConfigError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}: line {line}: the config file is not UTF-8 text; save it as UTF-8"
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}:{at}: not valid YAML: {problem}") from None
