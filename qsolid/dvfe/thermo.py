"""Classical-proton thermodynamics of the variational free energy (seed 001, Eq. 2).

For N indistinguishable classical protons of mass M in a box of volume Omega
at temperature T (k_B T in Ha), Z = (1/N!) lambda^{-DN} int e^{-V/k_BT} dX with
the thermal wavelength lambda = sqrt(2 pi hbar^2 / (M k_B T)). For any
normalised p(X) the Gibbs-Bogoliubov inequality gives

    F <= F[p] = E_{X~p}[k_B T ln p(X) + V(X)] + C,   C = k_B T (ln N! + D N ln lambda),

with equality for p = e^{-V/k_BT} / int e^{-V/k_BT}. With E = (D/2) N k_B T + <V>,
S / k_B = (E - F)/k_B T = D N/2 - ln N! - D N ln lambda - <ln p>, and the
pressure is P = N k_B T / Omega - <dV/dOmega>.

Closed forms used by the checks: the ideal gas (V = 0, p = Omega^{-N}) and two
particles with a pair potential, whose configurational integral is
Omega int_cell e^{-v(r)/k_BT} dr (evaluated by the midpoint rule, which
converges spectrally for a smooth periodic integrand).
"""

import dataclasses
import math

import numpy as np

from qsolid import units


def box_length_bohr(n_atoms: int, rs: float) -> float:
    """Side of the cubic box holding n_atoms hydrogen atoms (one electron each) at Wigner-Seitz radius r_s."""
    return (n_atoms * units.volume_from_rs(rs)) ** (1.0 / 3.0)


def kelvin_to_hartree(temperature_k: float) -> float:
    """k_B T in Ha."""
    return temperature_k / units.HARTREE_KELVIN


def thermal_wavelength(mass_me: float, temperature_ha: float) -> float:
    """lambda = sqrt(2 pi / (M k_B T)) in bohr (hbar = 1, M in electron masses)."""
    return math.sqrt(2.0 * math.pi / (mass_me * temperature_ha))


@dataclasses.dataclass(frozen=True)
class Ensemble:
    """N classical particles of mass M in a D-dimensional periodic box of side L at k_B T (atomic units)."""

    n_particles: int
    box_length: float
    temperature: float
    mass: float
    dimension: int = 3

    @property
    def volume(self) -> float:
        return self.box_length**self.dimension

    @property
    def classical_constant(self) -> float:
        """C = k_B T (ln N! + D N ln lambda), the momentum and indistinguishability part of F (Ha)."""
        wavelength = thermal_wavelength(self.mass, self.temperature)
        return self.temperature * (math.lgamma(self.n_particles + 1) + self.dimension * self.n_particles * math.log(wavelength))

    @property
    def kinetic_energy(self) -> float:
        """(D/2) N k_B T (Ha)."""
        return 0.5 * self.dimension * self.n_particles * self.temperature

    @property
    def ideal_pressure(self) -> float:
        """N k_B T / Omega (Ha/bohr^3)."""
        return self.n_particles * self.temperature / self.volume


def ideal_gas(ensemble: Ensemble) -> dict:
    """Closed-form F, E (Ha per particle), S (k_B per particle) and P (GPa) of the ideal gas."""
    n = ensemble.n_particles
    free_energy = (-n * ensemble.temperature * math.log(ensemble.volume) + ensemble.classical_constant) / n
    energy = ensemble.kinetic_energy / n
    return {"free_energy_ha_per_atom": free_energy, "energy_ha_per_atom": energy,
            "entropy_kb_per_atom": (energy - free_energy) / ensemble.temperature,
            "pressure_gpa": units.ha_bohr3_to_gpa(ensemble.ideal_pressure)}


def _relative_mesh(ensemble: Ensemble, grid: int):
    """Configurations (r, 0) for r on the midpoint grid^D mesh of the cell, shape (grid^D, 2, D)."""
    import jax.numpy as jnp

    axis = (jnp.arange(grid) + 0.5) / grid * ensemble.box_length
    mesh = jnp.stack(jnp.meshgrid(*([axis] * ensemble.dimension), indexing="ij"), axis=-1).reshape(-1, ensemble.dimension)
    return jnp.stack([mesh, jnp.zeros_like(mesh)], axis=1)


def two_particle_flow(ensemble: Ensemble, potential, log_density, grid: int, inverse=None, latent_log_density=None) -> dict:
    """int p dX, and the exact F[p] (Ha per particle) and pressure P[p] (GPa) of what a two-particle
    flow samples, by quadrature.

    log_density(positions) is ln p = ln|det dZ/dX| - N D ln L of one configuration. By translation
    invariance int p = Omega^2 mean_X-mesh p((r, 0)), which is 1 exactly when the map is one-to-one
    (a fold, det < 0 somewhere, makes it larger). Without `inverse`, F[p] = Omega^2 mean_X-mesh
    p (k_B T ln p + V) + C and P[p] = N k_B T / Omega - Omega^2 mean_X-mesh p dV/dOmega. With
    `inverse` (z -> X of one configuration, qsolid.dvfe.flow.inverse) they are the averages over
    the Z of the samples X(Z): F = Omega^2 mean_Z-mesh p_Z (k_B T ln p + V)(X(Z)) + C, p_Z uniform or
    exp(latent_log_density) (the base distribution, qsolid.dvfe.base), correct also for a folded map (flow.inverse: the samples' density is p on the sheet the inverse selects). Unlike
    the Monte Carlo estimate this has no sampling noise, so F[p] >= F holds to quadrature accuracy.
    """
    import jax
    import jax.numpy as jnp

    from qsolid.dvfe.potentials import volume_derivative

    box = ensemble.box_length
    pairs = _relative_mesh(ensemble, grid)
    local = jax.jit(jax.vmap(lambda x: (log_density(x), potential(x, box), volume_derivative(potential, x, box))))
    log_p, energy, derivative = local(pairs)
    weight = ensemble.volume**2
    normalisation = float(weight * jnp.mean(jnp.exp(log_p)))
    if inverse is None:
        density = jnp.exp(log_p) * weight
    else:
        log_p, energy, derivative = local(jax.jit(jax.vmap(inverse))(pairs))
        density = jnp.ones_like(log_p)
        if latent_log_density is not None:
            density = weight * jnp.exp(jax.jit(jax.vmap(latent_log_density))(pairs))
    return {"normalisation": normalisation,
            "free_energy_ha_per_atom": float(jnp.mean(density * (ensemble.temperature * log_p + energy))
                                             + ensemble.classical_constant) / 2.0,
            "pressure_gpa": units.ha_bohr3_to_gpa(ensemble.ideal_pressure - float(jnp.mean(density * derivative)))}


def two_particle_log_partition(ensemble: Ensemble, potential, temperature: float, grid: int) -> float:
    """ln int exp(-V(X) / k_B T) dX of two particles by quadrature (the midpoint rule of two_particles)."""
    import jax

    pairs = _relative_mesh(ensemble, grid)
    energy = np.asarray(jax.jit(jax.vmap(lambda x: potential(x, ensemble.box_length)))(pairs))
    return float(_log_configurational(energy, ensemble.volume, temperature)[0])


def _log_configurational(energy, volume: float, temperature: float) -> tuple:
    """(ln of the two-particle configurational integral Omega int_cell e^{-V/k_BT} dr from V on the
    relative mesh, the mesh's Boltzmann weights up to a constant factor)."""
    shift = energy.min()
    weights = np.exp(-(energy - shift) / temperature)
    return 2.0 * math.log(volume) + math.log(np.mean(weights)) - shift / temperature, weights


def two_particles(ensemble: Ensemble, potential, grid: int) -> dict:
    """Exact F, E (Ha per particle), S (k_B per particle) and P (GPa) of two particles by quadrature.

    potential(positions, box_length) is the V(X) of the run (qsolid.dvfe.potentials); by translation
    invariance the configurational integral is Omega int_cell e^{-V((r, 0))/k_BT} dr, evaluated by the
    midpoint rule on a grid^D mesh (spectrally accurate for a smooth periodic V); <V> and the virial
    <dV/dOmega> are Boltzmann averages on the same mesh.
    """
    import jax

    from qsolid.dvfe.potentials import volume_derivative

    assert ensemble.n_particles == 2
    box, temperature = ensemble.box_length, ensemble.temperature
    pairs = _relative_mesh(ensemble, grid)
    energy, derivative = jax.jit(jax.vmap(lambda x: (potential(x, box), volume_derivative(potential, x, box))))(pairs)
    energy, derivative = np.asarray(energy), np.asarray(derivative)
    log_configurational, weights = _log_configurational(energy, ensemble.volume, temperature)
    free_energy = (-temperature * log_configurational + ensemble.classical_constant) / 2.0
    mean = lambda values: float(np.sum(weights * values) / np.sum(weights))
    energy_per_particle = (ensemble.kinetic_energy + mean(energy)) / 2.0
    return {"free_energy_ha_per_atom": float(free_energy), "energy_ha_per_atom": energy_per_particle,
            "entropy_kb_per_atom": float((energy_per_particle - free_energy) / temperature),
            "pressure_gpa": units.ha_bohr3_to_gpa(ensemble.ideal_pressure - mean(derivative))}


def two_particle_pair_distribution(ensemble: Ensemble, potential, edges_bohr, grid: int = 24,
                                   radial_points: int = 8, polar_points: int = 16, azimuthal_points: int = 32):
    """Exact shell-averaged g(r) of two particles in a cubic box (the normalisation of qsolid.analysis.rdf).

    For two particles the relative vector r has the Boltzmann density w(r) / int_cell w, w = e^{-V((r, 0))/k_BT},
    so the shell [r_k, r_k+1) (inside the inscribed sphere, where r is its own minimum image) holds the pair with
    probability P_k = int_shell w d^3r / int_cell w d^3r and g_k = Omega P_k / V_k, V_k = (4 pi/3)(r_k+1^3 - r_k^3).
    The shell integral is Gauss-Legendre in r and cos(theta) and the trapezoid rule in phi (spectrally accurate
    for a smooth V), the cell integral the midpoint rule of two_particles.
    """
    import jax

    assert ensemble.n_particles == 2 and ensemble.dimension == 3
    box, temperature = ensemble.box_length, ensemble.temperature
    edges = np.asarray(edges_bohr, dtype=float)
    evaluate = jax.jit(jax.vmap(lambda x: potential(x, box)))
    cell_energy = np.asarray(evaluate(_relative_mesh(ensemble, grid)))
    shift = cell_energy.min()
    cell_integral = ensemble.volume * np.mean(np.exp(-(cell_energy - shift) / temperature))
    radial_nodes, radial_weights = np.polynomial.legendre.leggauss(radial_points)
    cosines, polar_weights = np.polynomial.legendre.leggauss(polar_points)
    azimuths = 2.0 * np.pi * np.arange(azimuthal_points) / azimuthal_points
    sines = np.sqrt(1.0 - cosines**2)
    directions = np.stack([np.outer(sines, np.cos(azimuths)), np.outer(sines, np.sin(azimuths)),
                           np.outer(cosines, np.ones_like(azimuths))], axis=-1).reshape(-1, 3)
    angular_weights = np.outer(polar_weights, np.full(azimuthal_points, 2.0 * np.pi / azimuthal_points)).ravel()
    lower, upper = edges[:-1], edges[1:]
    radii = 0.5 * (upper - lower)[:, None] * radial_nodes + 0.5 * (upper + lower)[:, None]  # (bins, radial)
    vectors = radii[..., None, None] * directions  # (bins, radial, angles, 3)
    pairs = np.stack([vectors, np.zeros_like(vectors)], axis=-2).reshape(-1, 2, 3)
    energy = np.asarray(evaluate(pairs)).reshape(vectors.shape[:-1])
    integrand = np.exp(-(energy - shift) / temperature) @ angular_weights * radii**2
    shell_integral = 0.5 * (upper - lower) * (integrand @ radial_weights)
    shell_volume = 4.0 * np.pi / 3.0 * (upper**3 - lower**3)
    return ensemble.volume * shell_integral / (cell_integral * shell_volume)
