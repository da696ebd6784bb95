"""Pretraining: fit the neural orbitals to periodic Hartree-Fock orbitals.

Before the energy is minimised, every determinant's orbital matrix
phi^sigma_kj of the network (qsolid.ansatz.electrons) is fitted by least
squares to the occupied Hartree-Fock orbitals of the same cell and twist
(qsolid.hartree_fock, PySCF) evaluated at the walkers' electron positions:

    loss = mean over walkers, determinants, spins, k, j of |phi_net,kj - phi_HF,k(r_j)|^2,

minimised with Adam while the walkers sample |Psi_net|^2. This puts the
network near a sensible nodal structure and density and removes the large
initial transient of the energy minimisation.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from qsolid import lattice as lat
from qsolid.ansatz import electrons as electron_ansatz
from qsolid.hartree_fock import hartree_fock, occupied_orbitals


def solve_hartree_fock(system, basis: str):
    return hartree_fock(
        system.lattice,
        system.nuclear_cartesian,
        system.nuclear_charges,
        system.n_up,
        system.n_down,
        twist=tuple(system.twist),
        basis=basis,
    )


def real_orbital_gauge(coefficients):
    """Rotate each orbital's global phase so that a real-up-to-phase orbital becomes real.

    At Gamma without twist the HF orbitals are real up to an arbitrary phase
    per orbital; a real network can only fit them once that phase is removed.
    The phase is (1/2) arg sum_mu C_mu^2, which is exact for C = e^{i t} x.
    """
    phase = 0.5 * np.angle(np.sum(coefficients**2, axis=0))
    return coefficients * np.exp(-1j * phase)[None, :]


def gauge_for(hf, spec):
    """HF solution with real-gauged orbitals when the network is real."""
    if spec.is_complex:
        return hf
    return dataclasses.replace(
        hf, mo_coeff_up=real_orbital_gauge(hf.mo_coeff_up), mo_coeff_down=real_orbital_gauge(hf.mo_coeff_down)
    )


def hf_orbital_targets(hf, system, electrons_batch):
    """HF orbital matrices (batch, orbital k, electron j) for each spin with electrons."""
    electrons_batch = np.asarray(electrons_batch, dtype=np.float64)
    batch, n_electrons, _ = electrons_batch.shape
    cartesian = lat.to_cartesian(electrons_batch.reshape(-1, 3), system.lattice)
    up, down = occupied_orbitals(hf, cartesian)
    up = up.reshape(batch, n_electrons, -1)[:, : system.n_up, :].transpose(0, 2, 1)
    down = down.reshape(batch, n_electrons, -1)[:, system.n_up :, :].transpose(0, 2, 1)
    return [m for m, count in ((up, system.n_up), (down, system.n_down)) if count > 0]


def make_pretrain_loss(spec):
    def loss(electron_params, electrons_batch, nuclei_batch, targets):
        def one(e, n):
            return electron_ansatz.orbitals(electron_params, spec, e, n)[0]

        matrices = jax.vmap(one)(electrons_batch, nuclei_batch)
        total = 0.0
        for network, target in zip(matrices, targets):
            total = total + jnp.mean(jnp.abs(network - target[:, None, :, :]) ** 2)
        return total

    return loss


def pretrain(problem, state, hf, logger, progress=None):
    """Fit the orbitals for config.pretrain.steps Adam steps; returns the updated state."""
    config = problem.config
    spec = problem.wavefunction.electron_spec
    hf = gauge_for(hf, spec)
    optimiser = optax.adam(config.pretrain.learning_rate)
    loss_and_grad = jax.jit(jax.value_and_grad(make_pretrain_loss(spec)))
    electron_params = state.params["electrons"]
    opt_state = optimiser.init(electron_params)
    walkers = state.walkers
    target_dtype = jnp.result_type(walkers.electrons.dtype, jnp.complex64) if spec.is_complex else walkers.electrons.dtype
    from qsolid.train import step_key

    for step in range(config.pretrain.steps):
        params = {**state.params, "electrons": electron_params}
        walkers = dataclasses.replace(walkers, log_abs=problem.log_abs(params, walkers))
        walkers, _ = problem.sample(
            params, walkers, step_key(config.seed, step, stream=2), state.step_width_bohr, config.sampling.sweeps_per_step
        )
        targets = [
            jnp.asarray(t if spec.is_complex else np.real(t), target_dtype)
            for t in hf_orbital_targets(hf, problem.system, walkers.electrons)
        ]
        value, grads = loss_and_grad(electron_params, walkers.electrons, walkers.nuclei, targets)
        updates, opt_state = optimiser.update(grads, opt_state, electron_params)
        electron_params = optax.apply_updates(electron_params, updates)
        if progress is not None:
            progress(step + 1, {"pretrain_loss": float(value)})
        if step % 20 == 0:
            logger.info("pretrain step %d loss %.6g", step, float(value))
    params = {**state.params, "electrons": electron_params}
    walkers = dataclasses.replace(walkers, log_abs=problem.log_abs(params, walkers))
    state.params, state.walkers, state.pretrained = params, walkers, True
    return state
