"""Periodic HF: Bloch orbitals, normalisation, and energies of the Ewald Hamiltonian."""

import numpy as np
import pytest
from pyscf import gto as molecular_gto
from pyscf import scf as molecular_scf

import qsolid.vmc.hartree_fock
from qsolid.vmc.hartree_fock import SCFNotConvergedError, hartree_fock, occupied_orbitals

BCC_A_BOHR = 3.77945227
BCC_LATTICE = np.eye(3) * BCC_A_BOHR
BCC_PROTONS = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]]) * BCC_A_BOHR
BOX_BOHR = 20.0
H2_BOND_BOHR = 1.4011


@pytest.fixture(scope="module")
def bcc_gamma():
    return hartree_fock(BCC_LATTICE, BCC_PROTONS, [1, 1], 1, 1)


@pytest.fixture(scope="module")
def bcc_twisted():
    return hartree_fock(BCC_LATTICE, BCC_PROTONS, [1, 1], 1, 1, twist=(0.25, 0.0, 0.0))


def exchange_hole_box_correction(mo_coeffs, mol, volume):
    """-(2 pi / 3 Omega) sum_sigma [sum_i <r^2>_i - sum_ij |<i|r|j>|^2] (real orbitals).

    From v_E(r) = 1/r + xi + (2 pi / 3 Omega) r^2 + O(r^4) for the tin-foil
    Ewald potential: the xi terms cancel for a neutral cell, the r^2 terms
    cancel between the classical charges of a nonpolar system, leaving the
    second moment of each spin's exchange hole.
    """
    r2 = mol.intor("int1e_r2")
    r = mol.intor("int1e_r")
    second_moment = 0.0
    for c in mo_coeffs:
        dipoles = np.einsum("xmn,mi,nj->xij", r, c, c)
        second_moment += np.einsum("mn,mi,ni->", r2, c, c) - np.sum(dipoles**2)
    return -2.0 * np.pi / (3.0 * volume) * second_moment


def test_bcc_energy_is_above_exact_and_reproducible(bcc_gamma):
    # Exact (same cell, Gamma) -1.8414 Ha; HF/cc-pVDZ -1.819673 Ha, which
    # FFTDF on a 53^3 mesh reproduces to 5e-8 Ha.
    assert -1.8414 < bcc_gamma.energy_ha < -1.7
    assert bcc_gamma.energy_ha == pytest.approx(-1.819673, abs=1e-5)


def test_occupied_orbital_shapes(bcc_gamma):
    up, down = occupied_orbitals(bcc_gamma, np.zeros((4, 3)))
    assert up.shape == (4, 1) and down.shape == (4, 1)
    assert up.dtype == np.complex128


def test_bloch_phase_for_nonzero_twist(bcc_twisted):
    rng = np.random.default_rng(0)
    points = rng.uniform(0.0, BCC_A_BOHR, size=(20, 3))
    up, down = occupied_orbitals(bcc_twisted, points)
    assert np.min(np.abs(up)) > 1e-3
    for n in [(1, 0, 0), (0, 1, 0), (0, 0, -1), (-3, 2, 5)]:
        translation = np.array(n, dtype=float) @ BCC_LATTICE
        phase = np.exp(1j * bcc_twisted.kpt @ translation)
        shifted_up, shifted_down = occupied_orbitals(bcc_twisted, points + translation)
        np.testing.assert_allclose(shifted_up, phase * up, atol=1e-8)
        np.testing.assert_allclose(shifted_down, phase * down, atol=1e-8)


def test_folding_matches_direct_bloch_sum(bcc_twisted):
    # PySCF's own image sum is accurate one cell away from the home cell; the
    # folded evaluation must agree with it there (same phase convention).
    points = np.random.default_rng(1).uniform(-BCC_A_BOHR, 2 * BCC_A_BOHR, size=(20, 3))
    direct = bcc_twisted.cell.pbc_eval_gto("GTOval", points, kpt=bcc_twisted.kpt) @ bcc_twisted.mo_coeff_up
    np.testing.assert_allclose(occupied_orbitals(bcc_twisted, points)[0], direct, atol=1e-8)


def test_orbitals_orthonormal_on_cell_grid():
    # Spin-polarised (UHF, two up orbitals) at a twist, so the overlap is a
    # nontrivial 2x2 complex matrix. The trapezoidal rule is spectrally
    # accurate for the periodic products phi_i^* phi_j; the aliasing error
    # for the steepest product exponent (2 x 13 bohr^-2) on a 32^3 grid is
    # exp(-pi^2 / (26 h^2)) ~ 1e-12.
    polarised = hartree_fock(BCC_LATTICE, BCC_PROTONS, [1, 1], 2, 0, twist=(0.25, 0.0, 0.0))
    n = 32
    axis = np.arange(n) / n
    fractional = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
    up, down = occupied_orbitals(polarised, fractional @ BCC_LATTICE)
    assert up.shape == (n**3, 2) and down.shape == (n**3, 0)
    overlap = BCC_A_BOHR**3 / n**3 * up.conj().T @ up
    np.testing.assert_allclose(overlap, np.eye(2), atol=1e-6)


def test_h2_in_box_matches_molecule_plus_ewald_exchange_hole():
    centre = np.full(3, BOX_BOHR / 2)
    bond = np.array([0.0, 0.0, H2_BOND_BOHR / 2])
    periodic = hartree_fock(np.eye(3) * BOX_BOHR, [centre - bond, centre + bond], [1, 1], 1, 1)
    mol = molecular_gto.M(
        atom=[("H", -bond), ("H", bond)], unit="Bohr", basis="ccpvdz", verbose=0
    )
    molecular = molecular_scf.RHF(mol).run()
    assert molecular.e_tot == pytest.approx(-1.1287, abs=1e-4)
    occupied = molecular.mo_coeff[:, molecular.mo_occ > 0]
    correction = exchange_hole_box_correction([occupied, occupied], mol, BOX_BOHR**3)
    # The correction is -1.3 mHa at L = 20 bohr; without exxdiv='ewald' the
    # energy would be off by +madelung = 0.14 Ha.
    assert periodic.energy_ha == pytest.approx(molecular.e_tot, abs=2e-3)
    assert periodic.energy_ha == pytest.approx(molecular.e_tot + correction, abs=2e-5)


@pytest.mark.parametrize("twist", [(0.0, 0.0, 0.0), (0.5, 0.25, 0.0)])
def test_hydrogen_atom_in_box_uses_uhf_and_ewald_self_image(twist):
    # The self-image (Madelung) term does not depend on the twist.
    centre = np.full((1, 3), BOX_BOHR / 2)
    periodic = hartree_fock(np.eye(3) * BOX_BOHR, centre, [1], 1, 0, twist=twist)
    assert periodic.mo_coeff_up.shape[1] == 1 and periodic.mo_coeff_down.shape[1] == 0
    mol = molecular_gto.M(atom=[("H", (0.0, 0.0, 0.0))], unit="Bohr", basis="ccpvdz", spin=1, verbose=0)
    molecular = molecular_scf.UHF(mol).run()
    up = molecular.mo_coeff[0][:, molecular.mo_occ[0] > 0]
    correction = exchange_hole_box_correction([up], mol, BOX_BOHR**3)
    assert periodic.energy_ha == pytest.approx(molecular.e_tot + correction, abs=2e-5)


def test_charged_cell_is_rejected():
    with pytest.raises(ValueError, match="neutral"):
        hartree_fock(BCC_LATTICE, BCC_PROTONS, [1, 1], 1, 0)


def test_bcc_energy_is_variational_in_basis(bcc_gamma):
    triple_zeta = hartree_fock(BCC_LATTICE, BCC_PROTONS, [1, 1], 1, 1, basis="ccpvtz")
    assert -1.8414 < triple_zeta.energy_ha < bcc_gamma.energy_ha


def test_unconverged_scf_raises(monkeypatch):
    monkeypatch.setattr(qsolid.vmc.hartree_fock, "MAX_CYCLES", 1)
    with pytest.raises(SCFNotConvergedError):
        hartree_fock(BCC_LATTICE, BCC_PROTONS, [1, 1], 1, 1)
