"""Strict conversion of plain data (parsed TOML) into frozen, typed dataclasses.

``build(cls, data, path)`` walks a dataclass's fields and converts each value by its type
hint, rejecting unknown keys, missing required keys, wrong types and malformed values
with a ``ConfigError`` that carries the dotted path of the offending key. Value rules
that involve one object live in that dataclass's ``__post_init__`` and raise
``FieldError(field, message)``; ``build`` prefixes them with the object's path.

Supported hints: ``bool``, ``int``, ``float``, ``str``, ``Micros`` (decimal string),
``Seconds`` (duration string), ``date``, ``datetime``, ``Literal[...]``, nested
dataclasses, ``tuple[X, ...]``, ``dict[str, X]`` and ``X | None``.

Every value is bounded by its type (``sim.core.limits``): money within 10^9 currency
units, durations within 100 years, dates within 1900-2150, whole numbers within signed
64 bits, real numbers finite and within 10^12. Tighter ranges and code lists of single
fields are ``Rules``: a mapping from (dataclass, field name) to a ``Range``, a ``OneOf``
or a ``Check``, applied by ``build`` before the dataclass is made (to each item of a
list and each value of a table), so the error names the exact field. Unknown keys and
``Literal`` values get a "did you mean" for near misses.

This module imports only ``sim.core.units``, ``sim.core.limits`` and ``sim.core.codes``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import types
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from sim.core import limits
from sim.core.codes import did_you_mean
from sim.core.units import (
    Micros,
    Seconds,
    UnitError,
    format_duration,
    format_money,
    parse_duration,
    parse_money,
    shown,
)

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


MAX_TEXT_CHARS = 10_000
"""Longest string value of a scenario."""


@dataclass(frozen=True, slots=True)
class Range:
    """Allowed values of a number: ``low`` (excluded when ``low_open``) to ``high``.

    ``unit`` says how the bounds are shown: ``"money"`` (decimal currency), ``"duration"``
    or plain numbers.
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    unit: Literal["", "money", "duration"] = ""

    def _show(self, value: float) -> str:
        if self.unit == "money":
            return format_money(int(value), 0)
        if self.unit == "duration":
            return format_duration(value)
        return f"{value:,}" if isinstance(value, int) else f"{value:g}"

    def allowed(self) -> str:
        """Return the allowed range in words."""
        unit = " (currency units)" if self.unit == "money" else ""
        if self.low is not None and self.high is not None and not self.low_open:
            return f"between {self._show(self.low)} and {self._show(self.high)}{unit}"
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '>='} {self._show(self.low)}")
        if self.high is not None:
            parts.append(f"<= {self._show(self.high)}")
        return " and ".join(parts) + unit

    def error(self, value: Any) -> str | None:
        """Return why ``value`` is outside the range, or None."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        low_ok = self.low is None or (value > self.low if self.low_open else value >= self.low)
        if low_ok and (self.high is None or value <= self.high):
            return None
        return f"must be {self.allowed()}, got {self._show(value)}"


@dataclass(frozen=True, slots=True)
class OneOf:
    """Allowed values of a string: ``options`` (or a function returning them)."""

    options: Collection[str] | Callable[[], Collection[str]]
    what: str = "value"

    def error(self, value: Any) -> str | None:
        """Return why ``value`` is not one of the options, or None."""
        options = self.options() if callable(self.options) else self.options
        if value in options:
            return None
        shown = ", ".join(sorted(options))
        return (
            f"unknown {self.what} {_short(value)}{did_you_mean(value, options)} (allowed: {shown})"
        )


@dataclass(frozen=True, slots=True)
class Check:
    """Any rule of one value: ``fn(value)`` returns why it is refused, or None."""

    fn: Callable[[Any], str | None]

    def error(self, value: Any) -> str | None:
        """Return why ``value`` is refused, or None."""
        return self.fn(value)


class _OutOfRangeError(ConfigError):
    """A value outside its type's bounds; a field's own ``Range`` may restate it."""

    def __init__(self, path: str, message: str, value: int | float) -> None:
        super().__init__(path, message)
        self.value = value


Rule = Range | OneOf | Check
Rules = Mapping[tuple[type, str], Rule]
"""Rules of single fields: (dataclass, field name) -> rule."""


def _apply_rule(rule: Rule, value: Any, path: str) -> None:
    if value is None:
        return
    if isinstance(value, tuple | list):
        for i, item in enumerate(value):
            _apply_rule(rule, item, join(path, i))
        return
    if isinstance(value, Mapping):
        for k, item in value.items():
            _apply_rule(rule, item, join(path, str(k)))
        return
    error = rule.error(value)
    if error is not None:
        raise ConfigError(path, error)


_HINTS: dict[type, dict[str, Any]] = {}


def type_hints(cls: type) -> dict[str, Any]:
    """Return ``get_type_hints(cls)``, computed once per class (it is slow: it evaluates)."""
    if cls not in _HINTS:
        _HINTS[cls] = get_type_hints(cls)
    return _HINTS[cls]


def build(cls: type[T], data: Any, path: str = "", rules: Rules | None = None) -> T:
    """Build dataclass ``cls`` from a mapping, strictly; errors name the dotted path.

    ``rules`` (``Rules``) bound single fields of ``cls`` and of every nested dataclass.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(path, f"expected a table, got {_describe(data)}")
    known = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(known), key=str)
    if unknown:
        allowed = ", ".join(sorted(known))
        key = str(unknown[0])
        raise ConfigError(
            join(path, key),
            f"unknown key {_short(key)}{did_you_mean(key, known)} (allowed here: {allowed})",
        )
    hints = type_hints(cls)
    kwargs: dict[str, Any] = {}
    for name, field in known.items():
        if name in data:
            where = join(path, name)
            rule = rules.get((cls, name)) if rules else None
            try:
                kwargs[name] = convert(hints[name], data[name], where, rules)
            except _OutOfRangeError as exc:
                # State the field's own range rather than its type's.
                if isinstance(rule, Range) and exc.path.startswith(where):
                    raise ConfigError(exc.path, rule.error(exc.value) or exc.message) from None
                raise
            if rule is not None:
                _apply_rule(rule, kwargs[name], where)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(join(path, name), "missing required key")
    try:
        return cls(**kwargs)
    except FieldError as exc:
        raise ConfigError(join(path, exc.field), exc.message) from None
    except UnitError as exc:
        raise ConfigError(path, str(exc)) from None


def convert(hint: Any, value: Any, path: str, rules: Rules | None = None) -> Any:
    """Convert one value to the type ``hint``; raise ``ConfigError`` naming ``path``."""
    origin = get_origin(hint)
    if origin is Union or origin is types.UnionType:
        options = [a for a in get_args(hint) if a is not type(None)]
        if value is None and len(options) < len(get_args(hint)):
            return None
        if len(options) == 1:
            return convert(options[0], value, path, rules)
        errors = []
        for option in options:
            try:
                return convert(option, value, path, rules)
            except ConfigError as exc:
                errors.append(exc.message)
        raise ConfigError(path, "; or ".join(errors))
    if origin is Literal:
        allowed = get_args(hint)
        if value not in allowed or isinstance(value, bool) != isinstance(allowed[0], bool):
            shown = ", ".join(repr(a) for a in allowed)
            names = [a for a in allowed if isinstance(a, str)]
            raise ConfigError(
                path, f"must be one of {shown}, got {_short(value)}{did_you_mean(value, names)}"
            )
        return value
    if origin is tuple:
        args = get_args(hint)
        if not isinstance(value, list | tuple):
            raise ConfigError(path, f"expected a list, got {_describe(value)}")
        item = args[0]
        return tuple(convert(item, v, join(path, i), rules) for i, v in enumerate(value))
    if origin is dict:
        key_hint, value_hint = get_args(hint)
        if not isinstance(value, Mapping):
            raise ConfigError(path, f"expected a table, got {_describe(value)}")
        out = {}
        for k, v in value.items():
            key = convert(key_hint, k, join(path, str(k)))
            out[key] = convert(value_hint, v, join(path, str(k)), rules)
        return out
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return build(hint, value, path, rules)
    return _convert_scalar(hint, value, path)


def _convert_scalar(hint: Any, value: Any, path: str) -> Any:
    if hint is Micros:
        if isinstance(value, str) and len(value) > 40:
            raise ConfigError(path, f'expected money such as "12.50", got {_short(value)}')
        try:
            money = parse_money(value)
        except UnitError as exc:
            raise ConfigError(path, str(exc)) from None
        _check_range(_MONEY_RANGE, money, path)
        return money
    if hint is Seconds:
        if isinstance(value, str) and len(value) > 40:
            raise ConfigError(path, f'expected a duration such as "2h", got {_short(value)}')
        if isinstance(value, int) and not isinstance(value, bool):
            _check_range(_DURATION_NUMBER_RANGE, value, path)
        try:
            seconds = parse_duration(value)
        except (UnitError, OverflowError) as exc:
            raise ConfigError(path, str(exc)) from None
        _check_range(_DURATION_RANGE, seconds, path)
        return seconds
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, f"expected true or false, got {_describe(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, f"expected a whole number, got {_describe(value)}")
        _check_range(_INT_RANGE, value, path)
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(path, f"expected a number, got {_describe(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(path, f"expected a finite number, got {value!r}")
        _check_range(_FLOAT_RANGE, value, path)
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(path, f"expected a string, got {_describe(value)}")
        if len(value) > MAX_TEXT_CHARS:
            raise ConfigError(path, f"must be at most {MAX_TEXT_CHARS:,} characters long")
        return value
    if hint is datetime:
        when: datetime | None = None
        if isinstance(value, datetime):
            when = value
        elif isinstance(value, date):
            when = datetime.combine(value, time())
        elif isinstance(value, str) and len(value) <= 40:
            with contextlib.suppress(ValueError):
                when = datetime.fromisoformat(value)
        if when is None:
            raise ConfigError(
                path,
                f"expected a date or date-time such as 2026-01-01T09:00, got {_short(value)}",
            )
        _check_date(when.date(), path)
        return when
    if hint is date:
        day: date | None = None
        if isinstance(value, datetime):
            raise ConfigError(path, f"expected a date such as 2026-01-31, got {_short(value)}")
        if isinstance(value, date):
            day = value
        elif isinstance(value, str) and len(value) <= 40:
            with contextlib.suppress(ValueError):
                day = date.fromisoformat(value)
        if day is None:
            raise ConfigError(path, f"expected a date such as 2026-01-31, got {_short(value)}")
        _check_date(day, path)
        return day
    raise TypeError(f"{path}: unsupported type hint {hint!r}")  # a bug in a schema, not input


_MONEY_RANGE = Range(-limits.MAX_MONEY_MICROS, limits.MAX_MONEY_MICROS, unit="money")
_DURATION_RANGE = Range(0, limits.MAX_DURATION_S, unit="duration")
_DURATION_NUMBER_RANGE = Range(0, int(limits.MAX_DURATION_S))
_INT_RANGE = Range(limits.MIN_INT, limits.MAX_INT)
_FLOAT_RANGE = Range(-limits.MAX_FLOAT, limits.MAX_FLOAT)


def _check_range(rule: Range, value: int | float, path: str) -> None:
    error = rule.error(value)
    if error is not None:
        raise _OutOfRangeError(path, error, value)


def _check_date(day: date, path: str) -> None:
    if not limits.MIN_DATE <= day <= limits.MAX_DATE:
        raise ConfigError(
            path,
            f"must lie between {limits.MIN_DATE.isoformat()} and {limits.MAX_DATE.isoformat()}, "
            f"got {day.isoformat()}",
        )


def _short(value: Any, limit: int = 60) -> str:
    """Return ``repr(value)``, cut to ``limit`` characters (``units.shown``)."""
    return shown(value, limit)


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"string {_short(value)}"
    return f"{type(value).__name__} {_short(value)}"


def to_plain(obj: Any) -> Any:
    """Turn a built dataclass back into TOML-ready plain data (money as decimal strings)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        hints = type_hints(type(obj))
        out: dict[str, Any] = {}
        for f in dataclasses.fields(obj):
            if not f.init:  # derived and kept, not a setting
                continue
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
    "MAX_TEXT_CHARS",
    "Check",
    "ConfigError",
    "FieldError",
    "OneOf",
    "Range",
    "Rule",
    "Rules",
    "build",
    "convert",
    "join",
    "require",
    "to_plain",
    "type_hints",
]
