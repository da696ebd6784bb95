"""Vinet and Birch-Murnaghan fits: the forms themselves, recovery of known parameters, CSV input."""

import numpy as np
import pytest

from qsolid.analysis.eos import FORMS, birch_murnaghan3_pressure, fit_eos, read_pv_csv, vinet_pressure
from qsolid.schema import ConfigError

TRUE = (5.0, 20.0, 5.0)  # V0 (A^3/atom), K0 (GPa), K0'


@pytest.mark.parametrize("form", sorted(FORMS))
def test_forms_have_v0_k0_and_k0_prime_as_their_parameters(form):
    # P(V0) = 0, K = -V dP/dV = K0 at V0, dK/dP = K0' at V0 (central differences)
    pressure = FORMS[form]
    v0, k0, k0p = TRUE
    h = 1e-4 * v0
    assert pressure(v0, *TRUE) == pytest.approx(0.0, abs=1e-12)

    def bulk(v):
        return -v * (pressure(v + h, *TRUE) - pressure(v - h, *TRUE)) / (2 * h)
    assert bulk(v0) == pytest.approx(k0, rel=1e-6)
    dk_dp = (bulk(v0 - h) - bulk(v0 + h)) / (pressure(v0 - h, *TRUE) - pressure(v0 + h, *TRUE))
    assert dk_dp == pytest.approx(k0p, rel=1e-4)


def test_the_two_forms_differ_only_at_large_compression():
    # they share P, K and K' at V0, so they agree to second order in the strain and part at V0 / 2
    assert vinet_pressure(4.9, *TRUE) == pytest.approx(birch_murnaghan3_pressure(4.9, *TRUE), rel=1e-3)
    assert birch_murnaghan3_pressure(2.5, *TRUE) > 1.1 * vinet_pressure(2.5, *TRUE)


@pytest.mark.parametrize("form", sorted(FORMS))
def test_weighted_fit_recovers_parameters_within_errors(form):
    rng = np.random.default_rng(6)
    volumes = np.linspace(2.2, 4.0, 12)
    sigma = np.full_like(volumes, 1.0)
    pressures = FORMS[form](volumes, *TRUE) + rng.normal(0.0, sigma)
    fit = fit_eos(volumes, pressures, sigma, form)
    assert fit.weighted
    assert np.all(np.abs(fit.parameters - TRUE) < 4 * fit.errors)
    assert fit.chi2 < 3 * (len(volumes) - 3)


def test_exact_data_are_fitted_exactly_without_errors():
    volumes = np.linspace(2.2, 4.0, 8)
    fit = fit_eos(volumes, vinet_pressure(volumes, *TRUE))
    assert not fit.weighted
    assert np.allclose(fit.parameters, TRUE, rtol=1e-5)


def test_csv_input(tmp_path):
    path = tmp_path / "pv.csv"
    path.write_text("# computed points\nvolume_a3_per_atom,pressure_gpa,pressure_err_gpa\n"
                    "2.0,150,2\n2.2,120,2\n2.4,95,2\n2.6,75,2\n")
    points = read_pv_csv(path)
    assert list(points["volume"]) == [2.0, 2.2, 2.4, 2.6]
    assert list(points["pressure_error"]) == [2.0] * 4
    (tmp_path / "bad.csv").write_text("v,p\n1,2\n")
    with pytest.raises(ConfigError, match="eos_csv"):
        read_pv_csv(tmp_path / "bad.csv")
    with pytest.raises(ConfigError, match="at least 4"):
        fit_eos([1.0, 2.0, 3.0], [3.0, 2.0, 1.0])
