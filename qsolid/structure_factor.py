"""The static structure factor S(k) of the charge density, and the two-body finite-size correction
of the potential energy it measures (Chiesa, Ceperley, Martin & Holzmann, PRL 97, 076404 (2006)).

For the reciprocal vectors k = m_1 b_1 + m_2 b_2 + m_3 b_3 of the simulation cell (m integer, not 0;
k . r = 2 pi m . s with s fractional),

    rho_k = sum_i exp(-i k . r_i) - sum_I Z_I exp(-i k . R_I),

the nuclear sum only for quantum nuclei (clamped nuclei give a constant that drops out of the
fluctuation). Per electron, the connected structure factor is

    S(k) = ( <|rho_k|^2> - |<rho_k>|^2 ) / N_e,

without the Bragg part |<rho_k>|^2 (not zero at reciprocal vectors of the primitive cell). At small k,
S(k) -> a k^2 (a = 1 / (2 omega_p) for the electron gas: the plasmon). The Ewald sum of a finite cell
leaves out the reciprocal cell around k = 0 (volume (2 pi)^3 / Omega); the potential energy it
misses is the integral of (4 pi / k^2) N_e S(k) / (2 Omega) over it:

    Delta V = 2 pi N_e a / Omega   (per cell),

omega_p / (4 N_e) per electron when a = 1 / (2 omega_p) (qsolid.finite_size). Here a is estimated on
the smallest shell, a = S(k_1) / k_1^2: the leading-order estimate, biased when k_1 is not small
against the Fermi wavevector (small cells). Every shell's S(k) is reported, so its shape can be judged.
"""

import numpy as np

from qsolid import lattice as lat
from qsolid.stats import reblock


def shells(lattice, n_shells: int):
    """The integer vectors m of the `n_shells` smallest nonzero |k| of the cell (rows, bohr), each
    vector's shell index and each shell's |k| (1/bohr)."""
    reciprocal = np.asarray(lat.reciprocal(np.asarray(lattice, dtype=np.float64)))
    radius = n_shells + 1
    grid = np.arange(-radius, radius + 1)
    m = np.stack(np.meshgrid(grid, grid, grid, indexing="ij"), axis=-1).reshape(-1, 3)
    m = m[np.any(m != 0, axis=1)]
    norms = np.linalg.norm(m @ reciprocal, axis=1)
    rounded = np.round(norms, 8)
    radii = np.unique(rounded)[:n_shells]
    keep = np.isin(rounded, radii)
    index = np.searchsorted(radii, rounded[keep])
    return m[keep], index, np.array([norms[keep][index == shell][0] for shell in range(len(radii))])


def density_modes(positions_frac, charges, modes):
    """sum_a q_a exp(-2 pi i m . s_a) for each mode m: (..., n_modes) complex, positions (..., n, 3)."""
    import jax.numpy as jnp

    phase = -2.0 * jnp.pi * jnp.einsum("...nd,kd->...nk", positions_frac, jnp.asarray(modes, positions_frac.dtype))
    return jnp.einsum("n,...nk->...k", jnp.asarray(charges, positions_frac.dtype), jnp.exp(1j * phase))


def step_values(electrons_frac, nuclei_frac, nuclear_charges, quantum_nuclei: bool, modes, shell_index, n_shells: int,
                walker_weights=None):
    """The walker means of one evaluation step: rho_sq (n_shells,) = <|rho_k|^2> averaged over each
    shell's vectors, and rho_re, rho_im (n_modes,) = <rho_k>; with walker_weights (batch,), of mean 1,
    the weighted means (a twist set's average over its twists, qsolid.vmc.groups)."""
    import jax

    n_electrons = electrons_frac.shape[-2]
    rho = density_modes(electrons_frac, np.ones(n_electrons), modes)
    if quantum_nuclei:
        rho = rho - density_modes(nuclei_frac, nuclear_charges, modes)
    power = np.zeros((n_shells, len(modes)))
    power[shell_index, np.arange(len(modes))] = 1.0 / np.bincount(shell_index, minlength=n_shells)[shell_index]
    weights = 1.0 if walker_weights is None else walker_weights[:, None]
    mean_rho = (weights * rho).mean(axis=0)
    return {
        "rho_sq": (weights * jax.numpy.abs(rho) ** 2).mean(axis=0) @ power.T,
        "rho_re": mean_rho.real,
        "rho_im": mean_rho.imag,
    }


def summarise(rho_sq, rho_re, rho_im, shell_index, shell_k, n_electrons: int, volume_bohr3: float) -> dict:
    """S(k) per shell with reblocked error bars (the Bragg part from the run means), the small-k
    coefficient a = S(k_1) / k_1^2 and the potential-energy correction Delta V = 2 pi N_e a / Omega."""
    rho_sq, rho_re, rho_im = (np.asarray(x, dtype=np.float64) for x in (rho_sq, rho_re, rho_im))
    bragg = np.bincount(shell_index, weights=np.mean(rho_re, 0) ** 2 + np.mean(rho_im, 0) ** 2) / np.bincount(shell_index)
    table = []
    for shell, k in enumerate(shell_k):
        estimate = reblock(rho_sq[:, shell])
        table.append(
            {
                "k_bohr_inv": float(k),
                "vectors": int(np.sum(shell_index == shell)),
                "s": (estimate.mean - bragg[shell]) / n_electrons,
                "s_error": estimate.error / n_electrons,
            }
        )
    coefficient = table[0]["s"] / shell_k[0] ** 2
    coefficient_error = table[0]["s_error"] / shell_k[0] ** 2
    scale = 2.0 * np.pi * n_electrons / volume_bohr3
    return {
        "structure_factor": table,
        "structure_factor_small_k_bohr2": float(coefficient),
        "structure_factor_small_k_error_bohr2": float(coefficient_error),
        "finite_size_potential_sk_ha": float(scale * coefficient),
        "finite_size_potential_sk_error_ha": float(scale * coefficient_error),
    }
