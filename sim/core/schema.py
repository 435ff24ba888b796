"""Strict conversion of plain data (parsed TOML) into frozen, typed dataclasses.

``build(cls, data, path)`` walks a dataclass's fields and converts each value by its type
hint, rejecting unknown keys, missing required keys, wrong types and malformed values
with a ``ConfigError`` that carries the dotted path of the offending key. Value rules
that involve one object live in that dataclass's ``__post_init__`` and raise
``FieldError(field, message)``; ``build`` prefixes them with the object's path.

Supported hints: ``bool``, ``int``, ``float``, ``str``, ``Micros`` (decimal string),
``Seconds`` (duration string), ``date``, ``datetime``, ``Literal[...]``, nested
dataclasses, ``tuple[X, ...]``, ``dict[str, X]`` and ``X | None``.

This module imports only ``sim.core.units``.
"""

from __future__ import annotations

import dataclasses
import math
import types
from collections.abc import Mapping
from datetime import date, datetime, time
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from sim.core.units import Micros, Seconds, UnitError, parse_duration, parse_money

T = TypeVar("T")


class ConfigError(ValueError):
    """Invalid input: a dotted path (``recharge.trigger``) and what is allowed there."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


class FieldError(ValueError):
    """Raised by ``__post_init__`` checks: the field (relative to the object) and why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def require(condition: bool, field: str, message: str) -> None:
    """Raise ``FieldError(field, message)`` unless ``condition`` holds."""
    if not condition:
        raise FieldError(field, message)


def join(path: str, key: str | int) -> str:
    """Append a key or an index to a dotted path."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = get_type_hints(cls)
    return _HINTS[cls]


def build(cls: type[T], data: Any, path: str = "") -> T:
    """Build dataclass ``cls`` from a mapping, strictly; errors name the dotted path."""
    if not isinstance(data, Mapping):
        raise ConfigError(path, f"expected a table, got {_describe(data)}")
    known = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(known))
    if unknown:
        allowed = ", ".join(sorted(known))
        raise ConfigError(
            join(path, unknown[0]), f"unknown key {unknown[0]!r} (allowed here: {allowed})"
        )
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for name, field in known.items():
        if name in data:
            kwargs[name] = convert(hints[name], data[name], join(path, name))
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(join(path, name), "missing required key")
    try:
        return cls(**kwargs)
    except FieldError as exc:
        raise ConfigError(join(path, exc.field), exc.message) from None
    except UnitError as exc:
        raise ConfigError(path, str(exc)) from None


def convert(hint: Any, value: Any, path: str) -> Any:
    """Convert one value to the type ``hint``; raise ``ConfigError`` naming ``path``."""
    origin = get_origin(hint)
    if origin is Union or origin is types.UnionType:
        options = [a for a in get_args(hint) if a is not type(None)]
        if value is None and len(options) < len(get_args(hint)):
            return None
        if len(options) == 1:
            return convert(options[0], value, path)
        errors = []
        for option in options:
            try:
                return convert(option, value, path)
            except ConfigError as exc:
                errors.append(exc.message)
        raise ConfigError(path, "; or ".join(errors))
    if origin is Literal:
        allowed = get_args(hint)
        if value not in allowed or isinstance(value, bool) != isinstance(allowed[0], bool):
            shown = ", ".join(repr(a) for a in allowed)
            raise ConfigError(path, f"must be one of {shown}, got {value!r}")
        return value
    if origin is tuple:
        args = get_args(hint)
        if not isinstance(value, list | tuple):
            raise ConfigError(path, f"expected a list, got {_describe(value)}")
        item = args[0]
        return tuple(convert(item, v, join(path, i)) for i, v in enumerate(value))
    if origin is dict:
        key_hint, value_hint = get_args(hint)
        if not isinstance(value, Mapping):
            raise ConfigError(path, f"expected a table, got {_describe(value)}")
        out = {}
        for k, v in value.items():
            out[convert(key_hint, k, join(path, str(k)))] = convert(value_hint, v, join(path, k))
        return out
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return build(hint, value, path)
    return _convert_scalar(hint, value, path)


def _convert_scalar(hint: Any, value: Any, path: str) -> Any:
    if hint is Micros:
        try:
            return parse_money(value)
        except UnitError as exc:
            raise ConfigError(path, str(exc)) from None
    if hint is Seconds:
        try:
            return parse_duration(value)
        except UnitError as exc:
            raise ConfigError(path, str(exc)) from None
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, f"expected true or false, got {_describe(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, f"expected a whole number, got {_describe(value)}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(path, f"expected a number, got {_describe(value)}")
        if not math.isfinite(value):
            raise ConfigError(path, f"expected a finite number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(path, f"expected a string, got {_describe(value)}")
        return value
    if hint is datetime:
        if isinstance(value, datetime):
            return value
        if isinstance(value, date):
            return datetime.combine(value, time())
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value)
            except ValueError:
                pass
        raise ConfigError(
            path, f"expected a date or date-time such as 2026-01-01T09:00, got {value!r}"
        )
    if hint is date:
        if isinstance(value, datetime):
            raise ConfigError(path, f"expected a date such as 2026-01-31, got {value!r}")
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        raise ConfigError(path, f"expected a date such as 2026-01-31, got {value!r}")
    raise TypeError(f"{path}: unsupported type hint {hint!r}")  # a bug in a schema, not input


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"string {value!r}"
    return f"{type(value).__name__} {value!r}"


def to_plain(obj: Any) -> Any:
    """Turn a built dataclass back into TOML-ready plain data (money as decimal strings)."""
    from sim.core.units import format_duration, format_money

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        hints = _hints(type(obj))
        out: dict[str, Any] = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if value is None:
                continue
            out[f.name] = _plain_value(hints[f.name], value, format_money, format_duration)
        return out
    return obj


def _plain_value(hint: Any, value: Any, fmt_money: Any, fmt_duration: Any) -> Any:
    origin = get_origin(hint)
    if origin is Union or origin is types.UnionType:
        options = [a for a in get_args(hint) if a is not type(None)]
        hint = options[0] if len(options) == 1 else Any
        origin = get_origin(hint)
    if hint is Micros:
        return fmt_money(value)
    if hint is Seconds:
        return fmt_duration(value)
    if origin is tuple:
        (item,) = get_args(hint)[:1]
        return [_plain_value(item, v, fmt_money, fmt_duration) for v in value]
    if origin is dict:
        value_hint = get_args(hint)[1]
        return {k: _plain_value(value_hint, v, fmt_money, fmt_duration) for k, v in value.items()}
    if dataclasses.is_dataclass(value):
        return to_plain(value)
    return value


__all__ = [
    "ConfigError",
    "FieldError",
    "build",
    "convert",
    "join",
    "require",
    "to_plain",
]
