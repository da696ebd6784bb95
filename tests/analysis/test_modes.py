"""Gamma-point modes by group theory: hand-checkable crystals and the seed paper's Cmcm structure."""

import numpy as np
import pytest
from .analysis_structures import cmcm_crystal, hcp_crystal, molecular_crystal, permuted, rotated

from qsolid.analysis.modes import atom_permutations, displacement_representation, gamma_modes
from qsolid.analysis.symmetry import find_symmetry


def modes_of(crystal):
    return gamma_modes(find_symmetry(crystal, 0.01))


def test_hcp_atoms():
    # P6_3/mmc, 2 atoms: acoustic A2u (z) + E1u (x, y); optical: the two atoms moving
    # against each other along z (symmetric under the C2 along a: B1g, silent) and in
    # the plane (E2g, Raman) -- the textbook hcp result.
    modes = modes_of(hcp_crystal())
    assert not modes.molecules.is_molecular
    assert modes.rows["acoustic"] == {"A2u": 1, "E1u": 1}
    assert modes.rows["translational"] == {"B1g": 1, "E2g": 1}
    assert modes.rows["libron"] == {} and modes.rows["vibron"] == {}
    assert modes.activity("translational") == {"raman": {"E2g": 1}, "infrared": {}, "silent": {"B1g": 1}}


@pytest.mark.parametrize("system, point_group, libron, acoustic", [
    ("tetragonal", "D4h", "Eg", {"A2u": 1, "Eu": 1}),
    ("hexagonal", "D6h", "E1g", {"A2u": 1, "E1u": 1}),
])
def test_one_molecule_along_c_on_a_high_symmetry_site(system, point_group, libron, acoustic):
    # One H2 along c at the origin (site symmetry = the whole point group, 4/mmm or 6/mmm):
    # - vibron: the stretch is invariant under every operation -> A1g (Raman only);
    # - librons: rotations about x and y transform like (Rx, Ry) -> Eg in D4h, E1g in D6h (Raman);
    # - translations of the single molecule are the three acoustic modes (z: A2u, (x, y): Eu/E1u);
    # - no optical translations (one molecule per primitive cell).
    modes = modes_of(molecular_crystal(system))
    assert modes.table.schoenflies == point_group
    assert modes.rows == {"acoustic": acoustic, "translational": {}, "libron": {libron: 1}, "vibron": {"A1g": 1}}
    assert modes.activity("libron")["raman"] == {libron: 1}
    assert modes.activity("vibron") == {"raman": {"A1g": 1}, "infrared": {}, "silent": {}}


CMCM_SETTINGS = {
    "as built": lambda c: c,
    "axes bca": lambda c: permuted(c, (1, 2, 0)),
    "axes cab, rotated": lambda c: rotated(permuted(c, (2, 0, 1)), (0.3, 1.1, -0.7)),
    "axes bac (left-handed)": lambda c: permuted(c, (1, 0, 2)),
}


@pytest.fixture(scope="module", params=sorted(CMCM_SETTINGS))
def cmcm_modes(request):
    return modes_of(CMCM_SETTINGS[request.param](cmcm_crystal()))


def test_cmcm_vibron_row_is_the_papers(cmcm_modes):
    """Eq. S8, S13-S14: IR 3B2u + B3u, Raman 3Ag + B1g."""
    assert cmcm_modes.rows["vibron"] == {"Ag": 3, "B1g": 1, "B2u": 3, "B3u": 1}
    activity = cmcm_modes.activity("vibron")
    assert activity["raman"] == {"Ag": 3, "B1g": 1}
    assert activity["infrared"] == {"B2u": 3, "B3u": 1}


def test_cmcm_translations_are_the_papers(cmcm_modes):
    """Eq. S10 (all molecular translations) and S11 (minus the acoustic B1u + B2u + B3u)."""
    eq_s10 = {"Au": 1, "B1g": 4, "B2u": 4, "B3g": 3, "Ag": 4, "B2g": 1, "B1u": 3, "B3u": 4}
    eq_s11 = {"Au": 1, "B1g": 4, "B2u": 3, "B3g": 3, "Ag": 4, "B2g": 1, "B1u": 2, "B3u": 3}
    assert cmcm_modes.rows["acoustic"] == {"B1u": 1, "B2u": 1, "B3u": 1}
    assert cmcm_modes.rows["translational"] == eq_s11
    total = {k: cmcm_modes.rows["translational"].get(k, 0) + cmcm_modes.rows["acoustic"].get(k, 0)
             for k in eq_s10}
    assert total == eq_s10


def test_cmcm_librons_as_computed(cmcm_modes):
    """Not Eq. S9 (4Au + 4B1u + 4B2g + 4B3g): see docs/validation_analysis.md.

    Both methods (fixed-molecule characters and projection onto explicitly built
    libration patterns) agree inside gamma_modes; the count is 2 per molecule.
    By hand, with the bonds where Table IV puts them (all along a, in the mirrors z = 1/4, 3/4):
    - 4c (site m2m = {E, C2y, m_x, m_z}), bond along x: R_y has characters (1, 1, -1, -1) -> Au + B2g,
      R_z has (1, -1, -1, 1) -> B1g + B3u; two such sites give 2 (Au + B1g + B2g + B3u);
    - 8g (site ..m = {E, m_z}), bond in the mirror: R_z even (A' -> Ag + B1g + B2u + B3u),
      the out-of-plane R_y odd (A'' -> Au + B1u + B2g + B3g);
    total Ag + 3B1g + 3B2g + B3g + 3Au + B1u + B2u + 3B3u.
    """
    assert cmcm_modes.rows["libron"] == {"Ag": 1, "B1g": 3, "B2g": 3, "B3g": 1,
                                         "Au": 3, "B1u": 1, "B2u": 1, "B3u": 3}
    assert cmcm_modes.rows == cmcm_modes.rows_by_projection
    assert sum(cmcm_modes.rows["libron"].values()) == 2 * 8


def test_cmcm_full_representation_counts_all_48_displacements(cmcm_modes):
    assert sum(cmcm_modes.total.values()) == 3 * 16
    assert cmcm_modes.total == {"Ag": 8, "B1g": 8, "B2g": 4, "B3g": 4, "Au": 4, "B1u": 4, "B2u": 8, "B3u": 8}


def test_libration_parity_of_a_molecule_lying_in_a_mirror():
    """The independent check behind the libron row: every Cmcm molecule lies in a mirror z = 1/4 or
    3/4 (site symmetry ..m for 8g, m2m for 4c). Under that mirror the in-plane libration (rotation
    about z) is even and the out-of-plane one odd, so each molecule gives A' + A'' (8g) rather than
    the 2A'' assumed in Eq. S9."""
    symmetry = find_symmetry(cmcm_crystal(), 0.01)
    molecules = gamma_modes(symmetry).molecules
    mirror = next(g for g, r in enumerate(symmetry.rotations_cartesian) if np.allclose(r, np.diag([1, 1, -1])))
    permutations = atom_permutations(symmetry)
    matrix = displacement_representation(symmetry.rotations_cartesian, permutations)[mirror]
    n_atoms = symmetry.primitive.n_atoms
    checked = 0
    for (first, second), bond in zip(molecules.pairs, molecules.bond_vectors_bohr):
        assert abs(bond[2]) < 1e-9  # bonds lie in the mirror plane
        if permutations[mirror, first] != first:
            continue
        in_plane_axis = np.array([0.0, 0.0, 1.0])
        out_of_plane_axis = np.cross(in_plane_axis, bond / np.linalg.norm(bond))
        for axis, parity in ((in_plane_axis, 1.0), (out_of_plane_axis, -1.0)):
            pattern = np.zeros((n_atoms, 3))
            pattern[first], pattern[second] = np.cross(axis, -0.5 * bond), np.cross(axis, 0.5 * bond)
            assert np.allclose(matrix @ pattern.ravel(), parity * pattern.ravel())
        checked += 1
    assert checked == len(molecules.pairs) == 8
