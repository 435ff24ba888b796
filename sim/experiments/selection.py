"""Select the cheapest setting whose outage probability meets a target, with a guarantee.

The problem
-----------
There are k systems (settings). Replication j of system i gives a cost ``X_ij`` (in
ccsim: micro-units of currency per year; any unit works if ``indifference`` is given in
the same unit) and an outage indicator ``Y_ij`` in {0, 1}. System i is *feasible* when
``p_i = E[Y_i] <= q`` (the outage target). Among the feasible systems we want the one with
the least expected cost. Every system runs on the same replication numbers (common random
numbers, CRN), so ``X_ij`` and ``X_lj`` are correlated, and so are ``Y_ij`` and ``Y_lj``.

The procedure
-------------
This is the procedure of Andradóttir & Kim (2010) in which the feasibility check (their
phase I) and the comparison of costs (their phase II) run at the same time, each a fully
sequential test:

* Phase I, for each system: Wald's (1945) sequential probability ratio test (SPRT) of
  ``p <= q - eps`` against ``p >= q + eps`` on the outage indicators, with the
  thresholds that Ville's (1939) maximal inequality makes exact for Bernoulli outcomes.
  Andradóttir & Kim allow any feasibility check with a per-system error bound; this
  one needs no variance estimate and no normal approximation.
* Phase II, for each pair of systems: the KN test of Kim & Nelson (2001), on the
  cumulative sum of the paired differences ``X_lj - X_ij``. KN estimates the variance of
  each *difference*, so it stays valid under CRN, and CRN makes it use fewer replications.

Here is how the two phases combine. A pair is decided once, at the first check where its
partial sum leaves the KN region ("i beats l"). A beaten system leaves the contest only
when one of the systems that beat it has been declared feasible. A system declared
infeasible leaves at once, and the systems it beat stay in. That way a cheap infeasible
setting cannot knock out the best feasible one. Each pair's error event is then exactly
the KN event "the partial sum first leaves the region on the wrong side". A system stops
being sampled when nothing is left to learn from it: its feasibility is decided and all
its pairs with systems still in the contest are decided. Sampling pauses for it, but it
stays in the contest, and the replications it skipped are not needed.

The procedure ends when no system is left (chosen: None, no feasible system), when one
is left and it has been declared feasible (chosen: that system), or when the cap of
``max_replications`` per system is reached.

Constants
---------
Let alpha = 1 - confidence, n0 = ``first_stage``, delta = ``indifference``,
eps = ``tolerance``, ``p0 = max(0, q - eps)``, ``p1 = q + eps``.

* Split (Andradóttir & Kim split alpha between the phases): alpha_1 = alpha_2 = alpha/2.
  They are combined by the Bonferroni inequality, P(CS) >= 1 - alpha_1 - alpha_2. This
  needs no independence, and CRN makes the systems and the two phases dependent.
* Phase I, per system: beta_1 = alpha_1 / k, by Bonferroni across the k systems. The
  ``1 - (1 - alpha_1)^(1/k)`` of independent systems is not guaranteed under CRN.
  After r replications with s outages the log-likelihood ratio of p1 against p0 is
  ``L(r) = s ln(p1 / p0) - (r - s) ln((1 - p0) / (1 - p1))``. The system is declared
  infeasible when ``L(r) >= ln(1 / beta_1)`` and feasible when ``L(r) <= -ln(1 / beta_1)``
  (with p0 = 0, a single outage declares it infeasible). Otherwise the check goes on.
* Phase II, per pair: beta_2 = alpha_2 / (k - 1), with c = 1 (the choice Kim & Nelson
  recommend): ``eta_2 = ((2 beta_2)^(-2/(n0-1)) - 1) / 2``, ``h_2^2 = 2 eta_2 (n0 - 1)``.
  ``S_il^2`` is the sample variance of ``X_ij - X_lj`` over the first n0 replications.
  ``R_il(r) = max(0, h_2^2 S_il^2 / (2 delta) - delta r / 2)``, which is r times KN's
  ``W_il(r)``. System i beats l at the first check where
  ``sum_{j<=r} (X_lj - X_ij) > R_il(r)``.
  KN states these for maximisation. Here they are mirrored, since the cost is minimised.

Why phase I errs with probability at most beta_1
------------------------------------------------
Under p = p0 the likelihood ratio ``exp(L(r))`` is a non-negative martingale with mean 1,
so by Ville's inequality the chance that it *ever* reaches ``1 / beta_1`` is at most
beta_1: a system at p0 is declared infeasible with probability <= beta_1. Under p = p1,
``exp(-L(r))`` is such a martingale, so a system at p1 is declared feasible with
probability <= beta_1. Both bounds hold for every check schedule (the checks at stage
ends are a subset of all times) and need no first-stage variance, so the rare-outage
trap of variance-based checks (a first stage without outages has variance 0) cannot
spring. They extend to ``p < p0`` and ``p > p1``: couple the indicators as
``1{U_j < p}`` on common uniforms; L(r) grows with every indicator, so a larger p moves
the path up at every r, and a path that leaves at the top for some p leaves at the top
for every larger p (it cannot have left at the bottom first, being higher). So
P(declared infeasible) grows with p, and P(declared feasible) falls with it. With no
overshoot, the expected replications at p0 are about ``ln(1/beta_1) / D(p0 || p1)``
(D: the Kullback-Leibler divergence), which for q = 1 %, eps = 0.5 % and 26 systems is
about 1,500; a setting that never has an outage is declared feasible after
``ln(1/beta_1) / ln((1 - p0)/(1 - p1))`` replications (about 690).

The guarantee
-------------
Let F be the systems with ``p <= q - eps`` and U those with ``p >= q + eps``. Systems in
between may be declared either way. Suppose the best system b is in F, and every other
system outside U costs at least delta more in expectation than b (systems in U may be
cheaper). Then, with normal costs and the Brownian approximation for the outages,
P(b is chosen) >= 1 - alpha, provided the cap does not stop the procedure. Here is why.
With probability at least 1 - alpha_1, no system in F is declared infeasible and none in
U is declared feasible (k events, beta_1 each). With probability at least 1 - alpha_2,
no system outside U beats b (k - 1 pairs, beta_2 each). On both events b is never
eliminated, and b is declared feasible. Every other system is declared infeasible, or it
is beaten by b and eliminated. All of this needs n0 >= 2 and an unbiased first stage.
Phase I's bound is exact for Bernoulli outages; phase II rests, like KN, on normal costs.

Stages of several replications
------------------------------
The simulator runs batches, so checks happen only after each stage, not after each
replication. These checks are a subset of the fully sequential checks, and that keeps
the guarantee. Phase I's bound holds over all times at once (above). Phase II's bound is
for the partial-sum process first leaving the triangular region on the wrong side,
computed for Brownian motion in continuous time. As
Kim & Nelson (2001) use it, Jennison, Johnstone & Turnbull (1982) showed that observing
the process at any increasing sequence of times cannot make a wrong-side first exit more
likely for such a region. Checking at a subset of times, at the stage ends, is one such
sequence. Stage sizes must not depend on the observed values. A fixed stage size
qualifies, and so does one trimmed to the cap.

The cap
-------
When the systems still sampled reach ``max_replications``, the procedure stops. The
result then says the guarantee does not hold, and it chooses the system with the least
sample mean cost among those still in the contest. That means those not declared
infeasible and not eliminated, whether or not their feasibility was decided. Ties go to
the lower system number.

References
----------
S. Andradóttir and S.-H. Kim (2010). Fully sequential procedures for comparing
constrained systems via simulation. *Naval Research Logistics* 57(5), 403-421.

J. Ville (1939). *Étude critique de la notion de collectif*. Gauthier-Villars, Paris.

A. Wald (1945). Sequential tests of statistical hypotheses. *Annals of Mathematical
Statistics* 16(2), 117-186.

C. Jennison, I. M. Johnstone and B. W. Turnbull (1982). Asymptotically optimal
procedures for sequential adaptive selection of the best of several normal means. In
*Statistical Decision Theory and Related Topics III*, vol. 2, Academic Press.

S.-H. Kim and B. L. Nelson (2001). A fully sequential procedure for indifference-zone
selection in simulation. *ACM TOMACS* 11(3), 251-273.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

Sampler = Callable[
    [list[int], range], tuple[Mapping[int, npt.ArrayLike], Mapping[int, npt.ArrayLike]]
]
"""``sample(systems, replications) -> (costs, outages)``, one value per replication."""

_UNDECIDED, _FEASIBLE, _INFEASIBLE = 0, 1, -1


class Feasibility(StrEnum):
    """What the feasibility check (phase I) said about a system."""

    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    UNDECIDED = "undecided"


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


@dataclass(frozen=True)
class SelectionSettings:
    """What the selection must achieve, and its budget.

    Parameters
    ----------
    indifference
        delta: the smallest difference in expected cost worth detecting, in cost units
        (micro-units per year in ccsim). Systems closer than this to the best may be
        chosen instead of it.
    target
        q: the largest acceptable outage probability, in [0, 1).
    tolerance
        epsilon: the feasibility tolerance, an absolute probability. Systems with
        P(outage) <= q - epsilon count as feasible, those with >= q + epsilon as
        infeasible; in between, either decision is acceptable.
    confidence
        1 - alpha: the nominal probability of correct selection.
    first_stage
        n0 >= 2: the replications from which the variances are estimated.
    max_replications
        The cap per system. Reaching it ends the procedure without the guarantee.
    """

    indifference: float
    target: float
    tolerance: float
    confidence: float = 0.95
    first_stage: int = 20
    max_replications: int = 1000

    def __post_init__(self) -> None:
        d = self.indifference
        if not (isinstance(d, int | float) and math.isfinite(d) and d > 0):
            raise ValueError(f"indifference must be a positive, finite cost difference (got {d!r})")
        q = self.target
        if not (isinstance(q, int | float) and 0 <= q < 1):
            raise ValueError(f"target must be an outage probability in [0, 1) (got {q!r})")
        e = self.tolerance
        if not (isinstance(e, int | float) and e > 0 and q + e < 1):
            raise ValueError(
                f"tolerance must be positive with target + tolerance < 1 (got {e!r} "
                f"with target {q!r})"
            )
        c = self.confidence
        if not (isinstance(c, int | float) and 0 < c < 1):
            raise ValueError(f"confidence must be strictly between 0 and 1 (got {c!r})")
        n0 = self.first_stage
        if not (_is_int(n0) and n0 >= 2):
            raise ValueError(f"first_stage must be an integer >= 2 (got {n0!r})")
        cap = self.max_replications
        if not (_is_int(cap) and cap >= n0):
            raise ValueError(
                f"max_replications must be an integer >= first_stage ({n0}) (got {cap!r})"
            )


@dataclass(frozen=True)
class Constants:
    """The constants of the two tests, derived from the settings and the number of systems.

    Attributes
    ----------
    alpha_feasibility
        alpha_1, the error allowed to the feasibility checks together.
    alpha_selection
        alpha_2, the error allowed to the cost comparisons together.
    sprt_threshold
        ln(1 / beta_1), beta_1 = alpha_1 / k: the SPRT's log-likelihood-ratio threshold.
    llr_outage
        ln(p1 / p0): what one outage adds to the log-likelihood ratio (inf if p0 = 0).
    llr_no_outage
        ln((1 - p0) / (1 - p1)): what one replication without an outage takes from it.
    h2_selection
        h_2^2 of KN (Kim & Nelson 2001), per pair beta_2 = alpha_2 / (k - 1); 0 if k = 1.
    """

    alpha_feasibility: float
    alpha_selection: float
    sprt_threshold: float
    llr_outage: float
    llr_no_outage: float
    h2_selection: float

    def replications_without_outage(self) -> int:
        """Replications after which a system without any outage is declared feasible."""
        return math.ceil(self.sprt_threshold / self.llr_no_outage)


def _h2(beta: float, n0: int) -> float:
    """Return h^2 = 2 eta (n0 - 1), eta = ((2 beta)^(-2/(n0-1)) - 1) / 2 (KN, c = 1)."""
    eta = 0.5 * ((2.0 * beta) ** (-2.0 / (n0 - 1)) - 1.0)
    return 2.0 * eta * (n0 - 1)


def _sprt_threshold(beta: float) -> float:
    """Return ln(1 / beta): Ville's inequality bounds each wrong decision by beta."""
    return math.log(1.0 / beta)


def constants(k: int, settings: SelectionSettings) -> Constants:
    """Return the constants the procedure uses for ``k`` systems."""
    if k < 1:
        raise ValueError(f"need at least one system (got {k})")
    alpha = 1.0 - settings.confidence
    a1 = a2 = alpha / 2
    n0 = settings.first_stage
    p0 = max(0.0, settings.target - settings.tolerance)
    p1 = settings.target + settings.tolerance
    return Constants(
        alpha_feasibility=a1,
        alpha_selection=a2,
        sprt_threshold=_sprt_threshold(a1 / k),
        llr_outage=math.log(p1 / p0) if p0 > 0 else math.inf,
        llr_no_outage=math.log((1.0 - p0) / (1.0 - p1)),
        h2_selection=_h2(a2 / (k - 1), n0) if k > 1 else 0.0,
    )


@dataclass(frozen=True)
class SystemOutcome:
    """What the procedure found about one system.

    Attributes
    ----------
    system
        The system's number.
    feasibility
        The feasibility decision; ``undecided`` if sampling stopped first (eliminated,
        or the cap).
    decided_at
        Replications of the system when feasibility was decided, or None.
    eliminated_at
        Replications when it was eliminated on cost by a system declared feasible, or None.
    eliminated_by
        The system that eliminated it, or None.
    replications
        Replications spent on it.
    mean_cost
        Sample mean cost over its replications (cost units, micro-units per year).
    mean_outage
        Fraction of its replications with an outage.
    """

    system: int
    feasibility: Feasibility
    decided_at: int | None
    eliminated_at: int | None
    eliminated_by: int | None
    replications: int
    mean_cost: float
    mean_outage: float


@dataclass(frozen=True)
class SelectionResult:
    """The chosen system and how sure the choice is.

    Attributes
    ----------
    chosen
        The system chosen, or None: no system was declared feasible (and, at the cap,
        none was left undecided).
    guaranteed
        True if the procedure finished, so P(correct selection) >= ``confidence`` holds
        under the indifference-zone assumption; False if the cap stopped it (then
        ``chosen`` is the least sample mean among the systems still in the contest).
    confidence
        The nominal probability of correct selection, 1 - alpha.
    indifference
        delta, in cost units (micro-units per year).
    target
        q, the outage target.
    tolerance
        epsilon, the feasibility tolerance (absolute probability).
    systems
        One outcome per system, in the order the systems were given.
    constants
        The constants used.
    """

    chosen: int | None
    guaranteed: bool
    confidence: float
    indifference: float
    target: float
    tolerance: float
    systems: tuple[SystemOutcome, ...]
    constants: Constants

    method = (
        "Procedure: Andradottir & Kim (2010), a feasibility check by Wald's sequential "
        "probability ratio test (exact for outage indicators, by Ville's inequality) run "
        "with the KN selection of Kim & Nelson (2001), fully sequential in stages, on "
        "common random numbers"
    )
    """The procedure and its sources, in one sentence (no final full stop)."""

    @property
    def replications(self) -> dict[int, int]:
        """Replications spent on each system, by system number."""
        return {s.system: s.replications for s in self.systems}

    @property
    def total_replications(self) -> int:
        """Replications spent over all systems."""
        return sum(s.replications for s in self.systems)

    @property
    def status(self) -> dict[int, str]:
        """Feasibility decision of each system: ``feasible``, ``infeasible`` or ``undecided``."""
        return {s.system: s.feasibility.value for s in self.systems}

    @property
    def verdicts(self) -> dict[int, str]:
        """What the procedure concluded of each system, in words for the tables.

        ``feasible`` and ``infeasible`` are feasibility decisions; a system eliminated on
        cost before its feasibility was decided is ``dropped on cost``; one the cap left
        without a decision is ``undecided``.
        """
        out = {}
        for s in self.systems:
            if s.feasibility is not Feasibility.UNDECIDED:
                out[s.system] = s.feasibility.value
            elif s.eliminated_at is not None:
                out[s.system] = "dropped on cost"
            else:
                out[s.system] = Feasibility.UNDECIDED.value
        return out

    @property
    def undecided(self) -> tuple[int, ...]:
        """Systems the cap left in the contest, neither eliminated nor infeasible.

        Empty when the procedure finished: then only the chosen system is left.
        """
        if self.guaranteed:
            return ()
        return tuple(
            s.system
            for s in self.systems
            if s.feasibility is not Feasibility.INFEASIBLE and s.eliminated_at is None
        )

    def outcome(self, system: int) -> SystemOutcome:
        """Return the outcome of one system, by number."""
        for s in self.systems:
            if s.system == system:
                return s
        raise KeyError(f"no system {system}")


class ConstrainedSelection:
    """The procedure, one stage at a time (see the module docstring).

    Ask :meth:`needs` which systems need more replications, run the same new replications
    for all of them (common random numbers), give the observations to :meth:`add`, and
    repeat until :attr:`done`; then read :meth:`result`.

    Parameters
    ----------
    systems
        The system numbers (distinct integers); ties are broken towards lower numbers.
    settings
        What the selection must achieve.
    """

    def __init__(self, systems: Sequence[int], settings: SelectionSettings) -> None:
        ids = list(systems)
        if not ids:
            raise ValueError("systems: need at least one system")
        bad = [s for s in ids if not _is_int(s)]
        if bad:
            raise ValueError(f"systems: numbers must be integers (got {bad[0]!r})")
        if len(set(ids)) != len(ids):
            dupes = sorted({int(s) for s in ids if ids.count(s) > 1})
            raise ValueError(f"systems: numbers must be distinct ({dupes} repeated)")
        k = len(ids)
        self.settings = settings
        self.constants = constants(k, settings)
        self._ids = np.array([int(s) for s in ids], dtype=np.int64)
        self._count = np.zeros(k, dtype=np.int64)
        self._sum_cost = np.zeros(k)
        self._sum_outage = np.zeros(k)
        self._first_cost: list[FloatArray] = []
        self._var_diff: FloatArray | None = None  # S_il^2
        self._seen: set[int] = set()
        self._r = 0
        self._feas = np.zeros(k, dtype=np.int8)
        self._decided_at = np.full(k, -1, dtype=np.int64)
        self._eliminated_at = np.full(k, -1, dtype=np.int64)
        self._eliminated_by = np.full(k, -1, dtype=np.int64)
        self._beats = np.zeros((k, k), dtype=bool)  # [i, l]: i beat l (pair decided)
        self._done = False
        self._capped = False

    @property
    def done(self) -> bool:
        """Whether the procedure has finished (decided, or stopped by the cap)."""
        return self._done

    @property
    def replications(self) -> int:
        """Replications added so far; every system in :meth:`needs` has this many."""
        return self._r

    def needs(self) -> list[int]:
        """Return the systems that need more replications now (all on the same ones)."""
        if self._done:
            return []
        return [int(s) for s in self._ids[self._needs_mask()]]

    def _active(self) -> npt.NDArray[np.bool_]:
        """Systems still in the contest: not infeasible and not eliminated."""
        return (self._feas != _INFEASIBLE) & (self._eliminated_at < 0)

    def _open_pairs(self, active: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        pairs = active[:, None] & active[None, :] & ~(self._beats | self._beats.T)
        np.fill_diagonal(pairs, False)
        return pairs

    def _needs_mask(self) -> npt.NDArray[np.bool_]:
        if self._var_diff is None:  # first stage: everyone
            return np.ones(len(self._ids), dtype=bool)
        active = self._active()
        undecided = active & (self._feas == _UNDECIDED)
        return undecided | self._open_pairs(active).any(axis=1)

    def add(
        self,
        replications: Sequence[int],
        costs: Mapping[int, npt.ArrayLike],
        outages: Mapping[int, npt.ArrayLike],
    ) -> None:
        """Add one stage of observations, then run the checks.

        Parameters
        ----------
        replications
            The replication numbers of this stage, new and distinct; the same for every
            system in :meth:`needs` (common random numbers).
        costs
            For each system in :meth:`needs` (exactly those), one cost per replication in
            the order of ``replications`` (cost units, micro-units per year).
        outages
            Likewise, one outage indicator (0 or 1) per replication.
        """
        if self._done:
            raise RuntimeError("the selection has finished: read result()")
        reps = list(replications)
        if not reps:
            raise ValueError("replications: a stage needs at least one replication")
        if not all(_is_int(j) for j in reps):
            raise ValueError("replications: numbers must be integers")
        numbers = {int(j) for j in reps}
        if len(numbers) != len(reps):
            raise ValueError("replications: a replication number appears twice")
        again = sorted(numbers & self._seen)
        if again:
            raise ValueError(f"replications: {again[:5]} were added before")
        m = len(reps)
        cap = self.settings.max_replications
        if self._r + m > cap:
            raise ValueError(
                f"replications: {self._r} + {m} would pass max_replications ({cap}); "
                f"add at most {cap - self._r}"
            )
        need = self._needs_mask()
        wanted = [int(s) for s in self._ids[need]]
        x = np.empty((len(wanted), m))
        y = np.empty((len(wanted), m))
        for name, data, out in (("costs", costs, x), ("outages", outages, y)):
            given = {int(s) for s in data}
            if given != set(wanted):
                raise ValueError(
                    f"{name}: expected the systems of needs() {sorted(wanted)}, got {sorted(given)}"
                )
            for row, s in enumerate(wanted):
                values = np.asarray(data[s], dtype=float)
                if values.shape != (m,):
                    raise ValueError(
                        f"{name}[{s}]: expected {m} values (one per replication), "
                        f"got shape {values.shape}"
                    )
                out[row] = values
        if not np.isfinite(x).all():
            raise ValueError("costs: values must be finite")
        if not ((y == 0) | (y == 1)).all():
            raise ValueError("outages: values must be 0 or 1")
        self._seen |= numbers
        index = np.flatnonzero(need)
        self._count[index] += m
        self._sum_cost[index] += x.sum(axis=1)
        self._sum_outage[index] += y.sum(axis=1)
        self._r += m
        if self._var_diff is None:
            self._first_cost.append(x)
            if self._r < self.settings.first_stage:
                return
            self._start()
        self._check()
        if not self._done and self._r >= cap:
            self._done = self._capped = True

    def _start(self) -> None:
        """Estimate the first-stage variances from the first n0 replications."""
        n0 = self.settings.first_stage
        x0 = np.concatenate(self._first_cost, axis=1)[:, :n0]
        self._var_diff = (x0[:, None, :] - x0[None, :, :]).var(axis=2, ddof=1)
        self._first_cost = []

    def _check(self) -> None:
        """Run the phase I and phase II checks after ``self._r`` replications."""
        assert self._var_diff is not None
        s, c, r = self.settings, self.constants, self._r
        delta = s.indifference
        # Phase I: every undecided system in the contest was sampled, so has r replications.
        undecided = self._active() & (self._feas == _UNDECIDED)
        if undecided.any():
            llr = self.log_likelihood_ratio()
            yes = undecided & (llr <= -c.sprt_threshold)
            no = undecided & ~yes & (llr >= c.sprt_threshold)
            self._feas[yes] = _FEASIBLE
            self._feas[no] = _INFEASIBLE
            self._decided_at[yes | no] = r
        # Phase II: decide the open pairs (both sampled, r replications each).
        active = self._active()
        pairs = self._open_pairs(active)
        if pairs.any():
            gap = self._sum_cost[None, :] - self._sum_cost[:, None]  # [i, l]: sum X_l - X_i
            bound2 = np.maximum(0.0, c.h2_selection * self._var_diff / (2 * delta) - delta * r / 2)
            lower = self._ids[:, None] < self._ids[None, :]
            tie = (bound2 == 0) & (gap == 0) & lower  # zero variance, equal costs
            self._beats |= pairs & ((gap > bound2) | tie)
        # Eliminate what a system declared feasible has beaten.
        feasible = self._feas == _FEASIBLE
        beaten = active & (self._beats & feasible[:, None]).any(axis=0)
        if beaten.any():
            means = self._sum_cost / np.maximum(self._count, 1)
            for loser in np.flatnonzero(beaten):
                winners = np.flatnonzero(self._beats[:, loser] & feasible)
                best = winners[np.lexsort((self._ids[winners], means[winners]))[0]]
                self._eliminated_at[loser] = r
                self._eliminated_by[loser] = self._ids[best]
        active = self._active()
        left = np.flatnonzero(active)
        if len(left) == 0 or (len(left) == 1 and self._feas[left[0]] == _FEASIBLE):
            self._done = True

    def log_likelihood_ratio(self) -> FloatArray:
        """Return each system's SPRT statistic L(r) over its replications so far."""
        c = self.constants
        outages = self._sum_outage
        without = self._count - outages
        if math.isinf(c.llr_outage):  # p0 = 0: one outage settles it
            return np.where(outages > 0, math.inf, -without * c.llr_no_outage)
        llr: FloatArray = outages * c.llr_outage - without * c.llr_no_outage
        return llr

    def result(self) -> SelectionResult:
        """Return the outcome; only once :attr:`done`."""
        if not self._done:
            raise RuntimeError(
                "the selection has not finished: add the replications of needs() until done"
            )
        left = np.flatnonzero(self._active())
        chosen: int | None = None
        if self._capped:
            if len(left):
                means = self._sum_cost[left] / self._count[left]
                chosen = int(self._ids[left[np.lexsort((self._ids[left], means))[0]]])
        elif len(left):
            chosen = int(self._ids[left[0]])
        names = {
            _FEASIBLE: Feasibility.FEASIBLE,
            _INFEASIBLE: Feasibility.INFEASIBLE,
            _UNDECIDED: Feasibility.UNDECIDED,
        }

        def some(value: int) -> int | None:
            return None if value < 0 else int(value)

        outcomes = tuple(
            SystemOutcome(
                system=int(self._ids[i]),
                feasibility=names[int(self._feas[i])],
                decided_at=some(int(self._decided_at[i])),
                eliminated_at=some(int(self._eliminated_at[i])),
                eliminated_by=some(int(self._eliminated_by[i])),
                replications=int(self._count[i]),
                mean_cost=float(self._sum_cost[i] / self._count[i]),
                mean_outage=float(self._sum_outage[i] / self._count[i]),
            )
            for i in range(len(self._ids))
        )
        s = self.settings
        return SelectionResult(
            chosen=chosen,
            guaranteed=not self._capped,
            confidence=s.confidence,
            indifference=s.indifference,
            target=s.target,
            tolerance=s.tolerance,
            systems=outcomes,
            constants=self.constants,
        )


def run_selection(
    systems: Sequence[int], settings: SelectionSettings, sample: Sampler, stage: int = 10
) -> SelectionResult:
    """Run the whole procedure against a sampler, ``stage`` replications at a time.

    Parameters
    ----------
    systems
        The system numbers.
    settings
        What the selection must achieve.
    sample
        ``sample(systems, replications) -> (costs, outages)``: for each system asked,
        one cost (micro-units per year) and one outage indicator (0/1) per replication,
        in order. Replications are numbered 0, 1, 2, ...; the same number must give the
        same random numbers to every system (common random numbers).
    stage
        Replications per stage (the last may be shorter, to stop at the cap).
    """
    if not (_is_int(stage) and stage >= 1):
        raise ValueError(f"stage must be a positive integer (got {stage!r})")
    selection = ConstrainedSelection(systems, settings)
    first = 0
    while not selection.done:
        size = min(stage, settings.max_replications - selection.replications)
        replications = range(first, first + size)
        costs, outages = sample(selection.needs(), replications)
        selection.add(replications, costs, outages)
        first += size
    return selection.result()


__all__ = [
    "Constants",
    "ConstrainedSelection",
    "Feasibility",
    "Sampler",
    "SelectionResult",
    "SelectionSettings",
    "SystemOutcome",
    "constants",
    "run_selection",
]
