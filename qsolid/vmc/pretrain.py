"""Pretraining: fit the neural orbitals to periodic Hartree-Fock orbitals.

Before the energy is minimised, every determinant's orbital matrix
phi^sigma_kj of the network (qsolid.vmc.ansatz.electrons, or the backflow orbitals of
qsolid.vmc.ansatz.mpnn) is fitted to the occupied Hartree-Fock orbitals of the same
cell and twist (qsolid.vmc.hartree_fock, PySCF) evaluated at the walkers' electron positions. A determinant depends only
on the span of its orbitals, and at the Gamma point of a supercell the HF
orbitals of a degenerate shell are arbitrary real mixtures of the plane-wave
states the network is built from; so the loss is the relative least-squares
residual of the HF orbitals in the span of the network's,

    loss = mean over determinants and spins of min_B |Phi_HF - B Phi_net|^2 / |Phi_HF|^2,

(matrices over orbitals x (walkers, electrons)), minimised with Adam while the
walkers sample |Psi_net|^2. It is 0 exactly when every network determinant is
proportional to the HF determinant. This puts the
network near a sensible nodal structure and density and removes the large
initial transient of the energy minimisation.

A twist set trained as one network: Hartree-Fock is solved at every twist of
the set, the walkers of each group (twist, qsolid.vmc.groups) are fitted to
their own twist's orbitals, and the loss is the mean of the per-twist
residuals (each with its own B: the HF orbitals of two twists are different
functions, and so are the network's). A configuration set (qsolid.vmc.configurations)
is the same with one group per configuration and twist: Hartree-Fock of every
configuration, each group fitted to its own.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from qsolid import lattice as lat
from qsolid.distributed import from_primary, place_own_share, to_host
from qsolid.vmc.ansatz import electrons as electron_ansatz
from qsolid.vmc.ansatz import mpnn as mpnn_ansatz
from qsolid.vmc.groups import block_view
from qsolid.vmc.hartree_fock import hartree_fock, occupied_orbitals
from qsolid.vmc.step import step_key

RESIDUAL_WARNING = 0.01
"""A final span residual above this is reported as a warning. Measured (docs/validation_twists.md,
"Pretraining"): 8-atom Pa-3 H2 at 0.0135-0.031 began its energy minimisation 31-270 mHa/atom above
Hartree-Fock, at 0.0022 on it; bcc16 at 0.006 below it."""


def solve_hartree_fock(system, basis: str, configurations=None, report=None) -> list:
    """Hartree-Fock of the cell at every twist of the system's set (one HartreeFock per twist), or of
    every configuration of a set (fractional, (n_configurations, n_nuclei, 3)) at every twist, in the
    order of the walker groups c T + t; in a multi-process run every process takes process 0's
    solutions (the same to the last bit). `report(k, n, twist, energy_ha)`, if given, hears of each
    solution as it comes (a 16-atom cell takes minutes per twist)."""
    nuclei = [system.nuclear_cartesian] if configurations is None else [lat.to_cartesian(f, system.lattice) for f in configurations]
    jobs = [(c, t) for c in nuclei for t in system.twists]
    solutions = []
    for cartesian, twist in jobs:
        hf = hartree_fock(
            system.lattice,
            cartesian,
            system.nuclear_charges,
            system.n_up,
            system.n_down,
            twist=tuple(float(x) for x in twist),
            basis=basis,
        )
        solutions.append(
            dataclasses.replace(
                hf,
                energy_ha=float(from_primary(np.float64(hf.energy_ha))),
                mo_coeff_up=from_primary(hf.mo_coeff_up),
                mo_coeff_down=from_primary(hf.mo_coeff_down),
            )
        )
        if report is not None:
            report(len(solutions), len(jobs), twist, solutions[-1].energy_ha)
    return solutions


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


def span_residual(network, target):
    """|H - B N|^2 / |H|^2 with B = argmin: how far the HF orbitals are from the span of the network's.

    N and H are (orbital, sample) matrices. A determinant only depends on the span
    of its orbitals, so the fit is invariant under any linear recombination of
    the HF orbitals (degenerate shells, arbitrary phases) and of the network's.
    B is the least-squares solution, held fixed in the gradient (at the optimum
    the residual is stationary in B).
    """
    gram = network @ jnp.conj(network.T)
    regulariser = 1e-8 * jnp.trace(gram).real / gram.shape[0] * jnp.eye(gram.shape[0])
    b = jax.lax.stop_gradient(jnp.linalg.solve((gram + regulariser).T, (target @ jnp.conj(network.T)).T).T)
    return jnp.sum(jnp.abs(target - b @ network) ** 2) / jnp.sum(jnp.abs(target) ** 2)


def make_pretrain_loss(spec, n_groups: int = 1):
    """loss(electron_params, electrons, nuclei, groups, targets): the span residual per determinant,
    spin and group (the walkers in n_groups equal blocks, qsolid.vmc.groups), averaged. The same fit
    for either network: both expose orbitals(params, spec, e, n, group) -> (matrices, ...)."""
    ansatz = mpnn_ansatz if isinstance(spec, mpnn_ansatz.MpnnSpec) else electron_ansatz

    def loss(electron_params, electrons_batch, nuclei_batch, groups_batch, targets):
        def one(e, n, g):
            return ansatz.orbitals(electron_params, spec, e, n, g)[0]

        matrices = jax.vmap(one)(electrons_batch, nuclei_batch, groups_batch)
        total = 0.0
        for network, target in zip(matrices, targets):
            # (walker, det, orbital, electron) -> per group and determinant (orbital, walker * electron)
            n_orbitals = target.shape[1]
            for block_network, block_target in zip(block_view(network, n_groups), block_view(target, n_groups)):
                flat_target = jnp.transpose(block_target, (1, 0, 2)).reshape(n_orbitals, -1)
                for det in range(network.shape[1]):
                    flat = jnp.transpose(block_network[:, det], (1, 0, 2)).reshape(n_orbitals, -1)
                    total = total + span_residual(flat, flat_target)
        return total / (len(targets) * spec.determinants * n_groups)

    return loss


def group_targets(hfs, system, electrons_batch) -> list:
    """HF orbital matrices of every walker at its own group's twist (and configuration; walkers in
    len(hfs) equal blocks)."""
    blocks = np.split(np.asarray(electrons_batch), len(hfs))
    per_group = [hf_orbital_targets(hf, system, block) for hf, block in zip(hfs, blocks)]
    return [np.concatenate(spin, axis=0) for spin in zip(*per_group)]


def pretrain(problem, state, hfs, logger, progress=None) -> float:
    """Fit the orbitals for config.pretrain.steps Adam steps to `hfs` (one HartreeFock per walker group,
    solve_hartree_fock; config.pretrain.steps >= 1); `state` is updated in place; returns the last step's
    span residual."""
    config = problem.config
    spec = problem.wavefunction.electron_spec
    hfs = [gauge_for(hf, spec) for hf in hfs]
    optimiser = optax.adam(config.pretrain.learning_rate)
    loss_and_grad = jax.jit(jax.value_and_grad(make_pretrain_loss(spec, len(hfs))))
    electron_params = state.params["electrons"]
    opt_state = optimiser.init(electron_params)
    walkers = state.walkers
    target_dtype = jnp.result_type(walkers.electrons.dtype, jnp.complex64) if spec.is_complex else walkers.electrons.dtype
    for step in range(config.pretrain.steps):
        walkers, _, _ = problem.sample(
            {**state.params, "electrons": electron_params},
            walkers,
            step_key(config.seed, step, stream=2),
            state.electron_step_bohr,
            0.0,  # nuclei stay at the Hartree-Fock geometry while the orbitals are fitted
            state.lattice,
            sweeps=config.sampling.sweeps_per_step,
        )
        # Every process evaluates the orbitals at all walkers and places its own share of them.
        targets = [
            place_own_share(np.asarray(t if spec.is_complex else np.real(t), target_dtype), problem.walker_sharding)
            for t in group_targets(hfs, problem.system, to_host(walkers.electrons))
        ]
        value, grads = loss_and_grad(electron_params, walkers.electrons, walkers.nuclei, walkers.group, targets)
        updates, opt_state = optimiser.update(grads, opt_state, electron_params)
        electron_params = optax.apply_updates(electron_params, updates)
        if progress is not None:
            progress(step + 1, {"pretrain_loss": float(value)})
        if step % 20 == 0:
            logger.info("pretrain step %d loss %.6g", step, float(value))
    state.params, state.walkers, state.pretrained = {**state.params, "electrons": electron_params}, walkers, True
    logger.info("pretraining ended at orbital residual %.6g", float(value))
    return float(value)
