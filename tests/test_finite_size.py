"""Leading-order two-body finite-size corrections against REFERENCES and the virial relation."""

import pytest

from qsolid import finite_size
from qsolid.units import volume_from_rs


@pytest.mark.parametrize("n, per_electron_mha", [(16, 18.05), (54, 5.35)])
def test_omega_p_over_4n_at_rs_1_31_is_the_published_value(n, per_electron_mha):
    volume = n * volume_from_rs(1.31)
    each = finite_size.plasma_frequency_ha(n, volume) / (4 * n)
    assert each * 1e3 == pytest.approx(per_electron_mha, abs=0.006)  # REFERENCES quotes two decimals
    assert finite_size.two_body_energy_ha(n, volume) == pytest.approx(2 * n * each, rel=1e-12)


def test_pressure_correction_is_minus_the_volume_derivative_of_the_energy_correction():
    n, volume, h = 16, 16 * volume_from_rs(1.31), 1e-4
    derivative = (finite_size.two_body_energy_ha(n, volume + h) - finite_size.two_body_energy_ha(n, volume - h)) / (2 * h)
    assert finite_size.two_body_pressure_ha_bohr3(n, volume) == pytest.approx(-derivative, rel=1e-8)
