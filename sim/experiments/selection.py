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
sequential test with a triangular continuation region:

* Phase I, for each system: the feasibility check of Batur & Kim (2010) for one system
  and one constraint (first given in Andradóttir, Goldsman & Kim 2005), on the
  cumulative sum of ``Y_ij - q``.
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

Constants (c = 1 throughout, the choice Kim & Nelson recommend)
----------------------------------------------------------------
Let alpha = 1 - confidence, n0 = ``first_stage``, delta = ``indifference``,
eps = ``tolerance``.

* Split (Andradóttir & Kim split alpha between the phases): alpha_1 = alpha_2 = alpha/2.
  They are combined by the Bonferroni inequality, P(CS) >= 1 - alpha_1 - alpha_2. This
  needs no independence, and CRN makes the systems and the two phases dependent.
* Phase I, per system: beta_1 = alpha_1 / k, by Bonferroni across the k systems. The
  ``1 - (1 - alpha_1)^(1/k)`` of independent systems is not guaranteed under CRN.
  ``eta_1 = ((2 beta_1)^(-2/(n0-1)) - 1) / 2``, ``h_1^2 = 2 eta_1 (n0 - 1)``.
  ``R_i(r) = max(0, h_1^2 V_i / (2 eps) - eps r / 2)`` (Batur & Kim's ``R(r; eps, h_1^2,
  S_i^2)`` with c = 1). After r replications, system i is declared feasible if
  ``sum_{j<=r} (Y_ij - q) <= -R_i(r)`` and infeasible if the sum is ``>= R_i(r)``.
  Otherwise the check goes on. ``V_i`` is the floored variance (next section).
* Phase II, per pair: beta_2 = alpha_2 / (k - 1).
  ``eta_2 = ((2 beta_2)^(-2/(n0-1)) - 1) / 2``, ``h_2^2 = 2 eta_2 (n0 - 1)``.
  ``S_il^2`` is the sample variance of ``X_ij - X_lj`` over the first n0 replications.
  ``R_il(r) = max(0, h_2^2 S_il^2 / (2 delta) - delta r / 2)``, which is r times KN's
  ``W_il(r)``. System i beats l at the first check where
  ``sum_{j<=r} (X_lj - X_ij) > R_il(r)``.
  KN states these for maximisation. Here they are mirrored, since the cost is minimised.

These formulas are those of Kim & Nelson (2001, procedure KN) and Batur & Kim (2010,
procedure for one system and one constraint). They were checked against public
implementations of KN and of Batur & Kim's and Andradóttir & Kim's phase I.

The rare-outage trap, and the variance floor
--------------------------------------------
Outages are rare Bernoulli events. With q = 1 % and n0 = 20, the first stage often holds
no outage at all, so ``S_i^2 = 0``. Then ``R_i = 0``, and a variance-based check declares
the system feasible at once, whatever its true probability. So the check uses

    ``V_i = max(S_i^2, v*)``, with ``v* = max{p (1 - p) : q - eps <= p <= q + eps}``,

which is ``(q + eps)(1 - q - eps)`` for an outage target (``q + eps <= 1/2``): the
variance of a Bernoulli observation at the edge of the tolerance band. Here is why it is
principled. Batur & Kim's bound comes from Fabian's (1974) bound for Brownian motion.
With drift eps and variance sigma^2 per replication, in the region above, the chance of
leaving on the wrong side is at most ``exp(-h_1^2 V_i / (2 sigma^2)) / 2``. That is at
most ``exp(-h_1^2 / 2) / 2 <= beta_1`` whenever ``V_i >= sigma^2``, whatever ``S_i^2``.
Every system with ``p <= q - eps`` has ``sigma^2 <= v*``, and so does a system at
``p = q + eps``. A larger drift only makes a wrong exit less likely. For ``p > q + eps``,
the drift ``p - q`` grows faster than the standard deviation. The one-sided
first-passage bound ``exp(-h_1^2 V_i (2(p - q) - eps) / (2 eps sigma^2))`` then keeps
the error of order beta_1. With the floor the check needs no first-stage outages. Like
Batur & Kim's own procedure it rests on the normal (Brownian) approximation to the
partial sums. The tests measure the actual error rates with Bernoulli outages.

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

Stages of several replications
------------------------------
The simulator runs batches, so checks happen only after each stage, not after each
replication. These checks are a subset of the fully sequential checks, and that keeps
the guarantee. The reason: both bounds are for the partial-sum process first leaving the
triangular region on the wrong side, computed for Brownian motion in continuous time. As
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

S. Andradóttir, D. Goldsman and S.-H. Kim (2005). Finding the best in the presence of a
stochastic constraint. *Proceedings of the 2005 Winter Simulation Conference*.

D. Batur and S.-H. Kim (2010). Finding feasible systems in the presence of constraints
on multiple performance measures. *ACM TOMACS* 20(3), article 13.

V. Fabian (1974). Note on Anderson's sequential procedures with triangular boundary.
*Annals of Statistics* 2(1), 170-176.

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
    h2_feasibility
        h_1^2 of the feasibility check (Batur & Kim 2010), per system beta_1 = alpha_1 / k.
    h2_selection
        h_2^2 of KN (Kim & Nelson 2001), per pair beta_2 = alpha_2 / (k - 1); 0 if k = 1.
    variance_floor
        v*, the least variance used in the feasibility check (probability squared).
    """

    alpha_feasibility: float
    alpha_selection: float
    h2_feasibility: float
    h2_selection: float
    variance_floor: float


def _h2(beta: float, n0: int) -> float:
    """Return h^2 = 2 eta (n0 - 1), eta = ((2 beta)^(-2/(n0-1)) - 1) / 2 (KN, c = 1)."""
    eta = 0.5 * ((2.0 * beta) ** (-2.0 / (n0 - 1)) - 1.0)
    return 2.0 * eta * (n0 - 1)


def _variance_floor(target: float, tolerance: float) -> float:
    """Return the largest Bernoulli variance p(1 - p) over the tolerance band."""
    low, high = max(0.0, target - tolerance), min(1.0, target + tolerance)
    if low <= 0.5 <= high:
        return 0.25
    p = high if high < 0.5 else low
    return p * (1.0 - p)


def constants(k: int, settings: SelectionSettings) -> Constants:
    """Return the constants the procedure uses for ``k`` systems."""
    if k < 1:
        raise ValueError(f"need at least one system (got {k})")
    alpha = 1.0 - settings.confidence
    a1 = a2 = alpha / 2
    n0 = settings.first_stage
    return Constants(
        alpha_feasibility=a1,
        alpha_selection=a2,
        h2_feasibility=_h2(a1 / k, n0),
        h2_selection=_h2(a2 / (k - 1), n0) if k > 1 else 0.0,
        variance_floor=_variance_floor(settings.target, settings.tolerance),
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
        "Procedure: Andradottir & Kim (2010), feasibility check of Batur & Kim (2010) run "
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
        self._first_outage: list[FloatArray] = []
        self._var_outage: FloatArray | None = None  # V_i, floored
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
            self._first_outage.append(y)
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
        y0 = np.concatenate(self._first_outage, axis=1)[:, :n0]
        self._var_outage = np.maximum(y0.var(axis=1, ddof=1), self.constants.variance_floor)
        self._var_diff = (x0[:, None, :] - x0[None, :, :]).var(axis=2, ddof=1)
        self._first_cost, self._first_outage = [], []

    def _check(self) -> None:
        """Run the phase I and phase II checks after ``self._r`` replications."""
        assert self._var_outage is not None
        assert self._var_diff is not None
        s, c, r = self.settings, self.constants, self._r
        eps, delta = s.tolerance, s.indifference
        # Phase I: every undecided system in the contest was sampled, so has r replications.
        undecided = self._active() & (self._feas == _UNDECIDED)
        if undecided.any():
            walk = self._sum_outage - s.target * r
            bound = np.maximum(0.0, c.h2_feasibility * self._var_outage / (2 * eps) - eps * r / 2)
            yes = undecided & (walk <= -bound)
            no = undecided & ~yes & (walk >= bound)
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
