"""The statistics of drift detection, on sorted arrays and count vectors.

Every function here equals a reference implementation to 1e-9 (tests check each one):

- :func:`compare_sorted`: the two-sample Kolmogorov-Smirnov statistic and p-value
  (``scipy.stats.ks_2samp``, method ``"auto"``) and the Wasserstein-1 distance
  (``scipy.stats.wasserstein_distance``) from two *sorted* samples, in one merge;
- :func:`bin_counts` and :func:`psi`: the population stability index over fixed bins, with
  empty-bin proportions floored at :data:`PSI_FLOOR`;
- :func:`chi2_test`: Pearson's chi-square on a 2 x k contingency table
  (``scipy.stats.chi2_contingency``, Yates' correction when there is one degree of freedom);
- :func:`jensenshannon`: the Jensen-Shannon *distance* with base 2
  (``scipy.spatial.distance.jensenshannon(p, q, base=2)``);
- :func:`benjamini_hochberg`: false-discovery-rate adjusted p-values
  (``statsmodels.stats.multitest.multipletests(p, method="fdr_bh")[1]``).

Sorting is what makes drift cheap: a reference profile keeps its values sorted, so comparing a
window only sorts the window.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy import special, stats

__all__ = [
    "KS_EXACT_MAX_N",
    "KS_LIMIT_BELOW",
    "PSI_FLOOR",
    "benjamini_hochberg",
    "bin_counts",
    "chi2_test",
    "compare_sorted",
    "jensenshannon",
    "psi",
]

#: Up to this sample size (the larger of the two) the KS p-value is exact, as in SciPy's "auto".
KS_EXACT_MAX_N = 10_000
#: Below this, a large-sample KS p-value comes from the Kolmogorov limit (see _ks_asymptotic).
KS_LIMIT_BELOW = 1e-10
#: Bin proportions below this are raised to it before the PSI's logarithm (empty bins).
PSI_FLOOR = 1e-4

Floats = NDArray[np.float64]


def compare_sorted(reference: Floats, current: Floats) -> tuple[float, float, float]:
    """The KS statistic, its two-sided p-value and the Wasserstein-1 distance of two samples.

    Both arrays must be sorted, non-empty and free of NaN. The two are merged in O(n) from one
    binary search; the empirical CDFs are compared after the last of each run of equal
    values, which is what SciPy's ``searchsorted(side="right")`` evaluates, so ties count the
    same way. The p-value is SciPy's: exact when both samples have at most
    :data:`KS_EXACT_MAX_N` values (delegated to ``ks_2samp``), else
    ``kstwo.sf(D, round(n1 * n2 / (n1 + n2)))`` (or, for p-values below 1e-10, its limit:
    see :func:`_ks_asymptotic`).

    Returns:
        ``(ks, ks_p, wasserstein)``.
    """
    n1, n2 = reference.size, current.size
    total = n1 + n2
    # a stable merge (reference first on ties) from one binary search: where each value lands
    at_current = np.searchsorted(reference, current, side="right")
    at_current += np.arange(n2)
    from_reference = np.ones(total, dtype=np.int8)
    from_reference[at_current] = 0
    merged = np.empty(total)
    merged[at_current] = current
    merged[from_reference.view(np.bool_)] = reference
    seen_reference = np.cumsum(from_reference, dtype=np.int64)
    # F_ref - F_cur after each merged value; exact ECDFs at the last value of each tie
    difference = seen_reference / n1
    difference -= (np.arange(1, total + 1) - seen_reference) / n2
    np.abs(difference, out=difference)
    steps = np.diff(merged)
    wasserstein = float(np.dot(difference[:-1], steps))
    statistic = float(max(difference[-1], difference[:-1][steps > 0].max(initial=0.0)))
    if max(n1, n2) <= KS_EXACT_MAX_N:
        p_value = float(stats.ks_2samp(reference, current).pvalue)
    else:
        p_value = _ks_asymptotic(statistic, n1, n2)
    return statistic, p_value, wasserstein


def _ks_asymptotic(statistic: float, n1: int, n2: int) -> float:
    """SciPy's large-sample KS p-value, ``kstwo.sf(D, round(n1 * n2 / (n1 + n2)))``.

    ``kstwo.sf`` takes about half a second for a tiny p-value at a million rows. When the
    effective size is at least :data:`KS_EXACT_MAX_N` and the Kolmogorov limit
    (``kstwobign.sf(D * sqrt(n))``) is below :data:`KS_LIMIT_BELOW`, the limit is returned: it
    is within a few percent of ``kstwo.sf`` there (relative error shrinking as 1/sqrt(n)), so
    within 1e-11 of SciPy's value in absolute terms.
    """
    m, n = sorted((float(n1), float(n2)), reverse=True)
    effective = np.round(m * n / (m + n))
    if effective >= KS_EXACT_MAX_N:
        limit = float(stats.kstwobign.sf(statistic * np.sqrt(effective)))
        if limit < KS_LIMIT_BELOW:
            return limit
    return float(np.clip(stats.kstwo.sf(statistic, effective), 0.0, 1.0))


def bin_counts(values: Floats, edges: Floats) -> NDArray[np.int64]:
    """How many of the sorted ``values`` fall in each bin ``[edges[i], edges[i + 1])``.

    ``edges`` are the inner bin edges, increasing; the outer edges are -inf and +inf, so there
    are ``len(edges) + 1`` bins and every value is counted.
    """
    below = np.searchsorted(values, edges, side="left")
    return np.diff(np.concatenate(([0], below, [values.size]))).astype(np.int64)


def psi(reference: Floats, current: Floats) -> float:
    """The population stability index of two proportion vectors over the same bins.

    ``sum((c - r) * ln(c / r))`` after raising every proportion below :data:`PSI_FLOOR` to it
    (the proportions are not renormalised afterwards).
    """
    r = np.maximum(reference, PSI_FLOOR)
    c = np.maximum(current, PSI_FLOOR)
    return float(np.sum((c - r) * np.log(c / r)))


def chi2_test(reference: NDArray[np.int64], current: NDArray[np.int64]) -> tuple[float, float]:
    """Pearson's chi-square test of homogeneity on the 2 x k table of two count vectors.

    Categories empty in both rows are dropped first (they carry no information and would make
    an expected count zero). With one degree of freedom Yates' continuity correction is
    applied, as ``chi2_contingency`` does by default. A table left with a single category has no
    degree of freedom: the statistic is 0 and the p-value 1.

    Returns:
        ``(statistic, p_value)``.
    """
    table = np.vstack((reference, current)).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    rows = table.sum(axis=1)
    if table.shape[1] < 2 or np.any(rows == 0):
        return 0.0, 1.0
    expected = np.outer(rows, table.sum(axis=0)) / rows.sum()
    dof = table.shape[1] - 1
    if dof == 1:
        difference = expected - table
        table = table + np.sign(difference) * np.minimum(0.5, np.abs(difference))
    statistic = float(np.sum((table - expected) ** 2 / expected))
    return statistic, float(stats.chi2.sf(statistic, dof))


def jensenshannon(reference: Floats, current: Floats) -> float:
    """The Jensen-Shannon distance with base 2 (in [0, 1]) of two count or weight vectors.

    Note that other tools often report it with the natural logarithm (in [0, sqrt(ln 2)]).
    """
    p = reference / reference.sum()
    q = current / current.sum()
    m = (p + q) / 2.0
    divergence = np.sum(special.rel_entr(p, m)) + np.sum(special.rel_entr(q, m))
    return float(np.sqrt(divergence / np.log(2.0) / 2.0))


def benjamini_hochberg(p_values: Sequence[float] | NDArray[np.float64]) -> NDArray[np.float64]:
    """Benjamini-Hochberg adjusted p-values (q-values), in the order given.

    A feature is a discovery at false-discovery rate ``alpha`` when its q-value is at most
    ``alpha``. Equal to ``multipletests(p_values, method="fdr_bh")[1]`` from statsmodels.

    Example:
        >>> benjamini_hochberg([0.01, 0.04, 0.03]).round(3).tolist()
        [0.03, 0.04, 0.04]
    """
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        p = p.ravel()
    n = p.size
    if n == 0:
        return p.copy()
    order = np.argsort(p, kind="mergesort")
    ranked = p[order] * n / np.arange(1, n + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    adjusted = np.empty(n)
    adjusted[order] = np.minimum(ranked, 1.0)
    return adjusted
