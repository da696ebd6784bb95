"""Powder XRD: Bragg's law for a simple cubic crystal, volume rescaling, Cmcm extinctions."""

import numpy as np
import pytest
from .analysis_structures import cmcm_crystal

from qsolid.analysis.crystal import Crystal
from qsolid.analysis.plots import plot_xrd
from qsolid.analysis.xrd import (
    EXPERIMENTAL_VOLUME_130GPA_A3,
    bragg_two_theta_deg,
    powder_pattern,
    write_peak_table,
)
from qsolid.units import angstrom_to_bohr


def simple_cubic(a_angstrom):
    return Crystal(np.eye(3) * angstrom_to_bohr(a_angstrom), np.zeros((1, 3)), [1])


def hkl_tuples(label):
    return [tuple(int(v) for v in family.strip("()").split(",")) for family in label.split()]


def test_simple_cubic_peaks_obey_braggs_law():
    a, wavelength = 3.0, 0.4133
    pattern = powder_pattern(simple_cubic(a), wavelength, two_theta_range_deg=(0, 40))
    assert len(pattern.two_theta_deg) > 15
    for two_theta, d, label in zip(pattern.two_theta_deg, pattern.d_angstrom, pattern.hkl):
        h, k, l = hkl_tuples(label)[0]
        exact_d = a / np.sqrt(h * h + k * k + l * l)
        assert d == pytest.approx(exact_d, rel=1e-10)
        assert two_theta == pytest.approx(2 * np.degrees(np.arcsin(wavelength / (2 * exact_d))), abs=1e-8)
    assert pattern.two_theta_deg[0] == pytest.approx(bragg_two_theta_deg(a, wavelength)[()])


def test_rescaling_to_a_volume_scales_every_d_spacing():
    crystal = cmcm_crystal()
    own = powder_pattern(crystal)
    scaled = powder_pattern(crystal, volume_per_atom_a3=EXPERIMENTAL_VOLUME_130GPA_A3)
    assert scaled.volume_per_atom_a3 == pytest.approx(EXPERIMENTAL_VOLUME_130GPA_A3)
    factor = (EXPERIMENTAL_VOLUME_130GPA_A3 / crystal.volume_per_atom_a3()) ** (1 / 3)
    assert np.allclose(scaled.d_angstrom[:5], own.d_angstrom[:5] * factor)


def test_cmcm_pattern_shows_only_reflections_allowed_by_cmcm():
    # C centring: h + k even; c glide perpendicular to b: (h0l) with l even
    pattern = powder_pattern(cmcm_crystal(), volume_per_atom_a3=EXPERIMENTAL_VOLUME_130GPA_A3)
    for label in pattern.hkl:
        for h, k, l in hkl_tuples(label):
            assert (h + k) % 2 == 0
            if k == 0:
                assert l % 2 == 0


def test_peak_table_and_overlay_plot(tmp_path):
    patterns = [powder_pattern(cmcm_crystal(), volume_per_atom_a3=2.156, label="Cmcm"),
                powder_pattern(simple_cubic(1.3), label="sc")]
    write_peak_table(patterns[0], tmp_path / "peaks.csv")
    lines = (tmp_path / "peaks.csv").read_text().splitlines()
    assert lines[0] == "two_theta_deg,d_angstrom,hkl,multiplicity,intensity"
    assert len(lines) == len(patterns[0].two_theta_deg) + 1
    plot_xrd(patterns, tmp_path / "xrd.png")
    assert (tmp_path / "xrd.png").stat().st_size > 1000
