"""The compiled steps of a run: one XLA program per optimisation step and one per lattice estimate.

Optimisation step (Eq. 6): [resample for the current parameters] -> Metropolis
sweeps -> local energies -> parameter update, traced into one jit. Whether the
step is kept is decided on the device: the program returns either the new or
the incoming (parameters, optimiser state), selected elementwise, plus one
small array of statistics, the only thing the host reads back each step. A step
is kept when every local energy and every updated parameter is finite and the
walkers pass the equilibrium test below.

Equilibrium test. Over |Psi|^2 the kinetic energy of every kind of particle is
<-(1/2m) Delta Psi / Psi> = (1/2m) <|grad Psi|^2> / <|Psi|^2> >= 0 (integration by
parts in the periodic cell). A batch whose mean electronic or nuclear kinetic
energy lies more than EQUILIBRIUM_SIGMAS standard errors below zero therefore
does not sample |Psi|^2: its walkers lag behind a wavefunction that moved (seen
with quantum protons, where the optimiser then sharpens chi around the lagging
walkers and the energy estimate runs away to -17 Ha/atom, docs/validation_twists.md).
Such a step is rewound but its walkers keep their new positions, so that every
retry continues the Markov chain at fixed parameters until the batch passes.

Lattice estimate (Eqs. 5, S3, S5): the walkers are re-equilibrated at the
current cell and their local energies measured at every candidate cell in one
vmapped call (|Psi(S)|^2 does not depend on L in fractional coordinates, so one
sample serves all cells).

Every input keeps the same dtype and sharding from step to step (parameters and
optimiser state replicated on the device mesh, walkers split over it along
their batch axis; outputs are pinned to the same shardings), so each program
compiles once.

Random keys are a pure function of (seed, step, attempt) and derived inside
the program (`step_key`), so a resumed run draws the same numbers.

With walker groups (the twists of a set, qsolid.vmc.groups) every walker mean
of the statistics row is the weighted average of the group means, and the
variance the weighted mean of the within-group variances.
"""

import jax
import jax.numpy as jnp

from qsolid.vmc import sampling
from qsolid.vmc.optim import Batch

STEP_STATS = (
    "kept",
    "non_finite_energies",
    "energy_ha",
    "variance_ha2",
    "kinetic_ha",
    "potential_ha",
    "virial_sum_ha",
    "kinetic_bo_ha",
    "kinetic_nonbo_ha",
    "acceptance",
    "proton_acceptance",
    "effective_sample_size",
    "electron_kinetic_z",
    "nuclear_kinetic_z",
)
"""Entries of the statistics row of an optimisation step; virial_sum_ha = <2 K + V>."""

LOCAL_STATS = STEP_STATS[3:9]
"""Entries of the statistics row of a lattice estimate (of the last cell), after its per-cell energies and finite flags."""


def step_key(seed: int, step, attempt=0, stream: int = 0):
    """Deterministic key for (step, attempt): resumed runs draw the same numbers (traceable in step and attempt)."""
    key = jax.random.fold_in(jax.random.PRNGKey(seed), stream)
    return jax.random.fold_in(jax.random.fold_in(key, step), attempt)


def _local_stats(local, groups, group):
    """Walker means (weighted over the groups) of one cell's local energies, in LOCAL_STATS order."""
    return [
        groups.variance(local.energy, group),
        groups.mean(local.kinetic, group),
        groups.mean(local.potential, group),
        groups.mean(2.0 * local.kinetic + local.potential, group),
        groups.mean(local.kinetic_bo, group),
        groups.mean(local.kinetic_nonbo, group),
    ]


EQUILIBRIUM_SIGMAS = 4.0
"""A batch mean kinetic energy this many standard errors below zero fails the equilibrium test."""


def kinetic_z(values):
    """Batch mean of per-walker kinetic energies in units of its standard error (0 when they are all 0)."""
    error = jnp.std(values) / jnp.sqrt(values.shape[0])
    return jnp.where(error > 0, jnp.mean(values) / jnp.where(error > 0, error, 1.0), 0.0)


def _all_finite(tree):
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)]))


def make_optimisation_step(config, groups, sweeps, log_abs_batch, local_energies, optimiser_step, walker_sharding, replicated):
    """step(params, opt_state, walkers, step, attempt, electron_step, nuclear_step, lattice)
    -> (params, opt_state, walkers, stats) with stats the STEP_STATS row; all jitted.

    groups: the walker groups (qsolid.vmc.groups);
    sweeps: sampling.metropolis_sweeps with the wavefunction and block sizes bound;
    local_energies(params, walkers, lattice) -> LocalEnergy per walker;
    optimiser_step(params, opt_state, key, batch) -> (params, opt_state).
    """
    resample = config.resamples_after_update

    def step(params, opt_state, walkers, step, attempt, electron_step, nuclear_step, lattice):
        sample_key, update_key = jax.random.split(step_key(config.seed, step, attempt))
        sampled = walkers
        ess = jnp.asarray(walkers.log_abs.shape[0], walkers.log_abs.dtype)
        if resample:
            log_abs_now = log_abs_batch(params, walkers.electrons, walkers.nuclei, walkers.group)
            sampled, ess = sampling.resample_after_update(
                walkers, log_abs_now, jax.random.fold_in(sample_key, 2), len(groups)
            )
            sampled = jax.lax.with_sharding_constraint(sampled, walker_sharding)
        sampled, acceptance, proton_acceptance = sweeps(
            params, sampled, sample_key, electron_step, nuclear_step, lattice,
            sweeps=config.sampling.sweeps_per_step, refresh_log_abs=not resample,
        )
        local = local_energies(params, sampled, lattice)
        batch = Batch(sampled.electrons, sampled.nuclei, local.energy, local.energy_imag, sampled.group)
        new_params, new_opt_state = optimiser_step(params, opt_state, update_key, batch)
        finite_energies = jnp.isfinite(local.energy)
        nuclear_kinetic = local.kinetic_bo + local.kinetic_nonbo
        electron_z, nuclear_z = kinetic_z(local.kinetic - nuclear_kinetic), kinetic_z(nuclear_kinetic)
        equilibrated = (electron_z > -EQUILIBRIUM_SIGMAS) & (nuclear_z > -EQUILIBRIUM_SIGMAS)
        kept = jnp.all(finite_energies) & _all_finite(new_params) & equilibrated
        # A rewound step returns its inputs: one select per leaf inside the program, no copies on the host.
        params, opt_state = jax.tree.map(
            lambda new, old: jnp.where(kept, new, old), (new_params, new_opt_state), (params, opt_state)
        )
        # Walkers move on whenever their energies are finite (a rewind for disequilibrium continues the chain).
        walkers = jax.tree.map(lambda new, old: jnp.where(jnp.all(finite_energies), new, old), sampled, walkers)
        dtype = local.energy.dtype
        stats = jnp.stack([
            kept.astype(dtype),
            jnp.sum(~finite_energies).astype(dtype),
            groups.mean(local.energy, sampled.group),
            *_local_stats(local, groups, sampled.group),
            acceptance,
            proton_acceptance,
            ess,
            electron_z,
            nuclear_z,
        ])
        return params, opt_state, walkers, stats

    return jax.jit(step, out_shardings=(replicated, replicated, walker_sharding, replicated))


def make_cell_estimate(reequilibration_sweeps: int, groups, sweeps, local_energies, walker_sharding, replicated):
    """estimate(params, walkers, key, electron_step, nuclear_step, lattice, cells)
    -> (walkers, row): walkers re-equilibrated at `lattice`, row = [mean E_loc per cell (k; weighted over groups),
    all-finite flag per cell (k), LOCAL_STATS of the last cell, electron and nuclear acceptance]."""

    def estimate(params, walkers, key, electron_step, nuclear_step, lattice, cells):
        walkers, acceptance, proton_acceptance = sweeps(
            params, walkers, key, electron_step, nuclear_step, lattice, sweeps=reequilibration_sweeps
        )
        local = jax.vmap(local_energies, in_axes=(None, None, 0))(params, walkers, cells)
        last = jax.tree.map(lambda x: x[-1], local)
        dtype = local.energy.dtype
        row = jnp.concatenate([
            jax.vmap(groups.mean, in_axes=(0, None))(local.energy, walkers.group),
            jnp.all(jnp.isfinite(local.energy), axis=1).astype(dtype),
            jnp.stack([*_local_stats(last, groups, walkers.group), acceptance, proton_acceptance]),
        ])
        return walkers, row

    return jax.jit(estimate, out_shardings=(walker_sharding, replicated))
