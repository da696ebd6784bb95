"""Kinetic energy in fractional coordinates (Eq. S3): forward Laplacian vs. a literal Hessian evaluation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qsolid import lattice as lat
from qsolid.vmc.ansatz.wavefunction import make_wavefunction
from qsolid.vmc.config import load_config
from qsolid.vmc.hamiltonian import dipole, electron_kinetic_energy
from qsolid.system import build_system


def _eq_s3_kinetic(log_psi, electrons, lattice):
    """-1/2 [g^-1 : Hess_s ln Psi + |L^-1 grad_s ln Psi|^2] summed over electrons, evaluated literally."""
    inverse_metric = jnp.linalg.inv(lattice @ lattice.T)
    inverse = jnp.linalg.inv(lattice)

    def complex_log(s):
        phase, log_abs = log_psi(s)
        return log_abs, phase

    hess_a = jax.hessian(lambda s: complex_log(s)[0])(electrons)
    hess_b = jax.hessian(lambda s: complex_log(s)[1])(electrons)
    grad_a = jax.grad(lambda s: complex_log(s)[0])(electrons)
    grad_b = jax.grad(lambda s: complex_log(s)[1])(electrons)
    n = electrons.shape[0]
    lap_a = sum(jnp.sum(inverse_metric * hess_a[i, :, i, :]) for i in range(n))
    lap_b = sum(jnp.sum(inverse_metric * hess_b[i, :, i, :]) for i in range(n))
    cart_a, cart_b = grad_a @ inverse.T, grad_b @ inverse.T
    real = -0.5 * (lap_a + jnp.sum(cart_a**2) - jnp.sum(cart_b**2))
    imag = -0.5 * (lap_b + 2 * jnp.sum(cart_a * cart_b))
    return real, imag


@pytest.mark.parametrize(
    "overrides",
    [
        {"system.structure": "bcc", "system.supercell": [2, 1, 1]},
        {"system.structure": "h2-molecule", "system.box_bohr": 8.0},
    ],
)
@pytest.mark.slow
def test_forward_laplacian_matches_hessian_and_eq_s3(float64, overrides):
    config = load_config(overrides={"network.one_electron_width": 8, "network.two_electron_width": 4, "network.determinants": 2, **overrides})
    system = build_system(config.system)
    # A triclinic cell: the metric tensor must matter.
    lattice = jnp.asarray(lat.lattice_from_parameters(*lat.parameters_from_lattice(system.lattice)[:3], 75.0, 95.0, 110.0))
    wavefunction = make_wavefunction(system, config.network)
    params = wavefunction.init(jax.random.PRNGKey(0))
    electrons = jnp.asarray(np.random.default_rng(1).uniform(size=(system.n_electrons, 3)))
    nuclei = jnp.asarray(system.nuclear_fractional)

    def log_psi(e):
        return wavefunction.apply(params, e, nuclei)

    forward = electron_kinetic_energy(log_psi, electrons, lattice, "forward")
    hessian = electron_kinetic_energy(log_psi, electrons, lattice, "hessian")
    literal = _eq_s3_kinetic(log_psi, electrons, lattice)
    for value in (hessian, literal):
        np.testing.assert_allclose(forward[0], value[0], rtol=1e-8)
        np.testing.assert_allclose(forward[1], value[1], rtol=1e-8, atol=1e-10 * abs(float(forward[0])))


def test_kinetic_energy_of_plane_wave_product(float64):
    # Psi = exp(i G.r) for one electron: -1/2 Laplacian Psi / Psi = |G|^2 / 2 exactly.
    lattice = jnp.asarray(lat.lattice_from_parameters(3.0, 4.0, 5.0, 80.0, 100.0, 70.0))
    m = jnp.array([1.0, -2.0, 1.0])
    g = m @ lat.reciprocal(lattice)

    def log_psi(s):
        return 2 * jnp.pi * jnp.sum(m * s[0]), jnp.zeros(())

    real, imag = electron_kinetic_energy(log_psi, jnp.array([[0.1, 0.2, 0.3]]), lattice)
    np.testing.assert_allclose(real, 0.5 * jnp.sum(g**2), rtol=1e-12)
    np.testing.assert_allclose(imag, 0.0, atol=1e-12)


def test_dipole_of_molecule_uses_minimum_image(float64):
    lattice = jnp.eye(3) * 10.0
    nuclei = jnp.array([[0.97, 0.5, 0.5], [0.03, 0.5, 0.5]])  # a molecule straddling the boundary
    electrons = jnp.array([[0.99, 0.5, 0.5], [0.99, 0.5, 0.6]])
    d = dipole(electrons, nuclei, jnp.ones(2), lattice)
    # Centre at x = 0 (= 1.0); nuclei at -0.3, +0.3 bohr; electrons at x = -0.1, the second also at z + 1.
    np.testing.assert_allclose(d, [0.2, 0.0, -1.0], atol=1e-12)
