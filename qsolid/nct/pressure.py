"""Virial pressure and stress tensor, and the cell update at constant pressure.

Quantum virial theorem for each walker (seed 003, Eq. 7 and after):
Pi_ab Omega = 2 K_ab + W_ab, where W_ab = -dE/d(epsilon_ab) is the
potential virial (:func:`qsolid.nct.surfaces.energy_forces_virial`) and
K_ab = sum_i <p_ia p_ib> / 2 M_i the kinetic tensor. For real Psi,
<p_a p_b> = <d_a ln Psi d_b ln Psi>, and with u = M^{-1/2} E q,
sum_i (1/M_i) d_{u_ia} ln Psi d_{u_ib} ln Psi = sum_i v_ia v_ib with
v = E (d ln Psi / dq) = E (sqrt(omega) d ln Psi / dz). The pressure is
P = tr(Pi) / 3. (The centre of mass is fixed: translations are not modes.)

At constant pressure the Gibbs free energy G = F + P* Omega (Eq. 7) is
minimised over the cell with F converged at fixed cell, where
dG/d(epsilon_ab) = Omega (P* delta_ab - Pi_ab): the cell is strained by
epsilon_aa = s (Pi_aa - P*) (diagonal; npt.lattice_mode "isotropic" uses the mean of the three).
"""

import jax
import jax.numpy as jnp
import numpy as np

from qsolid.nct.surfaces import energy_forces_virial


def kinetic_tensor(vibrations, grad_log_psi_z):
    """K_ab for one walker from d ln Psi / dz."""
    dim = vibrations.reference.positions.shape[1]
    v = jnp.asarray(vibrations.modes.vectors) @ (jnp.sqrt(jnp.asarray(vibrations.frequencies)) * grad_log_psi_z)
    v = jnp.reshape(v, (-1, dim))
    return 0.5 * v.T @ v


def potential_virial(vibrations, z):
    """W_ab at the configuration of walker z."""
    lattice = jnp.asarray(vibrations.reference.lattice)
    return energy_forces_virial(vibrations.surface, vibrations.positions(z), lattice)[2]


def pressure_tensor(vibrations, z, grad_log_psi_z):
    """Pi_ab = (2 K_ab + W_ab) / Omega per walker (hartree / bohr^3), batched over walkers."""
    volume = abs(np.linalg.det(vibrations.reference.lattice))
    kinetic = jax.vmap(lambda g: kinetic_tensor(vibrations, g))(grad_log_psi_z)
    virial = jax.vmap(lambda x: potential_virial(vibrations, x))(z)
    return (2.0 * kinetic + virial) / volume


def strained_lattice(lattice, pressure_diagonal_gpa, target_gpa: float, strain_per_gpa: float, constraint: str):
    """The cell after one relaxation step epsilon_aa = s (Pi_aa - P*)."""
    imbalance = np.asarray(pressure_diagonal_gpa) - target_gpa
    if constraint == "isotropic":
        imbalance = np.full(3, np.mean(imbalance))
    strain = np.clip(strain_per_gpa * imbalance, -0.02, 0.02)
    return np.asarray(lattice) @ np.diag(1.0 + strain)
