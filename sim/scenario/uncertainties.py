"""Uncertainties: distributions over numeric settings, and the futures sampled from them.

A lever is a setting the planner chooses (``[sweep].settings``); an uncertainty is one
nobody chooses and nobody knows: next year's decline rate, usage growth, call volumes,
price changes. A scenario's ``[uncertainties]`` section gives a distribution over any
numeric setting by its dotted path (``sim.scenario.paths``), and robust studies and
sensitivity analyses run every lever setting on the same sampled *futures*::

    [uncertainties]
    futures = 200            # how many futures to sample (default 200)
    sampler = "lhs"          # "lhs" (default), "sobol" or "random"

    [uncertainties.settings]
    "payment.decline_probability" = { kind = "uniform", low = 0.0, high = 0.1 }
    "traffic.usage_growth_per_month" = { kind = "triangular", low = 0.0, mode = 0.01, high = 0.03 }
    "payment.delay.mean" = { kind = "lognormal", median = "10m", sigma = 0.5 }
    "tariffs.scale" = { kind = "choice", values = [0.9, 1.0, 1.2] }

    [uncertainties.settings."traffic.groups.us-staff.calling.calls_per_user_day"]
    kind = "truncnorm"       # a long one as a table of its own
    mean = 6.0
    sd = 1.0
    low = 3.0
    high = 9.0

Distributions (``kind``) and their parameters:

``uniform``
    ``low`` < ``high``: every value between them equally likely.
``triangular``
    ``low`` <= ``mode`` <= ``high`` (``low`` < ``high``): most likely at ``mode``.
``truncnorm``
    a normal distribution of ``mean`` and standard deviation ``sd`` > 0, cut to
    [``low``, ``high``] (``low`` < ``high``).
``lognormal``
    ``median`` > 0 and ``sigma`` > 0, the standard deviation of the logarithm
    (dimensionless): about 68 % of the values lie between ``median / exp(sigma)`` and
    ``median * exp(sigma)``; the mean is ``median * exp(sigma**2 / 2)``. (Delays of the
    scenario give a mean and cv instead: ``sigma**2 = ln(1 + cv**2)``.)
``choice``
    one of ``values``, with ``weights`` (optional, >= 0, not all 0; default: equal).

Parameters are written in the setting's own units, as its TOML key is: plain numbers for
numbers and whole numbers, decimal strings for money (``"12.50"``), duration strings for
durations (``"10m"``); ``sd`` too (``sd = "2m"``), ``sigma`` and ``weights`` are plain
numbers. ``unit`` is filled in from the setting when the scenario is built (``number``,
``whole``, ``money`` or ``duration``); give it only to use a section without a scenario.

Sampled values are written back in those units: numbers as floats, whole numbers rounded
to the nearest integer (a half rounds up; so a uniform from 0 to 5 gives 0 and 5 half as
often as 1..4: use a choice for equally likely whole numbers), money rounded half up to
the micro-unit as a decimal string, durations rounded to the millisecond as a duration
string.

Sampling (``sample_futures``): a design of ``futures`` points in the unit cube, one
dimension per setting (in the order of the sorted paths, so reordering the section's
lines changes nothing), from ``scipy.stats.qmc`` (``lhs``: ``LatinHypercube``; ``sobol``:
scrambled ``Sobol``, with the number of futures rounded up to a power of two, which keeps
its balance; ``random``: independent uniforms), then each margin through its
distribution's inverse CDF (``scipy.stats``). The design's random generator is keyed by
the seed alone (``futures_rng``), never by a lever value, so every lever setting sees the
same futures, and the same seed gives the same table.

Validation (``Scenario``; errors name ``uncertainties.settings."<path>".<field>``): the
path must name a numeric setting and must not be a sweep lever; the parameters must
describe a distribution; and the scenario must stay valid at each setting's lowest,
typical and highest values (``check_ends``, one setting at a time, the others as
written; combinations are not tried, so whoever builds a future's scenario still names
the future in its errors).

Imports ``sim.core`` and ``sim.scenario.paths``; SciPy only when sampling.
"""

from __future__ import annotations

import copy
import inspect
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from sim.core.schema import ConfigError, FieldError, require
from sim.core.units import (
    Micros,
    Seconds,
    UnitError,
    format_duration,
    format_money,
    parse_duration,
    parse_money,
)
from sim.scenario.paths import PathError, set_value, setting_type

Kind = Literal["uniform", "triangular", "truncnorm", "lognormal", "choice"]
Unit = Literal["number", "whole", "money", "duration"]
Sampler = Literal["lhs", "sobol", "random"]
Param = int | float | str

DEFAULT_FUTURES = 200
MAX_FUTURES = 1_000_000
FUTURES_STREAM = int.from_bytes(b"futures", "big")
"""The key of the futures' random stream: ``(seed, FUTURES_STREAM)``. Streams of runs are
``(seed, replication, index, ...)`` with small replication numbers, so none coincides."""

_REQUIRED: dict[str, tuple[str, ...]] = {
    "uniform": ("low", "high"),
    "triangular": ("low", "mode", "high"),
    "truncnorm": ("mean", "sd", "low", "high"),
    "lognormal": ("median", "sigma"),
    "choice": ("values",),
}
_OPTIONAL: dict[str, tuple[str, ...]] = {"choice": ("weights",)}
_PARAMETERS = ("low", "high", "mode", "mean", "sd", "median", "sigma", "values", "weights")
_UNIT_OF_HINT: dict[Any, Unit] = {
    float: "number",
    int: "whole",
    Micros: "money",
    Seconds: "duration",
}
_TYPICAL_U = (math.sqrt(5) - 1) / 2
"""The golden ratio's fraction: a quantile whose value is rarely a round number."""
_TAIL_U = 1e-6
"""Unbounded distributions are checked, and drawn, within these tail quantiles."""


def _given(value: float | None) -> float:
    """Return a parameter that ``Uncertainty.__post_init__`` made sure is given."""
    if value is None:  # pragma: no cover - the checks make this unreachable
        raise AssertionError("a required parameter is missing")
    return value


class _Numbers(NamedTuple):
    """The parameters of an uncertainty in base units (numbers, micro-units, seconds)."""

    low: float | None
    high: float | None
    mode: float | None
    mean: float | None
    sd: float | None
    median: float | None
    values: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Uncertainty:
    """A distribution over one numeric setting (see the module docstring for the kinds).

    ``low``, ``high``, ``mode``, ``mean``, ``sd``, ``median`` and ``values`` are in the
    setting's units (numbers; money as decimal strings; durations as duration strings);
    ``sigma`` (lognormal) and ``weights`` (choice) are plain numbers. ``unit`` says which
    (filled in by the scenario); the checks that compare parameters run once it is known.
    """

    kind: Kind
    low: Param | None = None
    high: Param | None = None
    mode: Param | None = None
    mean: Param | None = None
    sd: Param | None = None
    median: Param | None = None
    sigma: float | None = None
    values: tuple[Param, ...] = ()
    weights: tuple[float, ...] = ()
    unit: Unit | None = None

    def __post_init__(self) -> None:
        required = _REQUIRED[self.kind]
        allowed = required + _OPTIONAL.get(self.kind, ())
        takes = f"a {self.kind} distribution takes {', '.join(allowed)}"
        for name in _PARAMETERS:
            if getattr(self, name) not in (None, ()) and name not in allowed:
                raise FieldError(name, f"is not a parameter here: {takes}")
        for name in required:
            if name == "values":
                require(bool(self.values), "values", "a choice needs at least one value")
            elif getattr(self, name) is None:
                raise FieldError(name, f"missing: {takes}")
        if self.sigma is not None:
            require(
                math.isfinite(self.sigma) and self.sigma > 0,
                "sigma",
                f"must be > 0 (the standard deviation of the logarithm), got {self.sigma!r}",
            )
        if self.weights:
            require(
                len(self.weights) == len(self.values),
                "weights",
                f"expected one weight per value ({len(self.values)}), got {len(self.weights)}",
            )
            for i, w in enumerate(self.weights):
                require(w >= 0, f"weights[{i}]", f"must be >= 0, got {w!r}")
            require(sum(self.weights) > 0, "weights", "must not all be 0")
        if self.unit is not None:
            self._check_numbers(self._numbers())

    def _number(self, name: str, value: Param) -> float:
        """Read one parameter in base units: a number, micro-units or seconds."""
        unit = self.unit
        if unit in ("number", "whole"):
            if isinstance(value, str):
                raise FieldError(
                    name, f"expected a plain number (this setting is one), got {value!r}"
                )
            return float(value)
        if unit == "money":
            if isinstance(value, float):
                raise FieldError(
                    name,
                    f'expected money as a decimal string such as "12.50" (this setting is '
                    f"money), got {value!r}",
                )
            try:
                return float(parse_money(value))
            except UnitError as exc:
                raise FieldError(name, str(exc)) from None
        try:
            return float(parse_duration(value))
        except UnitError as exc:
            raise FieldError(name, f"{exc} (this setting is a duration)") from None

    def _numbers(self) -> _Numbers:
        if self.unit is None:
            raise ValueError(
                "the unit of this uncertainty is not known: use the uncertainties of a built "
                "Scenario (scenario.uncertainties), or give unit"
            )

        def read(name: str) -> float | None:
            value = getattr(self, name)
            return None if value is None else self._number(name, value)

        values = tuple(self._number(f"values[{i}]", v) for i, v in enumerate(self.values))
        return _Numbers(
            read("low"),
            read("high"),
            read("mode"),
            read("mean"),
            read("sd"),
            read("median"),
            values,
        )

    def _check_numbers(self, p: _Numbers) -> None:
        if p.low is not None and p.high is not None:
            require(
                p.low < p.high,
                "low",
                f"must be < high, got low = {self.low!r} and high = {self.high!r}",
            )
        if p.mode is not None and p.low is not None and p.high is not None:
            require(
                p.low <= p.mode <= p.high,
                "mode",
                f"must lie in [low, high] = [{self.low!r}, {self.high!r}], got {self.mode!r}",
            )
        if p.sd is not None:
            require(p.sd > 0, "sd", f"must be > 0, got {self.sd!r}")
        if p.median is not None:
            require(p.median > 0, "median", f"must be > 0, got {self.median!r}")
        if self.unit == "whole":
            for i, v in enumerate(p.values):
                require(
                    v == int(v),
                    f"values[{i}]",
                    f"expected a whole number (this setting is one), got {self.values[i]!r}",
                )

    def quantile(self, u: ArrayLike) -> NDArray[np.float64]:
        """Return the inverse CDF at ``u`` in [0, 1], in base units, before rounding.

        Base units: numbers as they are, money in micro-units, durations in seconds. A
        lognormal is drawn within its ``1e-6`` and ``1 - 1e-6`` quantiles (so 0 and 1 are
        usable); a choice gives the value whose share of [0, 1] holds ``u``.
        """
        from scipy import stats

        q = np.asarray(u, dtype=np.float64)
        p = self._numbers()
        if self.kind == "choice":
            w = np.asarray(self.weights or [1.0] * len(p.values), dtype=np.float64)
            cum = np.cumsum(w) / w.sum()
            idx = np.minimum(np.searchsorted(cum, q, side="right"), len(p.values) - 1)
            return np.asarray(p.values, dtype=np.float64)[idx]
        if self.kind == "lognormal":
            q = np.clip(q, _TAIL_U, 1 - _TAIL_U)
            sigma, median = _given(self.sigma), _given(p.median)
            return np.asarray(stats.lognorm.ppf(q, s=sigma, scale=median), np.float64)
        low, high = _given(p.low), _given(p.high)
        width = high - low
        if self.kind == "uniform":
            x = stats.uniform.ppf(q, loc=low, scale=width)
        elif self.kind == "triangular":
            x = stats.triang.ppf(q, (_given(p.mode) - low) / width, loc=low, scale=width)
        else:
            mean, sd = _given(p.mean), _given(p.sd)
            x = stats.truncnorm.ppf(q, (low - mean) / sd, (high - mean) / sd, loc=mean, scale=sd)
        return np.clip(np.asarray(x, dtype=np.float64), low, high)

    def toml_values(self, x: ArrayLike) -> list[Any]:
        """Write base-unit values as the TOML file holds them (rounded, see the module)."""
        arr = np.asarray(x, dtype=np.float64)
        if self.unit == "number":
            return [float(v) for v in arr]
        if self.unit == "whole":
            return [math.floor(v + 0.5) for v in arr]
        if self.unit == "money":
            return [format_money(math.floor(v + 0.5)) for v in arr]
        if self.unit == "duration":
            return [duration_text(v) for v in arr]
        self._numbers()  # raises: the unit is not known
        raise AssertionError(self.unit)  # pragma: no cover

    def from_unit(self, u: ArrayLike) -> list[Any]:
        """Return the TOML values at quantiles ``u`` in [0, 1]: ``toml_values(quantile(u))``."""
        return self.toml_values(self.quantile(u))

    def check_points(self) -> list[tuple[str, Any]]:
        """Return the values the scenario is checked at, each with what it is.

        The lowest and highest values (a choice: each of its values) and a typical one,
        at a quantile whose value is rarely round (which shows when a rule wants whole
        numbers); a lognormal's ends are its ``1e-6`` and ``1 - 1e-6`` quantiles.
        """
        if self.kind == "choice":
            seen: list[Any] = []
            for v in self.toml_values(self._numbers().values):
                if v not in seen:
                    seen.append(v)
            return [("one of its values", v) for v in seen]
        labels = ("its lowest value", "a typical value", "its highest value")
        if self.kind == "lognormal":
            labels = ("a low value (1e-6 quantile)", "a typical value", "a high value")
        values = self.from_unit(np.array([0.0, _TYPICAL_U, 1.0]))
        return list(zip(labels, values, strict=True))


def duration_text(seconds: float) -> str:
    """Write seconds, rounded to the millisecond, as a duration string (``"10m"``, ``"612.5s"``)."""
    ms = math.floor(float(seconds) * 1000 + 0.5)
    if ms > 0 and ms % 60_000 == 0:
        return format_duration(ms // 1000)
    whole, frac = divmod(ms, 1000)
    return (f"{whole}.{frac:03d}".rstrip("0") if frac else str(whole)) + "s"


def futures_drawn(n: int, method: str) -> int:
    """Return how many futures a design of ``n`` draws: ``sobol`` rounds up to a power of 2."""
    if method == "sobol":
        return 1 << max(0, math.ceil(math.log2(n)))
    return n


@dataclass(frozen=True, slots=True)
class Uncertainties:
    """The ``[uncertainties]`` section: distributions over settings, and how to sample them.

    ``futures``: how many futures ``sample_futures`` draws (``sobol``: rounded up to a
    power of two). ``sampler``: ``lhs`` (Latin hypercube), ``sobol`` (scrambled Sobol
    points) or ``random``. ``settings``: dotted path -> ``Uncertainty``; each path must
    name a numeric setting of the scenario that is not also a sweep lever.
    """

    futures: int = DEFAULT_FUTURES
    sampler: Sampler = "lhs"
    settings: dict[str, Uncertainty] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require(
            1 <= self.futures <= MAX_FUTURES,
            "futures",
            f"must be a whole number from 1 to {MAX_FUTURES:,}, got {self.futures}",
        )
        require(bool(self.settings), "settings", "give at least one setting to be uncertain")

    @property
    def paths(self) -> tuple[str, ...]:
        """The uncertain settings, in the order of the section (the columns of a design)."""
        return tuple(self.settings)

    @property
    def drawn(self) -> int:
        """How many futures ``sample_futures`` draws by default (``futures_drawn``)."""
        return futures_drawn(self.futures, self.sampler)

    def bind(self, root: type, levers: Iterable[str] = ()) -> Uncertainties:
        """Return the section with each setting's unit filled in from ``root``'s types.

        ``root`` is the scenario class; ``levers`` are the sweep's paths. Checks that
        each path names a numeric setting that is not a lever, that a given ``unit``
        matches, and the parameters in those units. Returns this object when nothing
        changes.

        Raises
        ------
        FieldError
            Naming ``settings."<path>"`` (and the parameter) and what is allowed there.
        """
        levers = set(levers)
        bound: dict[str, Uncertainty] = {}
        for path, u in self.settings.items():
            where = f'settings."{path}"'
            try:
                hint = setting_type(path, root)
            except PathError as exc:
                raise FieldError(where, exc.message) from None
            unit = _UNIT_OF_HINT.get(hint)
            if unit is None:
                raise FieldError(
                    where,
                    "is not a numeric setting: only numbers, whole numbers, money and "
                    "durations can be uncertain",
                )
            if path in levers:
                raise FieldError(
                    where,
                    "is also a sweep lever ([sweep].settings): a setting is either chosen "
                    "or uncertain, not both",
                )
            if u.unit is not None and u.unit != unit:
                raise FieldError(
                    f"{where}.unit", f"must be {unit!r} for this setting, got {u.unit!r}"
                )
            try:
                bound[path] = u if u.unit == unit else replace(u, unit=unit)
            except FieldError as exc:
                raise FieldError(f"{where}.{exc.field}", exc.message) from None
        if all(bound[p] is self.settings[p] for p in bound):
            return self
        return replace(self, settings=bound)

    def describe(self) -> str:
        """Return one line for ``ccsim validate``."""
        n = len(self.settings)
        drawn = self.drawn
        how = self.sampler if drawn == self.futures else f"{self.sampler}, drawn as {drawn}"
        return f"uncertainties: {n} setting(s), {self.futures} futures ({how})"


def futures_rng(seed: int) -> np.random.Generator:
    """Return the random generator of the futures' design: keyed by ``seed`` alone."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed: expected a whole number >= 0, got {seed!r}")
    entropy = [int(seed), FUTURES_STREAM]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


def _rng_keyword(cls: Any) -> str:
    """SciPy >= 1.15 names the generator ``rng``; older versions ``seed``."""
    return "rng" if "rng" in inspect.signature(cls).parameters else "seed"


def unit_design(
    uncertainties: Uncertainties, seed: int, n: int | None = None, method: str | None = None
) -> NDArray[np.float64]:
    """Return the design of the futures: ``n`` points in [0, 1)^d, columns as ``paths``.

    ``n`` defaults to ``uncertainties.futures`` and ``method`` to its ``sampler``; a
    ``sobol`` design has ``futures_drawn(n, "sobol")`` rows (a power of two). Dimensions
    are given to the settings in sorted path order, so the section's line order does not
    matter; the generator is ``futures_rng(seed)``.
    """
    from scipy.stats import qmc

    n = uncertainties.futures if n is None else int(n)
    method = uncertainties.sampler if method is None else method
    if not 1 <= n <= MAX_FUTURES:
        raise ValueError(f"n: expected a whole number from 1 to {MAX_FUTURES:,}, got {n}")
    if method not in ("lhs", "sobol", "random"):
        raise ValueError(f"method: expected 'lhs', 'sobol' or 'random', got {method!r}")
    paths = uncertainties.paths
    d = len(paths)
    rng = futures_rng(seed)
    rows = futures_drawn(n, method)
    if d == 0:
        return np.empty((rows, 0), dtype=np.float64)
    if method == "lhs":
        engine = qmc.LatinHypercube(d, scramble=True, **{_rng_keyword(qmc.LatinHypercube): rng})
        design = engine.random(rows)
    elif method == "sobol":
        engine = qmc.Sobol(d, scramble=True, **{_rng_keyword(qmc.Sobol): rng})
        design = engine.random_base2(int(math.log2(rows)))
    else:
        design = rng.random((rows, d))
    order = sorted(range(d), key=lambda j: paths[j])
    out = np.empty((rows, d), dtype=np.float64)
    for dim, column in enumerate(order):
        out[:, column] = design[:, dim]
    return out


def values_from_unit(uncertainties: Uncertainties, u: ArrayLike) -> pd.DataFrame:
    """Turn points of the unit cube into settings: one row per point, one column per path.

    ``u`` is an (n, d) matrix in [0, 1] with its columns in ``uncertainties.paths`` order
    (a SALib design, for instance). The table has a ``future`` column (0..n-1) and one
    column per path, with values as the TOML file holds them (``Uncertainty.from_unit``).
    """
    paths = uncertainties.paths
    m = np.asarray(u, dtype=np.float64)
    if m.ndim != 2 or m.shape[1] != len(paths):
        raise ValueError(
            f"u: expected a matrix with {len(paths)} column(s) ({', '.join(paths)}), "
            f"got shape {m.shape}"
        )
    if m.size and (not np.isfinite(m).all() or m.min() < 0 or m.max() > 1):
        raise ValueError("u: expected values in [0, 1]")
    columns: dict[str, Any] = {"future": np.arange(m.shape[0], dtype=np.int64)}
    for j, path in enumerate(paths):
        values = uncertainties.settings[path].from_unit(m[:, j])
        columns[path] = pd.Series(
            values, dtype=object if values and isinstance(values[0], str) else None
        )
    return pd.DataFrame(columns)


def sample_futures(
    uncertainties: Uncertainties, seed: int, n: int | None = None, method: str | None = None
) -> pd.DataFrame:
    """Sample the futures: one row per future (``future`` 0..n-1), one column per path.

    Values are as the raw TOML holds them: floats, ints, decimal strings for money and
    duration strings. ``n`` defaults to ``uncertainties.futures`` and ``method`` to its
    ``sampler`` (``lhs``, ``sobol`` or ``random``); a ``sobol`` design is rounded up to a
    power of two and says so in ``table.attrs["note"]``. The design depends on ``seed``
    alone (``unit_design``): the same seed gives the same table, and every lever setting
    sees the same futures.
    """
    n_asked = uncertainties.futures if n is None else int(n)
    method_used = uncertainties.sampler if method is None else method
    table = values_from_unit(uncertainties, unit_design(uncertainties, seed, n_asked, method_used))
    table.attrs["seed"] = int(seed)
    table.attrs["sampler"] = method_used
    if len(table) != n_asked:
        table.attrs["note"] = (
            f"sobol: {n_asked} futures rounded up to {len(table)}, a power of two, which "
            "keeps the design balanced"
        )
    return table


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def apply_future(raw: Mapping[str, Any], values: Mapping[str, Any] | pd.Series) -> dict[str, Any]:
    """Return a deep copy of a raw scenario dict with a future's values set.

    ``values`` maps dotted paths to TOML values (a row of ``sample_futures``, whose
    ``future`` number is skipped). The copy has no ``[uncertainties]`` section: a future
    is one definite world. Pass it to ``Scenario.from_dict``.
    """
    data = {k: copy.deepcopy(v) for k, v in raw.items() if k != "uncertainties"}
    for path, value in values.items():
        if path == "future":
            continue
        set_value(data, str(path), _plain(value))
    return data


def check_ends(
    uncertainties: Uncertainties,
    raw: Mapping[str, Any],
    build: Callable[[Mapping[str, Any]], object],
) -> None:
    """Check that the scenario stays valid over each uncertain setting's range.

    Builds ``raw`` (``build``: ``Scenario.from_dict``) with one setting at a time set to
    each of its ``Uncertainty.check_points``, the others as written.

    Raises
    ------
    ConfigError
        ``uncertainties.settings."<path>"``: which value breaks the scenario, and how.
    """
    for path, u in uncertainties.settings.items():
        for what, value in u.check_points():
            try:
                build(apply_future(raw, {path: value}))
            except ConfigError as exc:
                raise ConfigError(
                    f'uncertainties.settings."{path}"',
                    f"the scenario is invalid at {what}, {value!r}: {exc}",
                ) from None


def quote_setting_path(exc: ConfigError, data: Mapping[str, Any]) -> ConfigError:
    """Return the error with its uncertain setting's path quoted, as TOML writes it.

    The schema joins keys with dots, so a parameter of ``payment.delay.mean`` comes out
    as ``uncertainties.settings.payment.delay.mean.low``; this gives
    ``uncertainties.settings."payment.delay.mean".low``. Other errors are returned as
    they are.
    """
    prefix = "uncertainties.settings."
    if not exc.path.startswith(prefix) or exc.path.startswith(prefix + '"'):
        return exc
    section = data.get("uncertainties")
    settings = section.get("settings") if isinstance(section, Mapping) else None
    if not isinstance(settings, Mapping):
        return exc
    rest = exc.path[len(prefix) :]
    keys = [
        k
        for k in settings
        if isinstance(k, str) and (rest == k or rest.startswith((f"{k}.", f"{k}[")))
    ]
    if not keys:
        return exc
    key = max(keys, key=len)
    return ConfigError(f'{prefix}"{key}"{rest[len(key) :]}', exc.message)


__all__ = [
    "DEFAULT_FUTURES",
    "FUTURES_STREAM",
    "Kind",
    "Sampler",
    "Uncertainties",
    "Uncertainty",
    "Unit",
    "apply_future",
    "check_ends",
    "duration_text",
    "futures_drawn",
    "futures_rng",
    "quote_setting_path",
    "sample_futures",
    "unit_design",
    "values_from_unit",
]
