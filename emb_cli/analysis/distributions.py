"""What an init predicts: moments, the row-norm law, the CDF for Kolmogorov-Smirnov."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from emb_cli.sources.base import InitSpec


@dataclass(frozen=True)
class Expected:
    family: Literal["normal", "uniform"]
    label: str
    mean: float
    std: float
    mean_sq: float
    fourth_central: float  # E[(x - mean)^4], for the standard error of the std
    row_norm_exact: float | None  # E||row|| exactly (Gaussian rows: a scaled chi law)
    row_norm_approx: float  # sqrt(D * E[x^2]), i.e. std*sqrt(D) for zero mean
    row_norm_std: float
    low: float = 0.0
    high: float = 0.0

    def cdf(self, x: float) -> float:
        if self.family == "normal":
            return 0.5 * (1.0 + math.erf((x - self.mean) / (self.std * math.sqrt(2.0))))
        return min(1.0, max(0.0, (x - self.low) / (self.high - self.low)))

    def within(self, k: float) -> float:
        """P(|x - mean| <= k std)."""
        if self.family == "normal":
            return math.erf(k / math.sqrt(2.0))
        half = (self.high - self.low) / 2
        return min(1.0, k * self.std / half)


def gaussian_row_norm(std: float, dim: int) -> tuple[float, float]:
    """Mean and std of ||x|| for x ~ N(0, std^2 I_D): std*sqrt(2)*Gamma((D+1)/2)/Gamma(D/2)."""
    mean = std * math.sqrt(2.0) * math.exp(math.lgamma((dim + 1) / 2) - math.lgamma(dim / 2))
    var = max(0.0, std * std * dim - mean * mean)
    return mean, math.sqrt(var)


def normal(std: float, dim: int, label: str) -> Expected:
    norm_mean, norm_std = gaussian_row_norm(std, dim)
    return Expected(
        family="normal",
        label=label,
        mean=0.0,
        std=std,
        mean_sq=std * std,
        fourth_central=3 * std**4,
        row_norm_exact=norm_mean,
        row_norm_approx=std * math.sqrt(dim),
        row_norm_std=norm_std,
    )


def uniform_row_norm(low: float, high: float, dim: int) -> float:
    """E||x|| for x of D iid U(low, high) values, by numerical integration.

    E sqrt(S) = 1/(2 sqrt(pi)) * int_0^inf (1 - E[exp(-t S)]) t^(-3/2) dt, S = ||x||^2, and
    E[exp(-t S)] = phi(t)^D with phi(t) = E[exp(-t x^2)], closed form in erf. sqrt(D E[x^2])
    overstates E||x|| by about Var(S) / (8 E[S]^1.5): 4 standard errors of a 3000 x 8 table.
    """
    s = max(abs(low), abs(high))
    lo, hi = low / s, high / s

    def raw(k: int) -> float:
        return (hi ** (k + 1) - lo ** (k + 1)) / ((k + 1) * (hi - lo))

    m2, m4, m6 = raw(2), raw(4), raw(6)
    c2, c3 = m4 - m2 * m2, m6 - 3 * m4 * m2 + 2 * m2**3  # cumulants of x^2
    mu = dim * m2
    h, total = 0.02, 0.0  # trapezoid in u = log(t * mu): relative error about 1e-8
    for i in range(-2500, 3001):
        t = math.exp(i * h) / mu
        if t < 1e-3:  # the erf difference cancels here: the cumulant series instead
            log_phi = -t * m2 + t * t * c2 / 2 - t**3 * c3 / 6
        else:
            r = math.sqrt(t)
            phi = math.sqrt(math.pi) / (2 * r) * (math.erf(hi * r) - math.erf(lo * r)) / (hi - lo)
            log_phi = math.log(phi)
        total += -math.expm1(dim * log_phi) / math.sqrt(t)
    return s * total * h / (2 * math.sqrt(math.pi))


def uniform(low: float, high: float, dim: int, label: str) -> Expected:
    mean = (low + high) / 2
    var = (high - low) ** 2 / 12
    mean_sq = var + mean * mean
    approx = math.sqrt(dim * mean_sq)
    exact = uniform_row_norm(low, high, dim) if high > low else approx
    return Expected(
        family="uniform",
        label=label,
        mean=mean,
        std=math.sqrt(var),
        mean_sq=mean_sq,
        fourth_central=(high - low) ** 4 / 80,
        row_norm_exact=exact,
        row_norm_approx=approx,
        row_norm_std=math.sqrt(max(0.0, dim * mean_sq - exact * exact)),
        low=low,
        high=high,
    )


def expected_for(init: InitSpec, vocab_size: int, dim: int) -> Expected:
    if init.scheme == "normal":
        return normal(init.std, dim, f"N(0, {init.std:g})")
    if init.scheme == "torch-default":
        return normal(1.0, dim, "N(0, 1) (nn.Embedding default)")
    if init.scheme == "xavier-normal":
        std = math.sqrt(2.0 / (vocab_size + dim))
        return normal(std, dim, f"xavier normal: N(0, sqrt(2/(V+D)) = {std:.6g})")
    if init.scheme == "xavier-uniform":
        a = math.sqrt(6.0 / (vocab_size + dim))
        return uniform(-a, a, dim, f"xavier uniform: U(-{a:.6g}, {a:.6g})")
    return uniform(init.low, init.high, dim, f"U({init.low:g}, {init.high:g})")
