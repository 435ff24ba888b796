"""Reading input files safely, and names that are safe as folder names.

Every text file a command reads (scenario TOML, rate tables, price lists) goes through
``read_text``: the path must name a regular file (no device, FIFO or folder; symlinks are
followed and the target checked), at most a size cap, decoded strictly as UTF-8 (a byte
order mark is allowed). A file named by a scenario is resolved with ``resolve_inside``:
a relative path, symlinks followed, must stay inside the scenario's folder unless the
scenario allows others. Errors are one ``FileRuleError`` line naming the path and never
quoting the file's contents.

``name_error`` and ``slug`` keep run folder names to one path component.

Imports only the standard library.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from sim.core.errors import InputError

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
MAX_NAME_CHARS = 100
"""Longest run or scenario name (a run folder adds a timestamp)."""


class FileRuleError(InputError):
    """A file that cannot be read as input: ``path: message``."""

    def __init__(self, path: str | os.PathLike[str], message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = str(path)
        self.message = message


def refuse_under_file(out: Path, advice: str = "") -> None:
    """Refuse an output path whose nearest existing parent is a file, not a folder."""
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"{out}: {parent} is a file, not a folder{advice}")
            return


def name_error(name: object) -> str | None:
    """Return why ``name`` cannot name a run folder, or None (the empty name is allowed)."""
    if not isinstance(name, str):
        return "expected a string"
    if name == "":
        return None
    if len(name) > MAX_NAME_CHARS:
        return f"must be at most {MAX_NAME_CHARS} characters"
    if not _NAME_RE.match(name) or ".." in name:
        return (
            f"must be a plain name of letters, digits, '.', '_', '+' and '-' (no '/', "
            f"no '..', not starting with '.'), got {name[:40]!r}; try {slug(name)!r}"
        )
    return None


def slug(name: str) -> str:
    """Return ``name`` as a safe folder name: other characters become ``-``."""
    text = re.sub(r"[^A-Za-z0-9._+-]+", "-", name)
    text = re.sub(r"\.{2,}", ".", text).strip(".-")
    return text[:MAX_NAME_CHARS] or "run"


def path_of(text: str | os.PathLike[str], what: str = "path") -> Path:
    """Return ``text`` as a path; refuse NUL characters and empty text."""
    raw = os.fspath(text)
    if "\x00" in raw:
        shown = raw.replace("\x00", "\\0")[:80]
        raise FileRuleError(shown, f"{what} contains a NUL character")
    if not raw.strip():
        raise FileRuleError(repr(raw), f"{what} is empty")
    return Path(raw)


def resolve_inside(base: Path, rel: str, allow_outside: bool = False, what: str = "file") -> Path:
    """Return the file a scenario names by ``rel``, relative to folder ``base``.

    A relative path, with every symlink followed, must stay inside ``base`` (the
    scenario's folder) unless ``allow_outside``. An absolute path names its file
    explicitly and is taken as it is.

    Raises
    ------
    FileRuleError
        For a NUL character, or a relative path that leaves ``base``.
    """
    path = path_of(rel, what)
    if path.is_absolute() or allow_outside:
        return path if path.is_absolute() else base / path
    target = base / path
    try:
        real = target.resolve()
        root = base.resolve()
    except (OSError, RuntimeError) as exc:
        raise FileRuleError(target, f"cannot resolve {what}: {_reason(exc)}") from None
    if not real.is_relative_to(root):
        raise FileRuleError(
            target,
            f"{what} {rel!r} lies outside the scenario's folder {root} "
            "(symlinks followed); move it inside, give an absolute path, or set "
            "allow_outside = true in [tariffs]",
        )
    return target


def read_bytes(path: str | os.PathLike[str], max_bytes: int, what: str = "file") -> bytes:
    """Read a regular file of at most ``max_bytes``; raise ``FileRuleError`` otherwise."""
    p = path_of(path, what)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise FileRuleError(p, f"cannot read {what}: no such file") from None
    except IsADirectoryError:
        raise FileRuleError(p, f"is a directory, expected a {what}") from None
    except OSError as exc:
        raise FileRuleError(p, f"cannot read {what}: {_reason(exc)}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise FileRuleError(p, f"is a directory, expected a {what}")
        if not stat.S_ISREG(info.st_mode):
            raise FileRuleError(
                p, f"not a regular file (a device, FIFO or socket), expected a {what}"
            )
        if info.st_size > max_bytes:
            raise FileRuleError(p, f"{what} is larger than {_size(max_bytes)}")
        chunks = []
        left = max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
    except OSError as exc:
        raise FileRuleError(p, f"cannot read {what}: {_reason(exc)}") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise FileRuleError(p, f"{what} is larger than {_size(max_bytes)}")
    return data


def decode_text(data: bytes, path: str | os.PathLike[str], what: str = "file") -> str:
    """Decode UTF-8 strictly (a leading byte order mark is dropped); refuse NUL bytes."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileRuleError(
            path, f"{what} is not UTF-8 text (undecodable byte at offset {exc.start})"
        ) from None
    if "\x00" in text:
        raise FileRuleError(path, f"{what} is binary (NUL bytes), expected UTF-8 text")
    return text


def read_text(path: str | os.PathLike[str], max_bytes: int, what: str = "file") -> str:
    """Read a regular UTF-8 text file of at most ``max_bytes`` (``read_bytes``, ``decode_text``)."""
    return decode_text(read_bytes(path, max_bytes, what), path, what)


MAX_MANIFEST_BYTES = 64 << 20


def read_manifest(
    path: str | os.PathLike[str], max_bytes: int = MAX_MANIFEST_BYTES
) -> dict[str, Any]:
    """Read a run folder's ``manifest.json``: a JSON object, else one-line ``FileRuleError``."""
    text = read_text(path, max_bytes, "manifest")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileRuleError(
            path, f"manifest is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise FileRuleError(path, "manifest is nested too deeply to be a ccsim manifest") from None
    if not isinstance(value, dict):
        raise FileRuleError(path, "manifest is not a JSON object: not a ccsim run folder")
    return value


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n:,} bytes"


def _reason(exc: BaseException) -> str:
    return (getattr(exc, "strerror", None) or type(exc).__name__).lower()


__all__ = [
    "MAX_NAME_CHARS",
    "FileRuleError",
    "decode_text",
    "name_error",
    "path_of",
    "read_bytes",
    "read_manifest",
    "read_text",
    "refuse_under_file",
    "resolve_inside",
    "slug",
]
