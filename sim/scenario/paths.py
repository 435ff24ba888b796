"""Settings by dotted path: their type, a value string in TOML form, and setting one.

A dotted path names one setting of a scenario the way its TOML file does:
``recharge.trigger``, ``payment.delay.mean``, ``tariffs.scale``. A dict-valued field
takes its key as the next part, so ``traffic.groups.us-staff.calling.calls_per_user_day``
is the ``calls_per_user_day`` of the traffic of the user group ``us-staff``. Lists
(``user_groups``, ``funding.lots``) cannot be walked into.

Sweeps (``sim.experiments.sweeps``) set their levers with these helpers, and
uncertainties (``sim.scenario.uncertainties``) their sampled values. The walk starts at
a root dataclass given by the caller (``Scenario``): this module imports no other
scenario module, so ``sim.scenario.model`` can use it too.

Imports only ``sim.core.units`` and ``sim.core.schema`` (its cache of type hints).
"""

from __future__ import annotations

import types
from collections.abc import MutableMapping
from dataclasses import fields, is_dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Union, get_args, get_origin

from sim.core.schema import type_hints
from sim.core.units import Micros, Seconds


class PathError(ValueError):
    """A dotted path that names no setting, or a value it cannot take: ``path: message``."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def _without_none(hint: Any) -> Any:
    origin = get_origin(hint)
    if origin is Union or origin is types.UnionType:
        return next(a for a in get_args(hint) if a is not type(None))
    return hint


def setting_type(path: str, root: type) -> Any:
    """Return the type hint of the setting at a dotted path below ``root``.

    ``root`` is the dataclass the path starts from (``sim.scenario.model.Scenario``).
    Optional fields (``X | None``) give ``X``; a dict-valued field consumes one part of
    the path as its key and gives its value type. The result is a plain type (``float``,
    ``int``, ``str``, ``bool``), a unit (``Micros``: money, ``Seconds``: a duration), a
    dataclass, a ``Literal`` or a container hint.

    Raises
    ------
    PathError
        If a part names no field (``unknown setting 'x'``) or the path goes on inside a
        value that is not a table (``cannot set a value inside 'x'``).
    """
    hint: Any = root
    for part in path.split("."):
        hint = _without_none(hint)
        if get_origin(hint) is dict:
            hint = get_args(hint)[1]
            continue
        if not (is_dataclass(hint) and isinstance(hint, type)):
            raise PathError(path, f"cannot set a value inside {part!r}")
        names = {f.name for f in fields(hint) if f.init}  # derived fields are no settings
        if part not in names:
            raise PathError(path, f"unknown setting {part!r}")
        hint = type_hints(hint)[part]
    return _without_none(hint)


def is_numeric(hint: Any) -> bool:
    """Return True for the hints of numeric settings: float, int, money and durations."""
    return hint in (float, int, Micros, Seconds)


def typed_value(path: str, text: str, root: type) -> Any:
    """Turn a value string (``"150"``, ``"0.05"``, ``"10m"``) into the TOML value of a setting.

    Money (``Micros``) and durations (``Seconds``) stay strings, as the TOML file writes
    them (decimal strings, duration strings); ``int`` settings take whole numbers and
    ``float`` settings numbers. Only numeric settings can be given this way: a text
    setting (a name, a rate table's path) is no lever, and a rate table is loaded once
    for a whole sweep.

    Raises
    ------
    PathError
        If the path names no setting, the setting is not numeric, or the text is not a
        number of the setting's kind.
    """
    hint = setting_type(path, root)
    if hint in (Micros, Seconds):
        return text
    if hint is int:
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise PathError(path, f"expects whole numbers, got {text!r}") from None
        if not value.is_finite() or value != value.to_integral_value():
            raise PathError(path, f"expects whole numbers, got {text!r}")
        return int(value)
    if hint is float:
        try:
            return float(text)
        except ValueError:
            raise PathError(path, f"expects numbers, got {text!r}") from None
    raise PathError(
        path, "only numeric settings can be swept (numbers, whole numbers, money, durations)"
    )


def set_value(data: MutableMapping[str, Any], path: str, value: Any) -> None:
    """Set the setting at a dotted path in a raw (parsed TOML) scenario dict, in place.

    Missing tables on the way are created, so ``payment.delay.mean`` works on a file
    without a ``[payment.delay]`` table (the other keys then take their defaults).

    Raises
    ------
    PathError
        If a part of the path is a value, not a table.
    """
    node: Any = data
    parts = path.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, MutableMapping):
            raise PathError(path, f"{part!r} is not a table")
    node[parts[-1]] = value


__all__ = ["PathError", "is_numeric", "set_value", "setting_type", "typed_value"]
