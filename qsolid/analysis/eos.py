"""Equations of state P(V): Vinet and third-order Birch-Murnaghan fits with parameter errors.

Vinet:  P = 3 K0 (1 - eta) / eta^2 exp(3/2 (K0' - 1)(1 - eta)),      eta = (V / V0)^(1/3)
BM3:    P = 3/2 K0 (x^7 - x^5) [1 + 3/4 (K0' - 4)(x^2 - 1)],           x = (V0 / V)^(1/3)

The functions are unit-agnostic (P and K0 in one unit, V and V0 in another);
files and reports use GPa and angstrom^3 per atom. Fits use
scipy.optimize.curve_fit: with pressure errors given, a weighted fit whose
covariance is taken as absolute; without, an unweighted fit whose covariance is
scaled by the residual variance. Parameter errors are sqrt(diag(covariance)).
With data far from zero pressure V0 and K0 are strongly correlated and their
errors large; the covariance is reported in full.
"""

import csv
import dataclasses
from pathlib import Path

import numpy as np
from scipy.optimize import curve_fit

from qsolid.schema import ConfigError

EXPERIMENT_130GPA = {"volume_a3_per_atom": 2.156, "pressure_gpa": 130.0,
                     "source": "Ji et al., Nature 573, 558 (2019), as quoted in the seed paper"}
"""The experimental equation-of-state point at 130 GPa, always shown in EOS plots."""


def vinet_pressure(volume, v0, k0, k0_prime):
    """Vinet pressure at volume V for parameters V0, K0, K0'."""
    eta = np.cbrt(np.asarray(volume) / v0)
    return 3.0 * k0 * (1.0 - eta) / eta**2 * np.exp(1.5 * (k0_prime - 1.0) * (1.0 - eta))


def birch_murnaghan3_pressure(volume, v0, k0, k0_prime):
    """Third-order Birch-Murnaghan pressure at volume V for parameters V0, K0, K0'."""
    x = np.cbrt(v0 / np.asarray(volume))
    return 1.5 * k0 * (x**7 - x**5) * (1.0 + 0.75 * (k0_prime - 4.0) * (x**2 - 1.0))


FORMS = {"vinet": vinet_pressure, "birch_murnaghan3": birch_murnaghan3_pressure}


@dataclasses.dataclass(frozen=True)
class EOSFit:
    """Fitted V0, K0, K0' with standard errors and covariance (units of the data)."""

    form: str
    parameters: np.ndarray
    errors: np.ndarray
    covariance: np.ndarray
    chi2: float
    n_points: int
    weighted: bool

    def pressure(self, volume):
        return FORMS[self.form](volume, *self.parameters)

    def as_dict(self) -> dict:
        names = ("v0_a3_per_atom", "k0_gpa", "k0_prime")
        return {
            "form": self.form,
            **{name: float(v) for name, v in zip(names, self.parameters)},
            **{name + "_error": float(e) for name, e in zip(names, self.errors)},
            "covariance": self.covariance.tolist(),
            "chi2": self.chi2,
            "n_points": self.n_points,
            "weighted": self.weighted,
        }


def fit_eos(volumes, pressures, pressure_errors=None, form: str = "vinet") -> EOSFit:
    """Least-squares fit of P(V); several starting V0 guard against a poor local minimum."""
    if form not in FORMS:
        raise ConfigError(f"eos.form: expected one of {sorted(FORMS)}, got {form!r}")
    volumes, pressures = np.asarray(volumes, float), np.asarray(pressures, float)
    if len(volumes) < 4:
        raise ConfigError(f"eos_csv: need at least 4 (P, V) points for a 3-parameter fit, got {len(volumes)}")
    sigma = None if pressure_errors is None else np.asarray(pressure_errors, float)
    if sigma is not None and not np.all(sigma > 0):
        raise ConfigError("eos_csv: pressure errors must be positive")
    best = None
    for scale in (1.1, 1.5, 2.0, 3.0, 5.0):
        v0 = scale * volumes.max()
        slope = -np.polyfit(np.log(volumes), pressures, 1)[0]
        guess = (v0, max(slope / 10.0, 1e-3), 4.0)
        try:
            parameters, covariance = curve_fit(
                FORMS[form], volumes, pressures, p0=guess, sigma=sigma, absolute_sigma=sigma is not None,
                bounds=([volumes.max() * 1.0001, 0.0, -10.0], [np.inf, np.inf, 30.0]), max_nfev=20000)
        except (RuntimeError, ValueError):
            continue
        residual = (FORMS[form](volumes, *parameters) - pressures) / (1.0 if sigma is None else sigma)
        chi2 = float(residual @ residual)
        if best is None or chi2 < best[2]:
            best = (parameters, covariance, chi2)
    if best is None:
        raise ConfigError(f"eos_csv: the {form} fit did not converge")
    parameters, covariance, chi2 = best
    return EOSFit(form, parameters, np.sqrt(np.diag(covariance)), covariance, chi2, len(volumes), sigma is not None)


def read_pv_csv(path, field: str = "eos_csv") -> dict:
    """Read (P, V) points: columns volume_a3_per_atom, pressure_gpa and optionally pressure_err_gpa.

    Returns {"volume": ..., "pressure": ..., "pressure_error": ... or None}. Problems are
    ConfigErrors naming `field` (the command-line option the file came from).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{field}: no such file {str(path)!r}")
    try:
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(line for line in handle if not line.lstrip().startswith("#")))
    except (UnicodeDecodeError, csv.Error) as problem:
        raise ConfigError(f"{field}: {path.name!r} is not a CSV text file ({type(problem).__name__})") from None
    required = ("volume_a3_per_atom", "pressure_gpa")
    if not rows or any(column not in rows[0] for column in required):
        raise ConfigError(f"{field}: {path.name!r} needs columns {required} (+ optional pressure_err_gpa)")
    try:
        volume = np.array([float(row["volume_a3_per_atom"]) for row in rows])
        pressure = np.array([float(row["pressure_gpa"]) for row in rows])
        error = None
        if "pressure_err_gpa" in rows[0]:
            error = np.array([float(row["pressure_err_gpa"]) for row in rows])
    except (TypeError, ValueError) as problem:
        raise ConfigError(f"{field}: {path.name!r} has a non-numeric entry ({problem})") from None
    if not all(np.all(np.isfinite(v)) for v in (volume, pressure, *(() if error is None else (error,)))):
        raise ConfigError(f"{field}: {path.name!r} has a non-finite entry (nan or inf)")
    if not np.all(volume > 0):
        raise ConfigError(f"{field}: {path.name!r} has non-positive volumes")
    return {"volume": volume, "pressure": pressure, "pressure_error": error}
