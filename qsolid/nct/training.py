"""One NCT step as a jitted function: sample, estimate, update (Eqs. 4-5).

The state is an explicit pytree (params, optimiser state, walkers, step
width, random key, accumulators), so a checkpoint is the state itself and a
resumed run repeats the uninterrupted one bit for bit. Walkers carry a
leading axis sharded over a 1-D device mesh (jax.sharding.NamedSharding),
so the same code runs on one or many devices. A step whose estimate is not
finite leaves the parameters untouched and is counted as rejected.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding

from qsolid import units
from qsolid.distributed import walker_shardings
from qsolid.nct import flow, free_energy, mode_basis, observables, occupations, pressure, sampling


def walker_sharding(walkers: int) -> NamedSharding:
    if walkers % jax.device_count():
        raise ValueError(f"walkers ({walkers}) must be a multiple of the device count ({jax.device_count()})")
    return walker_shardings()[0]


def state_shardings(state: dict, walkers: int) -> dict:
    """Walkers sharded along their leading axis, everything else replicated on the mesh."""
    walker_sharding(walkers)  # the batch must split over the devices
    sharding, replicated = walker_shardings()
    shardings = jax.tree_util.tree_map(lambda _: replicated, state)
    shardings["zeta"] = sharding
    shardings["occupation"] = sharding
    return shardings


def place(state: dict, walkers: int) -> dict:
    """Put a (host or freshly built) state on the device mesh."""
    return jax.device_put(state, state_shardings(state, walkers))


def make_optimizer(config) -> optax.GradientTransformation:
    decay = config.optimisation.decay_steps

    def part(train, rate):
        schedule = (lambda count: rate * decay / (decay + count)) if decay else rate
        return optax.adam(schedule) if train else optax.set_to_zero()

    transforms = {
        "flow": part(config.ansatz.train_flow, config.optimisation.learning_rate_flow),
        "occupations": part(config.ansatz.train_occupations, config.optimisation.learning_rate_occupations),
    }
    if config.ansatz.level_mixing:
        transforms["mixing"] = part(True, config.optimisation.learning_rate_mixing)
    return optax.multi_transform(transforms, {name: name for name in transforms})


def init_params(config, frequencies, key) -> dict:
    dimension = len(frequencies)
    flow_params = flow.init(key, dimension, config.ansatz.flow_depth, config.ansatz.flow_hidden)
    if config.ansatz.initial_flow_noise > 0:
        leaves, tree = jax.tree_util.tree_flatten(flow_params)
        keys = jax.random.split(jax.random.fold_in(key, 1), len(leaves))
        noise = config.ansatz.initial_flow_noise
        leaves = [x + noise * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys)]
        flow_params = jax.tree_util.tree_unflatten(tree, leaves)
    params = {"flow": flow_params, "occupations": occupations.init(frequencies, config.temperature, config.ansatz.levels)}
    if config.ansatz.level_mixing:
        params["mixing"] = mode_basis.init(dimension, config.ansatz.levels, config.ansatz.mixing_band)
    return params


def init_state(config, vibrations, optimizer, key, rdf_bins: int, burn_in: bool = True) -> dict:
    """Fresh state: identity (or perturbed) flow, harmonic Boltzmann occupations, burnt-in walkers."""
    key_params, key_occupation, key_walkers, key_burn, key_run = jax.random.split(key, 5)
    params = init_params(config, vibrations.frequencies, key_params)
    walkers, levels = config.sampling.batch_size, config.ansatz.levels
    occupation = occupations.sample(params["occupations"], key_occupation, walkers)
    zeta = sampling.initial_zeta(key_walkers, occupation)
    if burn_in and config.sampling.burn_in_sweeps > 0:
        zeta, _ = jax.jit(sampling.metropolis, static_argnums=(4, 5))(
            key_burn, zeta, occupation, config.sampling.initial_step, config.sampling.burn_in_sweeps, levels
        )
    lattice = vibrations.reference.lattice
    state = {
        "params": params,
        "opt_state": optimizer.init(params),
        "zeta": zeta,
        "occupation": occupation,
        "step_size": jnp.asarray(config.sampling.initial_step, float),
        "key": key_run,
        "lattice": jnp.asarray(np.zeros((3, 3)) if lattice is None else lattice),
        "pressure_window": jnp.zeros((3, 3)),
        "rdf_counts": jnp.zeros(rdf_bins),
    }
    return place(state, walkers)


def make_step(config, vibrations, optimizer, train: bool, measure_pressure: bool, rdf_edges, template: dict):
    """The jitted step: state -> (state, statistics of this step); `template` fixes the state layout."""
    temperature, levels = config.temperature, config.ansatz.levels
    walkers, sweeps = config.sampling.batch_size, config.sampling.sweeps_per_step
    sharding = walker_sharding(walkers)
    crystal = vibrations.reference.periodic

    def step(state):
        params = state["params"]
        key, key_occupation, key_sweeps = jax.random.split(state["key"], 3)
        occupation = jax.lax.with_sharding_constraint(occupations.sample(params["occupations"], key_occupation, walkers), sharding)
        zeta = sampling.rescale_to_occupation(state["zeta"], state["occupation"], occupation)
        zeta, acceptance = sampling.metropolis(
            key_sweeps, zeta, occupation, state["step_size"], sweeps, levels, mode_basis.rotations(params)
        )
        zeta = jax.lax.with_sharding_constraint(zeta, sharding)
        terms = free_energy.walker_terms(params, vibrations, occupation, zeta, temperature, levels)
        stats = free_energy.batch_means(terms)
        stats["entropy_exact"] = occupations.entropy(params["occupations"])
        stats["acceptance"] = acceptance
        stats["step_size"] = state["step_size"]
        finite = jnp.isfinite(stats["free_energy"])
        new_state = dict(state, key=key, zeta=zeta, occupation=occupation, step_size=sampling.adapt_step(state["step_size"], acceptance))
        if train:
            grads = jax.grad(free_energy.surrogate_loss)(
                params, occupation, terms["z"], terms["free_energy"], terms["energy"], vibrations.frequencies, levels,
                config.optimisation.clip_width,
            )
            updates, opt_state = optimizer.update(grads, state["opt_state"], params)
            updated = optax.apply_updates(params, updates)
            new_state["params"] = jax.tree_util.tree_map(lambda a, b: jnp.where(finite, a, b), updated, params)
            new_state["opt_state"] = jax.tree_util.tree_map(lambda a, b: jnp.where(finite, a, b), opt_state, state["opt_state"])
        stats["rejected"] = 1.0 - finite.astype(float)
        if crystal:
            displacement = jax.vmap(vibrations.displacements)(terms["z"])
            stats["max_displacement_angstrom"] = jnp.max(jnp.linalg.norm(displacement, axis=-1)) * units.BOHR_ANGSTROM
        if measure_pressure:
            tensor = jnp.mean(pressure.pressure_tensor(vibrations, terms["z"], terms["grad_log_psi"]), axis=0)
            tensor_gpa = tensor * units.GPA_PER_HA_BOHR3
            stats["pressure_gpa"] = jnp.trace(tensor_gpa) / 3.0
            for axis, name in enumerate("xyz"):
                stats[f"stress_{name}{name}_gpa"] = tensor_gpa[axis, axis]
            new_state["pressure_window"] = state["pressure_window"] + tensor_gpa
        if rdf_edges is not None:
            positions = jax.vmap(vibrations.positions)(terms["z"])
            lattice = jnp.asarray(vibrations.reference.lattice)
            counts = jax.vmap(lambda x: observables.pair_distance_histogram(x, lattice, rdf_edges))(positions)
            new_state["rdf_counts"] = state["rdf_counts"] + jnp.sum(counts, axis=0)
        return new_state, stats

    shardings = state_shardings(template, walkers)
    replicated = walker_shardings()[1]
    return jax.jit(step, in_shardings=(shardings,), out_shardings=(shardings, replicated))
