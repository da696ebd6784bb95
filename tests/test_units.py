import pytest

from qsolid import units


def test_pressure_unit_is_codata_2018():
    # REFERENCES.md: 1 Ha/bohr^3 = 29421.0157 GPa.
    assert units.GPA_PER_HA_BOHR3 == pytest.approx(29421.0157, abs=1e-4)


def test_conversions_round_trip():
    for value in (1e-3, 0.7, 130.0, 2.5e4):
        assert units.ha_bohr3_to_gpa(units.gpa_to_ha_bohr3(value)) == pytest.approx(value, rel=1e-14)
        assert units.angstrom_to_bohr(units.bohr_to_angstrom(value)) == pytest.approx(value, rel=1e-14)
        assert units.angstrom3_to_bohr3(units.bohr3_to_angstrom3(value)) == pytest.approx(value, rel=1e-14)
        assert units.ev_to_ha(units.ha_to_ev(value)) == pytest.approx(value, rel=1e-14)
        assert units.rs_from_volume(units.volume_from_rs(value)) == pytest.approx(value, rel=1e-12)


def test_bohr3_in_angstrom3_matches_reference():
    assert units.bohr3_to_angstrom3(1.0) == pytest.approx(0.148184711, rel=1e-8)
