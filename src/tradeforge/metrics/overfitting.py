"""Overfitting statistics for parameter sweeps: probabilistic and deflated Sharpe ratios, and the probability of
backtest overfitting (PBO) by combinatorially symmetric cross-validation (CSCV).

References:

- D. H. Bailey, M. López de Prado (2012), "The Sharpe Ratio Efficient Frontier" (probabilistic Sharpe ratio).
- D. H. Bailey, M. López de Prado (2014), "The Deflated Sharpe Ratio: Correcting for Selection Bias, Backtest
  Overfitting and Non-Normality".
- D. H. Bailey, J. M. Borwein, M. López de Prado, Q. J. Zhu (2017), "The Probability of Backtest Overfitting".

Units: every Sharpe ratio in this module is **per period** (mean / standard deviation of the per-period returns,
no annualisation, no risk-free rate), because the formulas use the number of observations T of those same periods.
To use an annualised Sharpe, divide it by ``sqrt(periods_per_year)`` first (and a variance of annualised Sharpe
ratios by ``periods_per_year``). Skewness is the third standardised moment and kurtosis the fourth (Pearson:
3 for a normal distribution, not the excess kurtosis). The sample Sharpe uses the standard deviation with
``ddof=1``; skewness and kurtosis use the population (biased) moments, as in the papers.

Pure functions of numpy arrays; imports only numpy, the standard library and tradeforge.core.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from tradeforge.core.errors import ConfigError

EULER_GAMMA = 0.5772156649015329
"""The Euler–Mascheroni constant γ used by the expected-maximum approximation."""

MAX_SPLITS = 20
"""Largest ``n_splits`` accepted by PBO: C(20, 10) = 184,756 combinations; 22 would be 705,432."""

_NORMAL = NormalDist()
_CHUNK = 256  # combinations per vectorised CSCV step: 2 MB per (chunk x 1000 trials) array, cache-friendly

FloatArray = npt.NDArray[np.float64]
MetricFn = Callable[[FloatArray], npt.ArrayLike]


@dataclass(frozen=True, slots=True)
class DeflatedSharpeResult:
    """The deflated Sharpe ratio and what went into it. Sharpe values are per period (see the module doc)."""

    dsr: float  # probability that the true Sharpe exceeds expected_max_sharpe; significant at 0.95 if dsr > 0.95
    sharpe: float  # the selected strategy's per-period Sharpe estimate
    expected_max_sharpe: float  # SR0: expected best per-period Sharpe of n_trials skill-less trials
    n_trials: int
    trials_sharpe_variance: float  # variance of the trials' per-period Sharpe ratios
    n_obs: int
    skew: float
    kurtosis: float


@dataclass(frozen=True, slots=True, eq=False)
class PBOResult:
    """Result of combinatorially symmetric cross-validation; one entry per combination in the arrays (read-only)."""

    pbo: float  # fraction of combinations whose in-sample best ranks at or below the out-of-sample median
    logits: FloatArray  # λ_c = log(ω_c / (1 - ω_c)), ω_c = out-of-sample rank of the in-sample best / (N + 1)
    is_performance: FloatArray  # in-sample metric of the column chosen in each combination
    oos_performance: FloatArray  # out-of-sample metric of that same column
    degradation_slope: float  # slope of the least-squares line oos_performance ~ is_performance
    degradation_intercept: float
    prob_oos_loss: float  # fraction of combinations where the chosen column's out-of-sample metric is < 0
    n_splits: int
    n_combinations: int
    n_trials: int
    n_rows_used: int  # rows after dropping the oldest len % n_splits rows so the blocks are equal


# --- normal distribution and moments -------------------------------------------------------------------------------


def _check_finite(name: str, value: float) -> float:
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _returns_1d(returns: npt.ArrayLike, name: str = "returns") -> FloatArray:
    arr = np.asarray(returns, dtype=np.float64)
    if arr.ndim != 1:
        raise ConfigError(f"{name} must be a 1-D array of per-period returns, got shape {arr.shape}")
    if arr.size < 2:
        raise ConfigError(f"{name} needs at least 2 observations to estimate a Sharpe ratio, got {arr.size}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise ConfigError(
            f"{name} contains {bad} NaN/inf value(s); replace them (0.0 for periods without a position) or drop them"
        )
    return arr


def sharpe_moments(returns: npt.ArrayLike) -> tuple[float, int, float, float]:
    """Per-period Sharpe (ddof=1), number of observations, skewness and Pearson kurtosis of a return series.

    A series of zeros (a trial that never trades) has Sharpe 0 and the moments of a normal distribution (skew 0,
    kurtosis 3); any other constant series has no finite Sharpe and raises ConfigError.
    """
    r = _returns_1d(returns)
    n = int(r.size)
    mean = float(r.mean())
    dev = r - mean
    m2 = float(np.mean(dev * dev))
    if m2 <= (64.0 * np.finfo(np.float64).eps * mean) ** 2:  # constant up to the rounding of the mean
        if mean == 0.0:
            return 0.0, n, 0.0, 3.0
        raise ConfigError(
            f"returns are constant ({mean!r} every period): the Sharpe ratio is undefined; pass the returns of a "
            "strategy that takes risk"
        )
    sharpe = mean / math.sqrt(m2 * n / (n - 1))
    skew = float(np.mean(dev**3)) / m2**1.5
    kurt = float(np.mean(dev**4)) / m2**2
    return sharpe, n, skew, kurt


def _resolve_moments(
    returns: npt.ArrayLike | None,
    sharpe: float | None,
    n_obs: int | None,
    skew: float | None,
    kurtosis: float | None,
) -> tuple[float, int, float, float]:
    if returns is not None:
        moments = {"sharpe": sharpe, "n_obs": n_obs, "skew": skew, "kurtosis": kurtosis}
        given = [k for k, v in moments.items() if v is not None]
        if given:
            raise ConfigError(
                "pass either returns or the moments (sharpe, n_obs, skew, kurtosis), not both; "
                f"got returns and {', '.join(given)}"
            )
        return sharpe_moments(returns)
    if sharpe is None or n_obs is None:
        raise ConfigError("pass the strategy's per-period returns, or its per-period sharpe and n_obs (T)")
    sr = _check_finite("sharpe", sharpe)
    if isinstance(n_obs, bool) or int(n_obs) != n_obs or n_obs < 2:
        raise ConfigError(f"n_obs must be an integer >= 2 (the number of return periods), got {n_obs!r}")
    g3 = _check_finite("skew", 0.0 if skew is None else skew)
    g4 = _check_finite("kurtosis", 3.0 if kurtosis is None else kurtosis)
    if g4 < 1.0 + g3 * g3 - 1e-12:
        raise ConfigError(
            f"kurtosis {g4} and skew {g3} are inconsistent: kurtosis (Pearson, 3 for a normal) must be >= 1 + skew²; "
            "pass the fourth standardised moment, not the excess kurtosis"
        )
    return sr, int(n_obs), g3, g4


def _psr(sharpe: float, n_obs: int, skew: float, kurtosis: float, benchmark: float) -> float:
    # 1 - γ3·SR + (γ4 - 1)/4·SR² >= (1 - γ3·SR/2)² >= 0 whenever γ4 >= 1 + γ3², so it is never negative here.
    var_factor = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe * sharpe
    diff = sharpe - benchmark
    if var_factor <= 0.0:
        return 1.0 if diff > 0 else (0.0 if diff < 0 else 0.5)
    z = diff * math.sqrt(n_obs - 1) / math.sqrt(var_factor)
    return _NORMAL.cdf(z)


def probabilistic_sharpe_ratio(
    returns: npt.ArrayLike | None = None,
    *,
    sharpe: float | None = None,
    n_obs: int | None = None,
    skew: float | None = None,
    kurtosis: float | None = None,
    benchmark_sharpe: float = 0.0,
) -> float:
    """Probability that the true per-period Sharpe exceeds ``benchmark_sharpe`` (Bailey & López de Prado 2012).

    PSR = Φ((SR - SR*) · sqrt(T - 1) / sqrt(1 - γ3·SR + (γ4 - 1)/4 · SR²)). Pass either the per-period
    ``returns`` or their ``sharpe`` (per period), ``n_obs`` (T) and optionally ``skew`` (default 0) and
    ``kurtosis`` (Pearson, default 3). ``benchmark_sharpe`` is per period too.
    """
    sr, n, g3, g4 = _resolve_moments(returns, sharpe, n_obs, skew, kurtosis)
    return _psr(sr, n, g3, g4, _check_finite("benchmark_sharpe", benchmark_sharpe))


def expected_max_sharpe(n_trials: int, trials_sharpe_variance: float) -> float:
    """Expected maximum of ``n_trials`` Sharpe estimates of skill-less strategies (true Sharpe 0).

    E[max] ≈ sqrt(V) · ((1 - γ) Φ⁻¹(1 - 1/N) + γ Φ⁻¹(1 - 1/(N e))), with γ the Euler–Mascheroni constant and V the
    variance of the trials' Sharpe ratios (same units as the result). One trial gives 0.
    """
    n = _check_trials(n_trials)
    var = _check_finite("trials_sharpe_variance", trials_sharpe_variance)
    if var < 0.0:
        raise ConfigError(f"trials_sharpe_variance must be >= 0, got {var}")
    if n == 1:
        return 0.0
    z1 = _NORMAL.inv_cdf(1.0 - 1.0 / n)
    z2 = _NORMAL.inv_cdf(1.0 - 1.0 / (n * math.e))
    return math.sqrt(var) * ((1.0 - EULER_GAMMA) * z1 + EULER_GAMMA * z2)


def _check_trials(n_trials: int) -> int:
    if isinstance(n_trials, bool) or int(n_trials) != n_trials or n_trials < 1:
        raise ConfigError(f"n_trials must be an integer >= 1 (how many configurations were tried), got {n_trials!r}")
    return int(n_trials)


def deflated_sharpe_ratio(
    returns: npt.ArrayLike | None = None,
    *,
    sharpe: float | None = None,
    n_obs: int | None = None,
    skew: float | None = None,
    kurtosis: float | None = None,
    n_trials: int | None = None,
    trials_sharpe_variance: float | None = None,
    trials_sharpe: npt.ArrayLike | None = None,
) -> DeflatedSharpeResult:
    """Deflated Sharpe ratio (Bailey & López de Prado 2014): the PSR of the selected strategy against the Sharpe
    the best of ``n_trials`` skill-less trials would reach by luck (:func:`expected_max_sharpe`).

    The selected strategy: its per-period ``returns``, or ``sharpe`` (per period), ``n_obs``, ``skew``, ``kurtosis``.
    The trials: ``trials_sharpe`` (the per-period Sharpe of every trial, selected one included; V is their variance
    with ddof=1 and N defaults to their count), or ``n_trials`` and ``trials_sharpe_variance`` (per-period units).
    ``n_trials`` may override the count, e.g. with an estimate of the number of independent trials.
    ``dsr > 0.95`` means the Sharpe is significant at the 5% level after correcting for the selection.
    """
    sr, n, g3, g4 = _resolve_moments(returns, sharpe, n_obs, skew, kurtosis)
    if trials_sharpe is not None:
        if trials_sharpe_variance is not None:
            raise ConfigError("pass either trials_sharpe or trials_sharpe_variance, not both")
        ts = np.asarray(trials_sharpe, dtype=np.float64)
        if ts.ndim != 1 or ts.size < 2:
            raise ConfigError(
                f"trials_sharpe must be a 1-D array of at least 2 per-period Sharpe ratios, got shape {ts.shape}; "
                "with a single trial pass n_trials=1 and trials_sharpe_variance=0"
            )
        if not np.all(np.isfinite(ts)):
            raise ConfigError("trials_sharpe contains NaN/inf; give trials with undefined Sharpe 0.0 or drop them")
        variance = float(np.var(ts, ddof=1))
        trials = _check_trials(ts.size if n_trials is None else n_trials)
    else:
        if n_trials is None or trials_sharpe_variance is None:
            raise ConfigError(
                "pass trials_sharpe (every trial's per-period Sharpe), or both n_trials and trials_sharpe_variance"
            )
        trials = _check_trials(n_trials)
        variance = _check_finite("trials_sharpe_variance", trials_sharpe_variance)
    sr0 = expected_max_sharpe(trials, variance)
    return DeflatedSharpeResult(
        dsr=_psr(sr, n, g3, g4, sr0),
        sharpe=sr,
        expected_max_sharpe=sr0,
        n_trials=trials,
        trials_sharpe_variance=variance,
        n_obs=n,
        skew=g3,
        kurtosis=g4,
    )


# --- probability of backtest overfitting (CSCV) ---------------------------------------------------------------------


def _returns_2d(returns_matrix: npt.ArrayLike) -> FloatArray:
    m = np.asarray(returns_matrix, dtype=np.float64)
    if m.ndim != 2:
        raise ConfigError(
            f"returns_matrix must be 2-D (rows = periods, one column per trial), got shape {m.shape}; "
            "for a single strategy use probabilistic_sharpe_ratio"
        )
    if m.shape[1] < 2:
        raise ConfigError(
            f"returns_matrix has {m.shape[1]} column(s); overfitting needs at least 2 trials (one column each)"
        )
    if not np.all(np.isfinite(m)):
        rows, cols = np.nonzero(~np.isfinite(m))
        raise ConfigError(
            f"returns_matrix contains {rows.size} NaN/inf value(s) (first at row {rows[0]}, column {cols[0]}); "
            "fill periods without a position (e.g. indicator warm-up) with 0.0"
        )
    return m


def _sharpe_from_sums(s: FloatArray, sq: FloatArray, n: int, mean_shift: FloatArray) -> FloatArray:
    """Per-period Sharpe (ddof=1) of columns whose centred values x - mean_shift have sum s and sum of squares sq."""
    mean_c = s / n
    var = (sq - s * mean_c) / (n - 1)
    # Cancellation in sq - n·mean² leaves ~eps·sq of noise: a constant subset must have exactly zero variance.
    var[var <= 64.0 * np.finfo(np.float64).eps * sq / (n - 1)] = 0.0
    mean = mean_c + mean_shift
    with np.errstate(divide="ignore", invalid="ignore"):
        sr: FloatArray = mean / np.sqrt(var)
    zero = var == 0.0
    if np.any(zero):
        # Constant returns: Sharpe ±inf, or 0 when the mean is zero up to the rounding of mean_c + mean_shift.
        tol = 64.0 * np.finfo(np.float64).eps * (np.abs(mean_c) + np.abs(mean_shift))
        flat = np.abs(mean) <= tol
        sr[zero & flat] = 0.0
        sr[zero & ~flat] = np.copysign(np.inf, mean[zero & ~flat])
    return sr


def column_sharpe(returns_matrix: npt.ArrayLike) -> FloatArray:
    """Per-period Sharpe ratio (ddof=1) of every column; a constant column of zeros gives 0."""
    m = _returns_2d(returns_matrix)
    if m.shape[0] < 2:
        raise ConfigError(f"returns_matrix needs at least 2 rows to estimate Sharpe ratios, got {m.shape[0]}")
    mu = m.mean(axis=0)
    c = m - mu
    return _sharpe_from_sums(c.sum(axis=0), (c * c).sum(axis=0), m.shape[0], mu)


def _combination_masks(n_splits: int) -> npt.NDArray[np.bool_]:
    combos = list(itertools.combinations(range(n_splits), n_splits // 2))
    masks = np.zeros((len(combos), n_splits), dtype=np.bool_)
    masks[np.repeat(np.arange(len(combos)), n_splits // 2), np.array(combos, dtype=np.intp).ravel()] = True
    return masks


def _rank_of_chosen(oos: FloatArray, chosen: npt.NDArray[np.intp]) -> FloatArray:
    """1-based out-of-sample rank (ties averaged) of the chosen column in every row of ``oos``.

    Values within 1e-12 relative of the chosen one tie with it, so duplicated trials (two parameter combinations
    with the same trades) tie whatever the rounding of their sums.
    """
    pick = oos[np.arange(oos.shape[0]), chosen][:, None]
    with np.errstate(invalid="ignore"):
        tie = (oos == pick) | (np.abs(oos - pick) <= 1e-12 * np.maximum(np.abs(oos), np.abs(pick)))
    below = np.count_nonzero((oos < pick) & ~tie, axis=1)
    equal = np.count_nonzero(tie, axis=1)
    rank: FloatArray = below + (equal + 1) / 2.0
    return rank


def _cscv_vectorised(
    blocks_sum: FloatArray,
    blocks_sq: FloatArray,
    masks: npt.NDArray[np.bool_],
    block_len: int,
    mu: FloatArray,
    metric: Literal["sharpe", "mean"],
) -> tuple[FloatArray, FloatArray, FloatArray]:
    n_comb, n_splits = masks.shape
    n_half = block_len * (n_splits // 2)
    total_sum = blocks_sum.sum(axis=0)
    total_sq = blocks_sq.sum(axis=0)
    rank = np.empty(n_comb)
    is_perf = np.empty(n_comb)
    oos_perf = np.empty(n_comb)
    for start in range(0, n_comb, _CHUNK):
        mk = masks[start : start + _CHUNK].astype(np.float64)
        is_sum = mk @ blocks_sum
        oos_sum = total_sum - is_sum
        if metric == "sharpe":
            is_sq = mk @ blocks_sq
            is_m = _sharpe_from_sums(is_sum, is_sq, n_half, mu)
            oos_m = _sharpe_from_sums(oos_sum, total_sq - is_sq, n_half, mu)
        else:
            is_m = is_sum / n_half + mu
            oos_m = oos_sum / n_half + mu
        chosen = np.argmax(is_m, axis=1)
        rows = np.arange(chosen.size)
        sl = slice(start, start + chosen.size)
        rank[sl] = _rank_of_chosen(oos_m, chosen)
        is_perf[sl] = is_m[rows, chosen]
        oos_perf[sl] = oos_m[rows, chosen]
    return rank, is_perf, oos_perf


def _metric_values(metric: MetricFn, sub: FloatArray, n_trials: int) -> FloatArray:
    out = np.asarray(metric(sub), dtype=np.float64)
    if out.shape != (n_trials,):
        raise ConfigError(
            f"the metric callable must return one value per column, shape ({n_trials},), got shape {out.shape}"
        )
    if np.any(np.isnan(out)):
        raise ConfigError("the metric callable returned NaN; return a number for every column (e.g. 0.0 or -inf)")
    return out


def _cscv_callable(
    m: FloatArray, masks: npt.NDArray[np.bool_], block_len: int, metric: MetricFn
) -> tuple[FloatArray, FloatArray, FloatArray]:
    n_comb, n_splits = masks.shape
    n_trials = m.shape[1]
    blocks = m.reshape(n_splits, block_len, n_trials)
    rank = np.empty(n_comb)
    is_perf = np.empty(n_comb)
    oos_perf = np.empty(n_comb)
    for i, mask in enumerate(masks):
        is_m = _metric_values(metric, blocks[mask].reshape(-1, n_trials), n_trials)
        oos_m = _metric_values(metric, blocks[~mask].reshape(-1, n_trials), n_trials)
        chosen = int(np.argmax(is_m))
        rank[i] = _rank_of_chosen(oos_m[None, :], np.array([chosen], dtype=np.intp))[0]
        is_perf[i] = is_m[chosen]
        oos_perf[i] = oos_m[chosen]
    return rank, is_perf, oos_perf


def _regression(x: FloatArray, y: FloatArray) -> tuple[float, float]:
    ok = np.isfinite(x) & np.isfinite(y)
    if np.count_nonzero(ok) < 2:
        return math.nan, math.nan
    xs, ys = x[ok], y[ok]
    dx = xs - xs.mean()
    sxx = float(dx @ dx)
    if sxx == 0.0:
        return math.nan, math.nan
    slope = float(dx @ (ys - ys.mean())) / sxx
    return slope, float(ys.mean() - slope * xs.mean())


def probability_of_backtest_overfitting(
    returns_matrix: npt.ArrayLike,
    n_splits: int = 16,
    metric: Literal["sharpe", "mean"] | MetricFn = "sharpe",
    *,
    max_combinations: int | None = None,
    seed: int = 0,
) -> PBOResult:
    """Probability of backtest overfitting by combinatorially symmetric cross-validation (Bailey et al. 2017).

    ``returns_matrix`` is T x N: per-period returns, one column per trial (parameter combination). The rows are cut
    into ``n_splits`` (S, even) equal contiguous blocks, dropping the oldest ``T % S`` rows. For each of the
    C(S, S/2) ways to pick S/2 blocks as the in-sample set (the rest is out-of-sample) the column with the best
    in-sample metric is chosen; ω is its out-of-sample rank / (N + 1) (rank 1 = worst, ties averaged) and the logit
    is λ = log(ω / (1 - ω)). PBO is the fraction of combinations with λ <= 0: the in-sample best did no better than
    the out-of-sample median. About 0.5 for skill-less trials, near 0 when one trial has a real edge.

    ``metric`` is "sharpe" (per-period, ddof=1; vectorised, the default), "mean" (mean return; vectorised) or a
    callable taking a rows x N array and returning N values, higher is better (called twice per combination, so
    much slower). A probability of out-of-sample loss counts chosen columns with a metric < 0.

    ``max_combinations``: evaluate a seeded random subset of that many of the C(S, S/2) combinations instead of
    all of them (a Monte Carlo estimate of the same PBO: with 1,000 the standard error is at most 1.6 points),
    for sweeps of thousands of trials where all 12,870 combinations of S=16 cost seconds.
    """
    m = _returns_2d(returns_matrix)
    if isinstance(n_splits, bool) or int(n_splits) != n_splits or n_splits < 2 or n_splits % 2:
        raise ConfigError(f"n_splits must be an even integer >= 2 (16 in the paper), got {n_splits!r}")
    if n_splits > MAX_SPLITS:
        raise ConfigError(
            f"n_splits={n_splits} gives C({n_splits}, {n_splits // 2}) = {math.comb(n_splits, n_splits // 2):,} "
            f"combinations; use at most {MAX_SPLITS} (16 is the paper's choice)"
        )
    n_rows, n_trials = m.shape
    block_len = n_rows // n_splits
    if block_len < 2:
        raise ConfigError(
            f"returns_matrix has {n_rows} rows, too few for n_splits={n_splits}: each block needs at least 2 rows, "
            f"so pass at least {2 * n_splits} rows or lower n_splits"
        )
    used = block_len * n_splits
    m = m[n_rows - used :]
    masks = _combination_masks(n_splits)
    if max_combinations is not None:
        if isinstance(max_combinations, bool) or int(max_combinations) != max_combinations or max_combinations < 1:
            raise ConfigError(f"max_combinations must be a positive integer or None, got {max_combinations!r}")
        if max_combinations < masks.shape[0]:
            pick = np.random.default_rng(seed).choice(masks.shape[0], int(max_combinations), replace=False)
            masks = masks[np.sort(pick)]
    if callable(metric):
        rank, is_perf, oos_perf = _cscv_callable(m, masks, block_len, metric)
    elif metric in ("sharpe", "mean"):
        mu = m.mean(axis=0)
        blocks_sum = np.empty((n_splits, n_trials))
        blocks_sq = np.empty((n_splits, n_trials))
        for b in range(n_splits):  # one block at a time: no full-size centred copy of a large sweep
            c = m[b * block_len : (b + 1) * block_len] - mu
            blocks_sum[b] = c.sum(axis=0)
            blocks_sq[b] = np.einsum("ij,ij->j", c, c)
        rank, is_perf, oos_perf = _cscv_vectorised(blocks_sum, blocks_sq, masks, block_len, mu, metric)
    else:
        raise ConfigError(f"metric must be 'sharpe', 'mean' or a callable, got {metric!r}")
    omega = rank / (n_trials + 1.0)
    logits = np.log(omega / (1.0 - omega))
    slope, intercept = _regression(is_perf, oos_perf)
    for arr in (logits, is_perf, oos_perf):
        arr.setflags(write=False)
    return PBOResult(
        pbo=float(np.mean(logits <= 0.0)),
        logits=logits,
        is_performance=is_perf,
        oos_performance=oos_perf,
        degradation_slope=slope,
        degradation_intercept=intercept,
        prob_oos_loss=float(np.mean(oos_perf < 0.0)),
        n_splits=int(n_splits),
        n_combinations=int(masks.shape[0]),
        n_trials=n_trials,
        n_rows_used=used,
    )


# --- report beside a sweep's best result ---------------------------------------------------------------------------


def overfitting_report(
    returns_matrix: npt.ArrayLike,
    selected_column: int | None = None,
    *,
    periods_per_year: float,
    n_splits: int = 16,
    n_trials: int | None = None,
    max_combinations: int | None = None,
) -> dict[str, Any]:
    """Overfitting statistics to show beside the best in-sample result of a sweep.

    ``returns_matrix``: T x N per-period returns of every combination tried (one column each). ``selected_column``:
    the column the sweep picked (default: the best per-period Sharpe). ``periods_per_year`` only annualises the
    displayed Sharpe values (e.g. 252 for daily bars, 525,600 for 24/7 1-minute bars); the statistics use the
    per-period values. ``n_trials`` overrides N for the deflated Sharpe (e.g. an estimate of independent trials).

    Trials with constant nonzero returns (infinite Sharpe) count as Sharpe 0 in the trials' variance.

    Keys: n_trials, n_obs, selected_column, sharpe, sharpe_annualized, expected_max_sharpe,
    expected_max_sharpe_annualized, psr (against 0), deflated_sharpe, pbo, prob_oos_loss, degradation_slope,
    n_splits, n_combinations, significant (deflated_sharpe > 0.95 and pbo < 0.5).
    """
    m = _returns_2d(returns_matrix)
    ppy = _check_finite("periods_per_year", periods_per_year)
    if ppy <= 0.0:
        raise ConfigError(f"periods_per_year must be > 0 (e.g. 252 for daily bars), got {ppy}")
    sharpes = column_sharpe(m)
    if selected_column is None:
        selected = int(np.argmax(sharpes))
    else:
        if isinstance(selected_column, bool) or int(selected_column) != selected_column:
            raise ConfigError(f"selected_column must be a column index, got {selected_column!r}")
        selected = int(selected_column)
        if not -m.shape[1] <= selected < m.shape[1]:
            raise ConfigError(f"selected_column {selected} is out of range for {m.shape[1]} columns")
        selected %= m.shape[1]
    finite = np.where(np.isfinite(sharpes), sharpes, 0.0)
    dsr = deflated_sharpe_ratio(m[:, selected], trials_sharpe=finite, n_trials=n_trials)
    pbo = probability_of_backtest_overfitting(m, n_splits=n_splits, max_combinations=max_combinations)
    ann = math.sqrt(ppy)
    psr = _psr(dsr.sharpe, dsr.n_obs, dsr.skew, dsr.kurtosis, 0.0)
    return {
        "n_trials": dsr.n_trials,
        "n_obs": dsr.n_obs,
        "selected_column": selected,
        "sharpe": dsr.sharpe,
        "sharpe_annualized": dsr.sharpe * ann,
        "expected_max_sharpe": dsr.expected_max_sharpe,
        "expected_max_sharpe_annualized": dsr.expected_max_sharpe * ann,
        "psr": psr,
        "deflated_sharpe": dsr.dsr,
        "pbo": pbo.pbo,
        "prob_oos_loss": pbo.prob_oos_loss,
        "degradation_slope": pbo.degradation_slope,
        "n_splits": pbo.n_splits,
        "n_combinations": pbo.n_combinations,
        "significant": bool(dsr.dsr > 0.95 and pbo.pbo < 0.5),
    }
