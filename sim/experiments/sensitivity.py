"""Global sensitivity analysis of any model's outputs: Morris screening and Sobol' indices.

Which uncertain inputs drive the chance of an outage, the yearly cost, the forfeited
credits? This module answers with SALib (Herman & Usher 2017), and knows nothing of the
simulator: the caller gives a ``Problem`` (the inputs' names and how a point of the unit
cube becomes their values) and an ``evaluate(u)`` callback that takes the unit-cube rows
``u`` (shape ``(n, d)``, each value in [0, 1]) and returns a DataFrame with one row per
row of ``u`` and one numeric column per output. Every output is analysed at once.

- ``morris``: elementary effects on ``trajectories`` one-at-a-time paths over a grid of
  ``levels`` (Morris 1991, with mu* of Campolongo et al. 2007), ``trajectories * (d + 1)``
  evaluations. Cheap screening: mu* ranks the inputs, sigma flags interactions or curvature.
- ``sobol``: first-order and total indices on Saltelli's scheme (Saltelli 2002, 2010),
  ``n_base * (d + 2)`` evaluations (``n_base * (2d + 2)`` with second order), 95 %
  bootstrap intervals.
- ``screen_then_sobol``: the usual two steps, Morris on every input, then Sobol' on the
  inputs that matter, the others held at the middle of their range.
- ``tornado``: per output, the inputs ordered by their total index (or mu*) with intervals,
  the data of ``sim.reports.sensitivity_plots.tornado_figure``.

The same ``seed`` gives the same tables: sampling and bootstrap draw from streams derived
from it. Inputs are sampled on the unit cube, so mu* of different inputs are comparable
(the effect of moving an input across its whole range).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

Evaluate = Callable[[np.ndarray], pd.DataFrame]
"""The model: unit-cube rows ``(n, d)`` in, one row per sample and a column per output out."""

MORRIS_COLUMNS = ("output", "input", "mu", "mu_star", "mu_star_conf", "sigma")
SOBOL_COLUMNS = ("output", "input", "S1", "S1_conf", "ST", "ST_conf")
TORNADO_COLUMNS = ("output", "rank", "input", "value", "conf", "low", "high")


class HasPpf(Protocol):
    """A distribution with a quantile function, such as a frozen ``scipy.stats`` one."""

    def ppf(self, q: np.ndarray) -> np.ndarray:
        """Return the quantiles at probabilities ``q``."""
        ...


Range = tuple[float, float] | HasPpf


@dataclass(frozen=True, eq=False)
class Problem:
    """The uncertain inputs: their names (dotted paths) and how unit-cube rows become values.

    Parameters
    ----------
    names
        One name per input, unique, e.g. ``"payment.decline_probability"``; ``d >= 1``.
    to_values
        Optional map from unit-cube rows ``u`` (shape ``(n, d)``) to a DataFrame of the
        inputs' values (one column per name). Without it ``values(u)`` is ``u`` itself
        with the names as columns. ``from_ranges`` builds one from bounds or distributions.
    """

    names: tuple[str, ...]
    to_values: Callable[[np.ndarray], pd.DataFrame] | None = None

    def __post_init__(self) -> None:
        names = tuple(self.names)
        object.__setattr__(self, "names", names)
        if len(names) < 1:
            raise ValueError("a sensitivity problem needs at least one input (d >= 1)")
        bad = [n for n in names if not isinstance(n, str) or not n]
        if bad:
            raise ValueError(f"input names must be non-empty strings, not {bad!r}")
        seen = [n for i, n in enumerate(names) if n in names[:i]]
        if seen:
            raise ValueError(f"input names must be unique; repeated: {sorted(set(seen))}")

    @property
    def d(self) -> int:
        """Return the number of inputs."""
        return len(self.names)

    @classmethod
    def from_ranges(cls, ranges: Mapping[str, Range], *, tail: float = 0.001) -> Problem:
        """Build a problem from a ``(low, high)`` range or a distribution per input.

        A range maps the unit interval linearly onto ``[low, high]``; a distribution (any
        object with ``ppf``, such as ``scipy.stats.norm(0, 1)``) maps ``u`` through its
        quantile function, with ``u`` held inside ``[tail, 1 - tail]`` so that Morris's
        grid, which includes the cube's faces 0 and 1, stays finite for unbounded ones.
        """
        if not 0 <= tail < 0.5:
            raise ValueError(f"tail must be in [0, 0.5), not {tail}")
        names = tuple(ranges)
        maps: list[Callable[[np.ndarray], np.ndarray]] = []
        for name, spec in ranges.items():
            if not isinstance(spec, tuple | list):
                if not callable(getattr(spec, "ppf", None)):
                    raise ValueError(
                        f"{name}: a range is (low, high) or a distribution with ppf, not {spec!r}"
                    )

                def quantiles(col: np.ndarray, dist: HasPpf = spec) -> np.ndarray:
                    return np.asarray(dist.ppf(np.clip(col, tail, 1 - tail)), dtype=float)

                maps.append(quantiles)
                continue
            try:
                low, high = (float(v) for v in spec)
            except (TypeError, ValueError):
                raise ValueError(
                    f"{name}: a range is (low, high) or a distribution with ppf, not {spec!r}"
                ) from None
            if not (np.isfinite(low) and np.isfinite(high) and low < high):
                raise ValueError(f"{name}: range needs finite low < high, not ({low}, {high})")

            def linear(col: np.ndarray, low: float = low, high: float = high) -> np.ndarray:
                return low + (high - low) * col

            maps.append(linear)

        def to_values(u: np.ndarray) -> pd.DataFrame:
            return pd.DataFrame(
                {n: f(u[:, i]) for i, (n, f) in enumerate(zip(names, maps, strict=True))}
            )

        return cls(names, to_values)

    def values(self, u: np.ndarray) -> pd.DataFrame:
        """Return the inputs' values at unit-cube rows ``u``, one column per name."""
        u = _unit_rows(u, self.d)
        if self.to_values is None:
            return pd.DataFrame(u, columns=list(self.names))
        table = self.to_values(u)
        if not isinstance(table, pd.DataFrame) or len(table) != len(u):
            raise ValueError(
                f"to_values must return a DataFrame with {len(u)} rows, one per unit-cube row"
            )
        return table

    def salib(self) -> dict[str, object]:
        """Return SALib's problem dictionary on the unit cube."""
        return {"num_vars": self.d, "names": list(self.names), "bounds": [[0.0, 1.0]] * self.d}


def _unit_rows(u: np.ndarray, d: int) -> np.ndarray:
    u = np.asarray(u, dtype=np.float64)
    if u.ndim != 2 or u.shape[1] != d:
        raise ValueError(f"unit-cube rows must have shape (n, {d}), not {u.shape}")
    return u


def _seeds(seed: int | None, k: int) -> list[int]:
    """Return ``k`` independent positive integer seeds derived from ``seed``.

    SALib's Sobol' analysis treats a seed of 0 as "no seed", so every seed here is >= 1.
    """
    if seed is not None and (not isinstance(seed, int | np.integer) or seed < 0):
        raise ValueError(f"seed must be a non-negative integer or None, not {seed!r}")
    states = np.random.SeedSequence(seed).generate_state(k, dtype=np.uint32)
    return [int(s) % (2**31 - 1) + 1 for s in states]


def _outputs(evaluate: Evaluate, u: np.ndarray) -> pd.DataFrame:
    """Run ``evaluate`` and check its table: one finite numeric row per sample."""
    table = evaluate(u)
    if not isinstance(table, pd.DataFrame):
        raise ValueError(
            f"evaluate must return a DataFrame (one column per output), not {type(table).__name__}"
        )
    if len(table) != len(u):
        raise ValueError(
            f"evaluate returned {len(table)} rows for {len(u)} samples: it must return "
            "one row per row of u, in the same order"
        )
    if table.shape[1] < 1:
        raise ValueError("evaluate returned no output columns")
    names = [str(c) for c in table.columns]
    if len(set(names)) != len(names):
        raise ValueError(f"evaluate returned repeated output columns: {names}")
    out = {}
    for column, name in zip(table.columns, names, strict=True):
        values = table[column]
        if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
            raise ValueError(f"output {name!r} is not numeric (dtype {values.dtype})")
        array = values.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.flatnonzero(~np.isfinite(array))
        if bad.size:
            raise ValueError(
                f"output {name!r} has {bad.size} missing or infinite values "
                f"(first at sample {int(bad[0])})"
            )
        out[name] = array
    return pd.DataFrame(out)


def _is_constant(y: np.ndarray) -> bool:
    return bool(np.ptp(y) <= 1e-12 * max(1.0, float(np.abs(y).max())))


def _check_count(name: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, not {value!r}")


def _check_resampling(conf_level: float, num_resamples: int) -> None:
    if not 0 < conf_level < 1:
        raise ValueError(f"conf_level must be in (0, 1), not {conf_level}")
    _check_count("num_resamples", num_resamples, 2)


def morris(
    problem: Problem,
    evaluate: Evaluate,
    *,
    trajectories: int = 20,
    levels: int = 4,
    seed: int | None = 0,
    conf_level: float = 0.95,
    num_resamples: int = 1000,
) -> pd.DataFrame:
    """Screen the inputs by elementary effects (the method of Morris).

    Parameters
    ----------
    problem
        The inputs.
    evaluate
        The model on unit-cube rows; called once on all ``trajectories * (d + 1)`` rows.
    trajectories
        Number of one-at-a-time paths (``r``, at least 2; 10 to 50 is usual).
    levels
        Grid levels per input (``p``, even, at least 2; the step is ``p / (2 (p - 1))``).
    seed
        Seed of the trajectories and of the bootstrap of mu*'s interval.
    conf_level, num_resamples
        The interval of mu* (bootstrap over the elementary effects).

    Returns
    -------
    DataFrame
        One row per output and input (outputs in ``evaluate``'s column order, inputs in
        the problem's): ``mu``, ``mu_star`` (mean absolute elementary effect, in output
        units per whole range of the input), ``mu_star_conf`` (half-width), ``sigma``.
    """
    from SALib.analyze import morris as morris_analyze
    from SALib.sample import morris as morris_sample

    _check_count("trajectories", trajectories, 2)
    _check_count("levels", levels, 2)
    if levels % 2:
        raise ValueError(f"levels must be even (Morris's symmetric grid), not {levels}")
    _check_resampling(conf_level, num_resamples)
    sample_seed, analysis_seed = _seeds(seed, 2)
    spec = problem.salib()
    u = morris_sample.sample(spec, trajectories, num_levels=levels, seed=sample_seed)
    outputs = _outputs(evaluate, u)

    def analyse(y: np.ndarray) -> Mapping[str, Any]:
        return morris_analyze.analyze(
            spec,
            u,
            y,
            num_resamples=num_resamples,
            conf_level=conf_level,
            num_levels=levels,
            seed=analysis_seed,
        )

    keys = MORRIS_COLUMNS[2:]
    rows = [
        (name, inp, *(float(res[k][i]) for k in keys))
        for name, res in _analysed(outputs, problem.d, keys, analyse)
        for i, inp in enumerate(problem.names)
    ]
    return pd.DataFrame(rows, columns=list(MORRIS_COLUMNS))


def _analysed(
    outputs: pd.DataFrame,
    d: int,
    keys: Sequence[str],
    analyse: Callable[[np.ndarray], Mapping[str, Any]],
    pair_keys: Sequence[str] = (),
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Yield each output's SALib results; an output that never varies gets zeros."""
    for name in outputs.columns:
        y = outputs[name].to_numpy()
        if _is_constant(y):
            res: dict[str, Any] = {k: np.zeros(d) for k in keys}
            res.update({k: np.zeros((d, d)) for k in pair_keys})
            yield str(name), res
        else:
            yield str(name), analyse(y)


def _power_of_two(n: int) -> bool:
    return n >= 2 and n & (n - 1) == 0


def sobol(
    problem: Problem,
    evaluate: Evaluate,
    *,
    n_base: int = 1024,
    seed: int | None = 0,
    calc_second_order: bool = False,
    conf_level: float = 0.95,
    num_resamples: int = 1000,
) -> pd.DataFrame:
    """Estimate Sobol' first-order and total indices on Saltelli's scheme.

    Parameters
    ----------
    problem
        The inputs.
    evaluate
        The model on unit-cube rows; called once on all ``n_base * (d + 2)`` rows
        (``n_base * (2d + 2)`` with ``calc_second_order``).
    n_base
        Base sample size ``N``, a power of two (scrambled Sobol' sequence), at least 2.
    seed
        Seed of the scrambling and of the bootstrap of the intervals.
    calc_second_order
        Also estimate the second-order indices; they go in ``result.attrs["S2"]``, a table
        with ``output``, ``input``, ``other``, ``S2``, ``S2_conf`` per pair.
    conf_level, num_resamples
        The intervals (bootstrap over the base samples; ``*_conf`` are half-widths).

    Returns
    -------
    DataFrame
        One row per output and input: ``S1`` (share of the output's variance due to the
        input alone), ``S1_conf``, ``ST`` (share with all its interactions), ``ST_conf``.
        An output that never varies gets zeros: no input moves it.
    """
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import sobol as sobol_sample

    if isinstance(n_base, bool) or not isinstance(n_base, int | np.integer):
        raise ValueError(f"n_base must be an integer power of two, not {n_base!r}")
    if not _power_of_two(int(n_base)):
        raise ValueError(
            f"n_base must be a power of two (at least 2) for the Sobol' sequence, not {n_base}"
        )
    _check_resampling(conf_level, num_resamples)
    sample_seed, analysis_seed = _seeds(seed, 2)
    spec = problem.salib()
    u = sobol_sample.sample(
        spec, int(n_base), calc_second_order=calc_second_order, seed=sample_seed
    )
    outputs = _outputs(evaluate, u)
    d = problem.d

    def analyse(y: np.ndarray) -> Mapping[str, Any]:
        with warnings.catch_warnings():
            # SALib warns of constant resamples; the intervals already show it.
            warnings.simplefilter("ignore", UserWarning)
            return sobol_analyze.analyze(
                spec,
                y,
                calc_second_order=calc_second_order,
                num_resamples=num_resamples,
                conf_level=conf_level,
                seed=analysis_seed,
            )

    keys = SOBOL_COLUMNS[2:]
    pair_keys = ("S2", "S2_conf") if calc_second_order else ()
    rows = []
    pairs = []
    for name, res in _analysed(outputs, d, keys, analyse, pair_keys):
        rows += [
            (name, inp, *(float(res[k][i]) for k in keys)) for i, inp in enumerate(problem.names)
        ]
        pairs += [
            (name, problem.names[i], problem.names[j], *(float(res[k][i, j]) for k in pair_keys))
            for i in range(d)
            for j in range(i + 1, d)
            if pair_keys
        ]
    table = pd.DataFrame(rows, columns=list(SOBOL_COLUMNS))
    if calc_second_order:
        table.attrs["S2"] = pd.DataFrame(
            pairs, columns=["output", "input", "other", "S2", "S2_conf"]
        )
    return table


@dataclass(frozen=True)
class Screening:
    """Morris on every input, then Sobol' on the inputs kept.

    Attributes
    ----------
    morris
        ``morris``'s table over every input.
    sobol
        ``sobol``'s table over the kept inputs only.
    kept, dropped
        Input names, in the problem's order.
    share
        The cut: an input is kept when its mu* reaches this share of the largest mu* for
        at least one output.
    fixed_at
        Where the dropped inputs were held on the unit cube during the Sobol' step.
    """

    morris: pd.DataFrame
    sobol: pd.DataFrame
    kept: tuple[str, ...]
    dropped: tuple[str, ...]
    share: float
    fixed_at: float


def screened_inputs(table: pd.DataFrame, share: float) -> list[str]:
    """Return the inputs whose mu* reaches ``share`` of the largest mu* for some output.

    Outputs that never vary (largest mu* of 0) select nothing. Inputs come in the order
    they first appear in ``table``.
    """
    if not 0 <= share <= 1:
        raise ValueError(f"share must be in [0, 1], not {share}")
    largest = table.groupby("output", sort=False)["mu_star"].transform("max")
    keep = (largest > 0) & (table["mu_star"] >= share * largest)
    chosen = set(table.loc[keep, "input"])
    return [n for n in dict.fromkeys(table["input"]) if n in chosen]


def screen_then_sobol(
    problem: Problem,
    evaluate: Evaluate,
    *,
    share: float = 0.1,
    keep_all_up_to: int = 3,
    trajectories: int = 20,
    levels: int = 4,
    n_base: int = 1024,
    seed: int | None = 0,
    fixed_at: float = 0.5,
    calc_second_order: bool = False,
    conf_level: float = 0.95,
    num_resamples: int = 1000,
) -> Screening:
    """Screen with Morris, then estimate Sobol' indices of the inputs that matter.

    An input is kept when, for at least one output, its mu* is at least ``share`` of the
    largest mu* of that output (0.1: a tenth of the strongest effect). With
    ``keep_all_up_to`` inputs or fewer, all are kept (Sobol' is cheap then; Morris still
    runs and its table is returned). The dropped inputs are held at ``fixed_at`` on the
    unit cube (the middle of their range by default) while Sobol' varies the kept ones,
    so the Sobol' step costs ``n_base * (k + 2)`` evaluations for ``k`` kept inputs.
    If no input has any effect, all are kept.
    """
    if not 0 <= fixed_at <= 1:
        raise ValueError(f"fixed_at must be on the unit interval [0, 1], not {fixed_at}")
    _check_count("keep_all_up_to", keep_all_up_to, 0)
    morris_seed, sobol_seed = _seeds(seed, 2)
    screen = morris(
        problem,
        evaluate,
        trajectories=trajectories,
        levels=levels,
        seed=morris_seed,
        conf_level=conf_level,
        num_resamples=num_resamples,
    )
    chosen = screened_inputs(screen, share)
    if problem.d <= keep_all_up_to or not chosen:
        chosen = list(problem.names)
    index = np.array([problem.names.index(n) for n in chosen])
    sub = Problem(tuple(chosen))

    def evaluate_kept(u_kept: np.ndarray) -> pd.DataFrame:
        u = np.full((len(u_kept), problem.d), float(fixed_at))
        u[:, index] = u_kept
        return evaluate(u)

    indices = sobol(
        sub,
        evaluate_kept,
        n_base=n_base,
        seed=sobol_seed,
        calc_second_order=calc_second_order,
        conf_level=conf_level,
        num_resamples=num_resamples,
    )
    return Screening(
        morris=screen,
        sobol=indices,
        kept=tuple(chosen),
        dropped=tuple(n for n in problem.names if n not in chosen),
        share=share,
        fixed_at=fixed_at,
    )


def tornado(
    indices: pd.DataFrame, *, by: str | None = None, outputs: Sequence[str] | None = None
) -> pd.DataFrame:
    """Order the inputs of each output by importance, with their intervals.

    Parameters
    ----------
    indices
        A table of ``sobol`` or ``morris`` (or ``Screening.sobol``).
    by
        The measure: ``"ST"`` (default for Sobol' tables), ``"S1"`` or ``"mu_star"``
        (default for Morris tables).
    outputs
        The outputs to keep, in this order; all by default, in the table's order.

    Returns
    -------
    DataFrame
        ``output``, ``rank`` (1 is the most important), ``input``, ``value``, ``conf``
        (half-width), ``low``, ``high`` (``value -/+ conf``), then the table's other
        measure columns (``S1``, ``S1_conf``... or ``mu``, ``sigma``), sorted by output
        and rank; ties keep the problem's input order.
    """
    if by is None:
        by = "ST" if "ST" in indices.columns else "mu_star"
    conf = f"{by}_conf"
    missing = [c for c in ("output", "input", by, conf) if c not in indices.columns]
    if missing:
        raise ValueError(f"the indices table lacks the columns {missing} for by={by!r}")
    wanted = list(dict.fromkeys(indices["output"])) if outputs is None else list(outputs)
    if not wanted:
        raise ValueError("the indices table has no outputs to order")
    unknown = [o for o in wanted if o not in set(indices["output"])]
    if unknown:
        raise ValueError(
            f"no indices for outputs {unknown}; known: {sorted(set(indices['output']))}"
        )
    parts = []
    extra = [c for c in indices.columns if c not in ("output", "input", by, conf)]
    for name in wanted:
        part = indices[indices["output"] == name]
        part = part.iloc[np.argsort(-part[by].to_numpy(), kind="stable")]
        parts.append(
            pd.DataFrame(
                {
                    "output": name,
                    "rank": np.arange(1, len(part) + 1),
                    "input": part["input"].to_numpy(),
                    "value": part[by].to_numpy(),
                    "conf": part[conf].to_numpy(),
                    "low": (part[by] - part[conf]).to_numpy(),
                    "high": (part[by] + part[conf]).to_numpy(),
                    **{c: part[c].to_numpy() for c in extra},
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


__all__ = [
    "MORRIS_COLUMNS",
    "SOBOL_COLUMNS",
    "TORNADO_COLUMNS",
    "Evaluate",
    "Problem",
    "Screening",
    "morris",
    "screen_then_sobol",
    "screened_inputs",
    "sobol",
    "tornado",
]
