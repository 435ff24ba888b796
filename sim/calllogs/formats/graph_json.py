"""Graph ``getPstnCalls`` JSON: rows streamed one object at a time, numbers kept as text.

``_json_chunks`` gathers the rows' fields into raw chunks; rows that are not
``pstnCallLogRow`` objects, or that give a field twice, are reported as bad. Records are
numbered from 1 across all the pages of a file, in file order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from sim.calllogs.formats.fields import (
    _GRAPH_FIELDS,
    READ_ERRORS,
    _describe_read_error,
    _RawChunk,
)
from sim.calllogs.report import ImportOptions, ImportReport, _bad, _truncated
from sim.core.errors import InputError


class JsonNumber(str):
    """A JSON number kept as its literal text (so that charges stay exact decimals)."""


class _JsonObject(dict[str, Any]):
    """A JSON object that remembers the keys given more than once."""

    repeated: tuple[str, ...] = ()


def _object_of(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = _JsonObject(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        repeated = []
        for k, _ in pairs:
            if k in seen:
                repeated.append(k)
            seen.add(k)
        out.repeated = tuple(repeated)
    return out


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, JsonNumber):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


class _JsonRows:
    """Stream the rows of Graph ``getPstnCalls`` JSON, one object at a time.

    Accepts one page ``{"value": [...], ...}``, pages one after the other, or a JSON array
    of pages or of rows. Values are decoded with ``raw_decode`` from a text buffer that is
    refilled as needed; numbers are kept as their literal text (exact charges).
    """

    _WS = re.compile(r"[ \t\n\r]*")
    _MAX_RECORD_CHARS = 4 << 20
    _NUMBER_LOOKAHEAD = 64

    def __init__(self, text: IO[str], path: Path, read_chars: int) -> None:
        self._text = text
        self._path = path
        self._read = read_chars
        self._buf = ""
        self._pos = 0
        self._offset = 0  # characters dropped from the front of the buffer
        self._eof = False
        self._decoder = json.JSONDecoder(
            parse_float=JsonNumber,
            parse_int=JsonNumber,
            parse_constant=JsonNumber,
            object_pairs_hook=_object_of,
        )
        self.record = 0
        self.pages = 0

    # -- buffer ------------------------------------------------------------------------
    def _fill(self, at_least: int = 0) -> bool:
        """Read more text (``at_least`` characters, if more than the chunk size)."""
        if self._eof:
            return False
        try:
            data = self._text.read(max(self._read, at_least))
        except UnicodeDecodeError:
            raise
        except READ_ERRORS as exc:
            where = f"after record {self.record}" if self.record else "top level"
            raise InputError(f"{self._path}: {where}: {_describe_read_error(exc)}") from None
        if not data:
            self._eof = True
            return False
        if self._pos:
            self._offset += self._pos
            self._buf = self._buf[self._pos :]
            self._pos = 0
        self._buf += data
        return True

    def _peek(self) -> str | None:
        while True:
            m = self._WS.match(self._buf, self._pos)
            assert m is not None
            self._pos = m.end()
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._fill():
                return None

    def _error(self, what: str) -> InputError:
        where = f"record {self.record + 1}" if self.pages else "top level"
        return InputError(
            f"{self._path}: {where} (character {self._offset + self._pos + 1}): malformed "
            f'JSON: {what}; expected Graph getPstnCalls pages {{"value": [...]}}'
        )

    def _expect(self, char: str) -> None:
        c = self._peek()
        if c != char:
            found = "end of file" if c is None else repr(c)
            raise self._error(f"expected {char!r}, found {found}")
        self._pos += 1

    def _decode(self) -> Any:
        if self._peek() is None:
            raise self._error("unexpected end of file")
        while True:
            try:
                value, end = self._decoder.raw_decode(self._buf, self._pos)
            except RecursionError:  # arrays in arrays, thousands deep: no call record
                raise self._error("nested too deeply for a call record") from None
            except json.JSONDecodeError as exc:
                # Perhaps cut short by the end of the buffer: read as much again (so a
                # long value takes a logarithmic number of attempts) and retry.
                pending = len(self._buf) - self._pos
                if pending > self._MAX_RECORD_CHARS or not self._fill(at_least=pending):
                    raise self._error(exc.msg) from None
                continue
            if (
                isinstance(value, JsonNumber)
                and len(self._buf) - end < self._NUMBER_LOOKAHEAD
                and self._fill()
            ):
                continue  # a number ("0" of "0.25") may go on in the next chunk
            self._pos = end
            return value

    # -- structure ---------------------------------------------------------------------
    def __iter__(self) -> Iterator[tuple[int, Any]]:
        while True:
            c = self._peek()
            if c is None:
                return
            if c == "{":
                yield from self._object()
            elif c == "[":
                self._pos += 1
                if self._peek() == "]":
                    self._pos += 1
                    continue
                while True:
                    if self._peek() == "{":
                        yield from self._object()
                    else:
                        self.pages += 1
                        self.record += 1
                        yield self.record, self._decode()
                    c = self._peek()
                    if c == ",":
                        self._pos += 1
                    elif c == "]":
                        self._pos += 1
                        break
                    else:
                        raise self._error(f"expected ',' or ']', found {c!r}")
            else:
                raise self._error(f"expected '{{' or '[', found {c!r}")

    def _object(self) -> Iterator[tuple[int, Any]]:
        """Read one object: a page (stream its ``value`` rows) or a row itself."""
        self._expect("{")
        self.pages += 1
        fields: dict[str, Any] = {}
        paged = False
        if self._peek() == "}":
            self._pos += 1
        else:
            while True:
                if self._peek() != '"':
                    raise self._error("expected a quoted key")
                key = self._decode()
                self._expect(":")
                if key == "value" and self._peek() == "[":
                    paged = True
                    yield from self._rows()
                else:
                    fields[key] = self._decode()
                c = self._peek()
                if c == ",":
                    self._pos += 1
                elif c == "}":
                    self._pos += 1
                    break
                else:
                    found = "end of file" if c is None else repr(c)
                    raise self._error(f"expected ',' or '}}', found {found}")
        if not paged:
            self.record += 1
            yield self.record, fields

    def _rows(self) -> Iterator[tuple[int, Any]]:
        self._expect("[")
        if self._peek() == "]":
            self._pos += 1
            return
        while True:
            row = self._decode()
            self.record += 1
            yield self.record, row
            c = self._peek()
            if c == ",":
                self._pos += 1
            elif c == "]":
                self._pos += 1
                return
            else:
                found = "end of file" if c is None else repr(c)
                raise self._error(f"expected ',' or ']' after a row, found {found}")


def _record_problem(row: Any, keys: list[tuple[str, str]]) -> tuple[str, str] | None:
    """Return (field, reason) when a record is no call log row, else None."""
    if not isinstance(row, dict):
        return "row", f"expected an object, got {_json_type(row)}"
    if not any(k in row for k, _ in keys):
        shown = ", ".join(_truncated(str(k), 20) for k in list(row)[:5]) or "no keys"
        return "row", f"not a pstnCallLogRow (keys: {shown})"
    known = [k for k in getattr(row, "repeated", ()) if k in _GRAPH_FIELDS]
    if known:
        return (
            _GRAPH_FIELDS[known[0]],
            f"{known[0]!r} is given twice in the record; a row has one value per field",
        )
    return None


def _json_chunks(
    text: IO[str], path: Path, options: ImportOptions, report: ImportReport
) -> Iterator[_RawChunk]:
    keys = list(_GRAPH_FIELDS.items())
    cols: dict[str, list[Any]] = {v: [] for _, v in keys}
    where: list[int] = []
    reader = _JsonRows(text, path, options.read_chars)
    for record, row in reader:
        report.rows += 1
        problem = _record_problem(row, keys)
        if problem is not None:
            if options.strict and where:
                # The rows before it go first, so a strict import stops at the first bad one.
                yield cols, where
                cols = {v: [] for _, v in keys}
                where = []
            _bad(report, options, path, f"record {record}", *problem)
            continue
        for k, v in keys:
            cols[v].append(row.get(k))
        where.append(record)
        if len(where) >= options.chunk_rows:
            yield cols, where
            cols = {v: [] for _, v in keys}
            where = []
    if where:
        yield cols, where


__all__ = [
    "JsonNumber",
]
