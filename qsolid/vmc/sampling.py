"""Metropolis-Hastings sampling of |Psi|^2: electrons, and nuclei when they are quantum.

Walkers carry fractional coordinates (electrons and nuclei) with a leading
batch axis; a proposal moves all electrons (or all nuclei) of a walker by a
Gaussian step in Cartesian space, mapped to fractional coordinates and folded
into [0, 1) (the wavefunction is periodic, so folding changes nothing physical
but keeps float32 positions fine-grained). With quantum nuclei the Gibbs block
sampler of Alg. 3 alternates blocks of nuclear moves (from p(R|r)) and
electron moves (from p(r|R)), each with its own adaptive step; the one-shot
joint move of Alg. 4 is available for comparison. Sweeps run in
`lax.fori_loop`s inside jit.

Each step width is adapted between optimisation steps towards its target
acceptance by a bounded multiplicative rule: in a small periodic cell the
acceptance may never fall to the target however large the step, and an
unbounded width would grow forever; the upper bound is the configured maximum
or half the shortest cell height, whichever is smaller.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from qsolid import lattice as lat

MIN_STEP_BOHR = 1e-3
ADAPT_FACTOR = 1.1


@dataclasses.dataclass(frozen=True)
class Walkers:
    """A batch of configurations; all positions fractional."""

    electrons: jax.Array
    """(batch, n_electrons, 3)"""
    nuclei: jax.Array
    """(batch, n_nuclei, 3)"""
    log_abs: jax.Array
    """(batch,) log|Psi| of the current configuration under the parameters last sampled with."""
    group: jax.Array
    """(batch,) int32 group of each walker (its twist, or configuration and twist; qsolid.vmc.groups), in equal
    contiguous blocks."""


jax.tree_util.register_dataclass(Walkers, data_fields=["electrons", "nuclei", "log_abs", "group"], meta_fields=[])


def initial_electrons(key, system, batch_size: int, spread_bohr: float = 1.0, nuclear_cartesian=None):
    """Electrons placed near the nuclei (Gaussian of width `spread_bohr`), spins alternating.

    Each nucleus of charge Z receives Z electrons in turn (assigned up/down in
    round-robin), so the starting density resembles atoms, not a uniform gas.
    Without nuclei (jellium) the electrons start uniformly in the cell.
    nuclear_cartesian: (batch, n_nuclei, 3) each walker's own nuclei (a configuration
    set, qsolid.vmc.configurations); default the system's.
    """
    if system.n_nuclei == 0:
        return jax.random.uniform(key, (batch_size, system.n_electrons, 3))
    owners = np.repeat(np.arange(system.n_nuclei), system.nuclear_charges.astype(int))
    owners = np.concatenate([owners[0::2], owners[1::2]])[: system.n_electrons]
    if nuclear_cartesian is None:
        centres = jnp.asarray(system.nuclear_cartesian[owners])
    else:
        centres = jnp.asarray(np.asarray(nuclear_cartesian)[:, owners])
    noise = spread_bohr * jax.random.normal(key, (batch_size, system.n_electrons, 3))
    return lat.wrap((centres + noise) @ jnp.linalg.inv(jnp.asarray(system.lattice)))


def resample_after_update(walkers: Walkers, log_abs_now, key, n_groups: int = 1):
    """Walkers resampled for the parameters after an update (sequential Monte Carlo).

    Walkers distributed as |Psi_old|^2 represent |Psi_new|^2 with importance
    weights w_i = |Psi_new(x_i)|^2 / |Psi_old(x_i)|^2 (Del Moral, Doucet & Jasra
    2006); resampling in proportion to w_i (systematic: with w normalised,
    each walker is kept floor or ceil of n w_i times) gives equally weighted walkers again,
    and the Metropolis sweeps that follow, which leave |Psi_new|^2 invariant,
    spread the copies. A walker whose region the update emptied is dropped at
    once instead of counting fully until the sampler carries it out.
    `walkers.log_abs` is log|Psi_old|; log_abs_now is log|Psi_new| at the same
    positions. With `n_groups` groups (qsolid.vmc.groups) each block of walkers
    is resampled within itself, so every group keeps its walkers. Returns
    (walkers with log_abs = log|Psi_new|, effective sample size
    sum over groups of (sum w)^2 / sum w^2).
    """
    log_ratio = 2.0 * (log_abs_now - walkers.log_abs)
    weights = jax.nn.softmax(log_ratio.reshape(n_groups, -1), axis=1)
    n = weights.shape[1]
    points = (jax.random.uniform(key, (n_groups, 1), dtype=weights.dtype) + jnp.arange(n, dtype=weights.dtype)) / n
    within = jax.vmap(jnp.searchsorted)(jnp.cumsum(weights, axis=1), points)
    index = (jnp.minimum(within, n - 1) + n * jnp.arange(n_groups)[:, None]).reshape(-1)
    walkers = dataclasses.replace(walkers, log_abs=log_abs_now)
    return jax.tree.map(lambda x: x[index], walkers), jnp.sum(1.0 / jnp.sum(weights**2, axis=1))


def max_step_bohr(lattice, configured_max: float) -> float:
    """Upper bound of the adapted step: configured maximum or half the shortest cell height."""
    return float(min(configured_max, lat.inscribed_radius(lattice)))


def _metropolis_move(log_psi_batch, params, walkers: Walkers, key, electron_step, nuclear_step, inverse):
    """One Metropolis move of all electrons (electron_step > 0) and/or all nuclei (nuclear_step > 0)."""
    electron_key, nuclear_key, accept_key = jax.random.split(key, 3)

    def propose(move_key, positions, step):
        noise = jax.random.normal(move_key, positions.shape, dtype=positions.dtype)
        return lat.wrap(positions + (step * noise) @ inverse)

    electrons = propose(electron_key, walkers.electrons, electron_step) if electron_step is not None else walkers.electrons
    nuclei = propose(nuclear_key, walkers.nuclei, nuclear_step) if nuclear_step is not None else walkers.nuclei
    log_abs_new = log_psi_batch(params, electrons, nuclei, walkers.group)
    uniform = jax.random.uniform(accept_key, walkers.log_abs.shape, dtype=walkers.log_abs.dtype)
    accept = jnp.log(uniform) < 2.0 * (log_abs_new - walkers.log_abs)
    new = Walkers(
        electrons=jnp.where(accept[:, None, None], electrons, walkers.electrons),
        nuclei=jnp.where(accept[:, None, None], nuclei, walkers.nuclei),
        log_abs=jnp.where(accept, log_abs_new, walkers.log_abs),
        group=walkers.group,
    )
    return new, jnp.mean(accept.astype(walkers.log_abs.dtype))


def metropolis_sweeps(
    log_psi_batch,
    params,
    walkers: Walkers,
    key,
    electron_step,
    nuclear_step,
    lattice,
    sweeps: int,
    moves_per_block: int,
    mode: str,
    nuclear_moves_per_block: int | None = None,
    refresh_log_abs: bool = True,
):
    """Run `sweeps` sweeps; returns (walkers, electron acceptance, nuclear acceptance).

    mode "electrons": clamped nuclei, `moves_per_block` electron moves per sweep.
    mode "gibbs" (Alg. 3): per sweep a block of `nuclear_moves_per_block` (default
        `moves_per_block`) nuclear moves from p(R|r), then a block of electron moves
        from p(r|R), each block with its own step width.
    mode "joint" (Alg. 4): one-shot moves of electrons and nuclei together.
    log_psi_batch(params, electrons, nuclei, group) -> log|Psi| for a batch.

    The walkers' cached log|Psi| is first recomputed with `params`: after a
    parameter update it is stale, and a walker whose |Psi| dropped would
    otherwise compare every proposal against its old, higher value and stop
    moving (the optimiser then lowers |Psi| there further). Walkers that
    resample_after_update has just returned carry the current value already
    (refresh_log_abs=False).
    """
    inverse = jnp.linalg.inv(lattice)
    if refresh_log_abs:
        walkers = dataclasses.replace(walkers, log_abs=log_psi_batch(params, walkers.electrons, walkers.nuclei, walkers.group))

    def block(walkers, key, electron, nuclear, moves=moves_per_block):
        def move(i, carry):
            walkers, accepted = carry
            walkers, rate = _metropolis_move(
                log_psi_batch, params, walkers, jax.random.fold_in(key, i), electron, nuclear, inverse
            )
            return walkers, accepted + rate

        zero = jnp.zeros((), walkers.log_abs.dtype)
        walkers, accepted = jax.lax.fori_loop(0, moves, move, (walkers, zero))
        return walkers, accepted / moves

    def sweep(i, carry):
        walkers, electron_accepted, nuclear_accepted = carry
        sweep_key = jax.random.fold_in(key, i)
        if mode == "electrons":
            walkers, rate = block(walkers, sweep_key, electron_step, None)
            return walkers, electron_accepted + rate, nuclear_accepted
        if mode == "joint":
            walkers, rate = block(walkers, sweep_key, electron_step, nuclear_step)
            return walkers, electron_accepted + rate, nuclear_accepted + rate
        nuclear_key, electron_key = jax.random.split(sweep_key)
        walkers, nuclear_rate = block(walkers, nuclear_key, None, nuclear_step, nuclear_moves_per_block or moves_per_block)
        walkers, electron_rate = block(walkers, electron_key, electron_step, None)
        return walkers, electron_accepted + electron_rate, nuclear_accepted + nuclear_rate

    zero = jnp.zeros((), walkers.log_abs.dtype)
    walkers, electron_accepted, nuclear_accepted = jax.lax.fori_loop(0, sweeps, sweep, (walkers, zero, zero))
    return walkers, electron_accepted / sweeps, nuclear_accepted / sweeps


def adapt_step(step_bohr: float, acceptance: float, target: float, upper_bohr: float) -> float:
    """Bounded multiplicative step-width update towards the target acceptance."""
    factor = ADAPT_FACTOR if acceptance > target else 1.0 / ADAPT_FACTOR
    return float(np.clip(step_bohr * factor, MIN_STEP_BOHR, upper_bohr))
