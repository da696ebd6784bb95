"""Space group and Wyckoff sites of the seed paper's Cmcm structure, in any axis order."""

import numpy as np
import pytest
from .analysis_structures import cmcm_crystal, hcp_crystal, permuted, rotated

from qsolid.analysis.molecules import pair_molecules
from qsolid.analysis.symmetry import centre_sites, find_symmetry, symmetry_scan, wyckoff_counts
from qsolid.schema import ConfigError

SETTINGS = {
    "as built": lambda c: c,
    "axes bca": lambda c: permuted(c, (1, 2, 0)),
    "axes cab, rotated": lambda c: rotated(permuted(c, (2, 0, 1)), (0.3, 1.1, -0.7)),
}


@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_cmcm_is_space_group_63_with_four_8g_sites(setting):
    crystal = SETTINGS[setting](cmcm_crystal())
    symmetry = find_symmetry(crystal, 0.01)
    assert (symmetry.number, symmetry.symbol, symmetry.point_group) == (63, "Cmcm", "mmm")
    assert wyckoff_counts(symmetry.sites) == {"8g": 4}
    assert all(site.site_symmetry == "..m" for site in symmetry.sites)
    # the standard setting puts the 8g mirror at z = 1/4: all atoms lie on z = 1/4 or 3/4
    z = symmetry.conventional.fractional[:, 2]
    assert np.allclose(np.minimum(np.abs(z - 0.25), np.abs(z - 0.75)), 0.0, atol=1e-6)
    # standardized lengths are Table IV's a, b, c whatever the input order
    lengths = np.linalg.norm(symmetry.conventional.lattice_bohr, axis=1)
    assert np.allclose(lengths, (8.48, 9.60, 5.47), atol=1e-6)
    assert symmetry.primitive.n_atoms == 16


@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_cmcm_molecule_centres_are_4c_4c_8g(setting):
    symmetry = find_symmetry(SETTINGS[setting](cmcm_crystal()), 0.01)
    molecules = pair_molecules(symmetry.conventional)
    assert molecules.is_molecular and len(molecules.pairs) == 16
    sites = centre_sites(symmetry, molecules.centres_fractional)
    assert wyckoff_counts(sites) == {"4c": 2, "8g": 1}
    assert sorted(site.site_symmetry for site in sites) == ["..m", "m2m", "m2m"]


def test_cmcm_is_robust_over_tolerances():
    scan = symmetry_scan(cmcm_crystal())
    assert {entry["space_group_number"] for entry in scan} == {63}


def test_hcp_is_p63_mmc_on_2c_or_2d():
    symmetry = find_symmetry(hcp_crystal(), 0.01)
    assert symmetry.number == 194
    assert wyckoff_counts(symmetry.sites) in ({"2c": 1}, {"2d": 1})


def test_bad_tolerance_is_a_config_error():
    with pytest.raises(ConfigError, match="symprec"):
        find_symmetry(cmcm_crystal(), -0.1)
