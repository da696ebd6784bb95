"""Periodic Hartree-Fock at one twist (PySCF): pretraining target and reference energy.

The neural orbitals are pretrained by fitting them to the occupied HF orbitals
at sampled electron positions, and the HF energy is the variational reference
the VMC energy must beat. Both must therefore refer to the same simulation
cell, the same twist and the same Hamiltonian as the VMC run.

Method
------
All-electron Gaussian-basis HF with a single k-point, k_twist = twist @ B,
where the rows of B are the reciprocal vectors of the simulation cell. The
orbitals are Bloch sums of atomic Gaussians,
phi_i(r) = sum_mu C_mu,i sum_T exp(i k_twist . T) chi_mu(r - T),
so phi_i(r + a_k) = exp(i k_twist . a_k) phi_i(r) for every lattice vector.
Equal spin populations use RHF; unequal ones use UHF (not ROHF): UHF gives
separate up and down orbitals, matching the two determinants of the VMC
ansatz, and a lower, hence tighter, variational reference.

Integrals: Gaussian density fitting (GDF, PySCF's range-separated builder
with its default auxiliary basis, cc-pVDZ-JKFIT for cc-pVDZ; a finer
range-separation mesh changes the 16-atom energy by only 1e-5 Ha). The steep
inner s primitive of hydrogen (13 bohr^-2 in cc-pVDZ) would need a ~53^3 plane-wave mesh for a
3.8-bohr cell with FFTDF, which agrees with GDF to 5e-8 Ha there but is 3-4
times slower, and needs over 11 GB and minutes for a 16-atom cell that GDF
solves in about two minutes on one core.

Which Hamiltonian (exchange divergence)
---------------------------------------
The VMC Hamiltonian is the Ewald (tin-foil) Coulomb energy of the simulation
cell: the periodic pair potential v_E (zero cell average, neutralising
background) between distinct particles plus the self-image (Madelung) term
xi/2 per particle, xi = lim_{r->0} [v_E(r) - 1/r] < 0. In a Slater
determinant the electron-electron part has the expectation value
  1/2 int int [rho(r) rho(r') - sum_sigma |gamma_sigma(r, r')|^2] v_E(r - r') + N xi / 2,
with v_E(G) = 4 pi / (Omega G^2) for G != 0 and v_E(G = 0) = 0: the Hartree
and exchange terms PySCF builds with ``exxdiv=None`` (G = 0 dropped). The
self-image term N xi / 2 is what ``exxdiv='ewald'`` adds: it puts
``madelung * S D S`` into the exchange matrix, lowering the energy by
madelung * N / 2, where ``madelung = -2 * (Ewald energy of one unit point
charge in the cell) = -xi`` (pyscf.pbc.tools.madelung; with a single k-point
the Ewald cell is the simulation cell itself, whatever the twist, since the
exchange singularity at one k-point is always at k - k + G = 0).
Nucleus-nucleus (``cell.energy_nuc``) is the point-charge Ewald sum with its
self terms, and the electron-nucleus term drops G = 0 with GDF's background
compensation, so ``energy_ha`` is the expectation value of the VMC
Hamiltonian in the HF determinant. Checked numerically (tests): H and H2 in a
20-bohr box reproduce the isolated-molecule HF energies plus the
exchange-hole correction -(2 pi / 3 Omega) sum_sigma [sum_i <r^2>_i
- sum_ij |<i|r|j>|^2], which follows from v_E(r) = 1/r + xi
+ (2 pi / 3 Omega) r^2 + O(r^4), to a few micro-hartree, at Gamma and at a
twist; ``exxdiv=None`` would be off by +madelung * N / 2 (0.07 Ha per
electron there).
"""

import dataclasses

import numpy as np
from pyscf.data.elements import ELEMENTS
from pyscf import lib
from pyscf.pbc import gto, scf

from qsolid.lattice import reciprocal, to_fractional
from qsolid.rundir import RunFailed
from qsolid.schema import ConfigError

CONV_TOL_HA = 1e-9
"""SCF energy convergence threshold."""

MAX_CYCLES = 100
"""SCF iterations per attempt."""

LEVEL_SHIFT_HA = 0.25
"""Virtual-orbital level shift of the second SCF attempt."""


class SCFNotConvergedError(RunFailed):
    """Hartree-Fock did not converge; its orbitals must not be used for pretraining."""


@dataclasses.dataclass(frozen=True)
class HartreeFock:
    """Converged single-k-point HF solution of one simulation cell.

    ``kpt`` is k_twist in Cartesian 1/bohr; ``mo_coeff_up`` (nao, n_up) and
    ``mo_coeff_down`` (nao, n_down) are the occupied orbitals in the Bloch AO
    basis of ``cell`` at ``kpt``.
    """

    energy_ha: float
    cell: gto.Cell
    kpt: np.ndarray
    mo_coeff_up: np.ndarray
    mo_coeff_down: np.ndarray


def twist_kpoint(lattice_bohr, twist):
    """k_twist = twist @ B (1/bohr), twist in fractions of the reciprocal vectors b_k."""
    return np.asarray(twist, dtype=float) @ np.asarray(reciprocal(np.asarray(lattice_bohr, dtype=float)))


def check_basis(basis: str, elements=("H",)) -> None:
    """ConfigError naming pretrain.basis unless PySCF knows `basis` for every element (no HF run)."""
    import warnings

    from pyscf.gto import basis as basis_library

    for element in elements:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # PySCF suggests installing basis-set-exchange
                found = basis_library.load(basis, element)
        except Exception:  # PySCF raises BasisNotFoundError, KeyError or RuntimeError depending on the name
            found = None
        if not found:
            raise ConfigError(f"pretrain.basis: PySCF has no basis {basis!r} for {element}")


def build_cell(lattice_bohr, proton_positions_bohr, nuclear_charges, n_up, n_down, basis):
    """Neutral all-electron PySCF cell; raises ValueError for a charged cell."""
    charges = np.asarray(nuclear_charges)
    if not np.all(charges == np.round(charges)) or np.any(charges < 1):
        raise ValueError(f"nuclear charges must be positive integers, got {charges}")
    if int(charges.sum()) != n_up + n_down:
        raise ValueError(
            f"the cell must be neutral: nuclear charge {int(charges.sum())} != {n_up} + {n_down} electrons"
        )
    positions = np.asarray(proton_positions_bohr, dtype=float)
    cell = gto.Cell()
    cell.a = np.asarray(lattice_bohr, dtype=float)
    cell.atom = [(ELEMENTS[int(z)], tuple(r)) for z, r in zip(charges, positions)]
    cell.unit = "Bohr"
    cell.basis = basis
    cell.spin = n_up - n_down
    cell.verbose = 0
    return cell.build()


def _solve_scf(mean_field):
    """Converge the SCF: DIIS, then, if that fails, a level-shifted restart from its density.

    The level shift raises the virtual orbitals, damping occupied-virtual
    oscillations (near-degenerate HOMO/LUMO in metallic cells) without
    changing the self-consistent solution.
    """
    mean_field.kernel()
    if not mean_field.converged:
        mean_field.level_shift = LEVEL_SHIFT_HA
        mean_field.kernel(dm0=mean_field.make_rdm1())
    if not mean_field.converged:
        raise SCFNotConvergedError(
            f"Hartree-Fock did not converge in two attempts of {mean_field.max_cycle} cycles "
            f"(last energy {mean_field.e_tot:.8f} Ha)"
        )
    return mean_field


def hartree_fock(
    lattice_bohr, proton_positions_bohr, nuclear_charges, n_up, n_down, twist=(0.0, 0.0, 0.0), basis="ccpvdz"
) -> HartreeFock:
    """HF of the simulation cell at k_twist: RHF if n_up == n_down else UHF, Ewald energy per cell.

    ``twist`` is in fractions of the simulation cell's reciprocal vectors.
    Raises SCFNotConvergedError if the SCF does not converge.
    """
    cell = build_cell(lattice_bohr, proton_positions_bohr, nuclear_charges, n_up, n_down, basis)
    kpt = twist_kpoint(lattice_bohr, twist)
    method = scf.RHF if n_up == n_down else scf.UHF
    with lib.with_omp_threads(1):  # OpenMP reductions in another order change the last bits of the orbitals
        mean_field = method(cell, kpt=kpt, exxdiv="ewald").density_fit()
        mean_field.conv_tol = CONV_TOL_HA
        mean_field.max_cycle = MAX_CYCLES
        mean_field.chkfile = None
        mean_field = _solve_scf(mean_field)
    mo_coeff = np.asarray(mean_field.mo_coeff, dtype=np.complex128)
    mo_occ = np.asarray(mean_field.mo_occ)
    if n_up == n_down:
        mo_coeff, mo_occ = (mo_coeff, mo_coeff), (mo_occ, mo_occ)
    return HartreeFock(
        energy_ha=float(mean_field.e_tot),
        cell=cell,
        kpt=kpt,
        mo_coeff_up=mo_coeff[0][:, mo_occ[0] > 0],
        mo_coeff_down=mo_coeff[1][:, mo_occ[1] > 0],
    )


def occupied_orbitals(hf: HartreeFock, electron_positions_bohr) -> tuple[np.ndarray, np.ndarray]:
    """Occupied up and down HF orbitals at Cartesian points: (n_points, n_up), (n_points, n_down).

    Complex128 Bloch functions normalised to one over the simulation cell.
    PySCF's Bloch sum over images is accurate only near the home cell, so
    each point r is folded to r - T in the home cell and the Bloch theorem,
    phi(r) = exp(i k_twist . T) phi(r - T), restores the phase exactly for
    any lattice vector T.
    """
    points = np.asarray(electron_positions_bohr, dtype=float).reshape(-1, 3)
    lattice = hf.cell.lattice_vectors()
    translations = np.floor(to_fractional(points, lattice)) @ lattice
    home_cell_aos = hf.cell.pbc_eval_gto("GTOval", points - translations, kpt=hf.kpt)
    bloch_aos = np.exp(1j * translations @ hf.kpt)[:, None] * home_cell_aos
    return bloch_aos @ hf.mo_coeff_up, bloch_aos @ hf.mo_coeff_down
