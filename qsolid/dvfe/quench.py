"""Quench a trained proton flow: the most probable configurations of p(X)^beta, as a structure file.

The flow density of a trained run approximates the Boltzmann distribution, p(X) ~ e^{-V(X)/k_BT} / Z,
so p(X)^beta / int p^beta ~ e^{-beta V(X)/k_BT} is the Boltzmann distribution at T / beta: for
beta >> 1 it concentrates on the minima of V that the flow has learned (seed 001, Sec. III: the
quenched structures of the liquid, handed to a symmetry analysis). The quench is Metropolis on
beta ln p (the flow's "energy" -k_BT ln p), with

* walkers started from exact flow samples (qsolid.dvfe.training.draw), so every basin the flow
  populates can be reached;
* beta annealed geometrically, beta_k = beta^{k / K} over the first K = steps/2 steps, then held,
  so the walkers first cross the barriers of p and then settle;
* moves of all particles, X' = X + delta xi (xi standard normal, folded into the box), accepted
  with min(1, exp(beta_k (ln p(X') - ln p(X)))); a proposal where det dZ/dX <= 0 (the flow is not
  a bijection there, qsolid.dvfe.flow) is rejected. delta is adapted after every step towards half
  acceptance (this breaks detailed balance, which an optimisation does not need).

The configuration of largest ln p met by any walker is written as a P1 CIF (hydrogen, angstrom, the
cubic box) that `qsolid analyze` reads, with a JSON record of the quench beside it.
"""

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from qsolid import checkpoint, precision, rundir
from qsolid.schema import ConfigError

DEFAULT_BETA = 50.0
DEFAULT_STEPS = 400
DEFAULT_WALKERS = 16
INITIAL_STEP_FRACTION = 0.02
"""Initial Metropolis step delta as a fraction of the mean spacing L / N^{1/3}."""


def load_flow(run_dir):
    """(config, flow parameters, training step) of the newest valid checkpoint of a dvfe run directory."""
    from qsolid.dvfe import config as dvfe_config
    from qsolid.dvfe import driver, flow

    run_dir = Path(run_dir)
    if not (run_dir / "config.toml").is_file():
        raise ConfigError(f"run_dir: {run_dir} is not a dvfe run directory (no config.toml)")
    config = dvfe_config.load(run_dir / "config.toml")
    path = checkpoint.latest_valid(run_dir / "checkpoints")
    if path is None:
        raise ConfigError(f"run_dir: no checkpoint in {run_dir / 'checkpoints'}")
    arrays, metadata = checkpoint.load_arrays(path)
    template = flow.init(jax.random.PRNGKey(config.seed), driver.flow_shape_of(config))
    return config, checkpoint.unflatten(template, arrays, prefix="params/"), int(metadata["step"])


@functools.partial(jax.jit, static_argnums=(1, 2, 4))
def _log_density(params, shape, box_length, positions, base):
    """(sign of det dZ/dX, ln p) of a batch of positions (B, N, 3) on the run's base distribution
    (base, ln Z_base; qsolid.dvfe.base)."""
    from qsolid.dvfe import base as proton_base

    base, log_partition = base
    return jax.vmap(lambda x: proton_base.log_density(params, shape, base, x, box_length, log_partition))(positions)


@functools.partial(jax.jit, static_argnums=(1, 2, 8))
def _metropolis_step(params, shape, box_length, positions, log_p, beta, step_bohr, key, base):
    """One all-particle Metropolis step on beta ln p: (positions, ln p, accepted per walker)."""
    from qsolid.dvfe import flow

    move, uniform = jax.random.split(key)
    proposal = flow.wrap(positions + step_bohr * jax.random.normal(move, positions.shape, positions.dtype), box_length)
    sign, proposed = _log_density(params, shape, box_length, proposal, base)
    threshold = jnp.log(jax.random.uniform(uniform, log_p.shape, log_p.dtype))
    accept = jnp.logical_and(sign > 0, threshold < beta * (proposed - log_p))
    return (jnp.where(accept[:, None, None], proposal, positions), jnp.where(accept, proposed, log_p),
            accept)


def anneal(beta: float, step: int, steps: int) -> float:
    """beta_k = beta^{k / K}, K = steps / 2 (at least 1), then beta: from the flow's own p to p^beta."""
    ramp = max(steps // 2, 1)
    return float(beta ** min(step / ramp, 1.0))


def quench(run_dir, beta: float = DEFAULT_BETA, steps: int = DEFAULT_STEPS, walkers: int = DEFAULT_WALKERS,
           seed: int = 0, out=None) -> dict:
    """Metropolis on p(X)^beta from flow samples; writes the most probable configuration met as a CIF.

    out defaults to RUN_DIR/quench.cif and must not exist; the record (also returned) goes to the
    same name with .json: ln p and the potential V (Ha/atom, the run's [potential]) of the quenched
    configuration and, for comparison, of the starting flow samples (mean and standard error).
    """
    from qsolid.analysis.crystal import Crystal
    from qsolid.dvfe import driver, potentials, training

    if not beta > 0:
        raise ConfigError(f"beta: must be positive, got {beta}")
    if steps < 0:
        raise ConfigError(f"steps: must be non-negative, got {steps}")
    if walkers < 1:
        raise ConfigError(f"walkers: must be at least 1, got {walkers}")
    run_dir = Path(run_dir)
    out = Path(out) if out is not None else run_dir / "quench.cif"
    config, params, trained_steps = load_flow(run_dir)
    if out.suffix.lower() != ".cif":
        raise ConfigError(f"out: the quenched structure is written as CIF (.cif), got {out.name!r}")
    if out.exists():
        raise ConfigError(f"out: {out} exists (choose another --out)")
    if not out.parent.is_dir():
        raise ConfigError(f"out: no directory {out.parent}")
    with precision.use(config.precision):
        ensemble, shape = driver.ensemble_of(config), driver.flow_shape_of(config)
        box, n_atoms = ensemble.box_length, ensemble.n_particles
        pair_potential = potentials.make_potential(*driver.potential_spec_of(config))
        potential = jax.jit(jax.vmap(lambda x: pair_potential(x, box)))
        key = jax.random.PRNGKey(seed)
        start_key, key = jax.random.split(key)
        positions, _, _ = training.draw(params, shape, ensemble, start_key, walkers, driver.inversion_of(config))
        base = driver.base_of(config, ensemble)
        base = (base, driver.base_partition(config, ensemble, base)[0])
        _, log_p = _log_density(params, shape, box, positions, base)
        initial_log_p, initial_energy = np.asarray(log_p), np.asarray(potential(positions)) / n_atoms
        best_positions, best_log_p = np.asarray(positions), initial_log_p.copy()
        step_bohr = INITIAL_STEP_FRACTION * box / n_atoms ** (1.0 / 3.0)
        accepted = 0
        for step in range(steps):
            positions, log_p, accept = _metropolis_step(params, shape, box, positions, log_p,
                                                        anneal(beta, step + 1, steps), step_bohr,
                                                        jax.random.fold_in(key, step), base)
            rate = float(jnp.mean(accept))
            accepted += rate
            step_bohr *= float(np.exp(rate - 0.5))
            improved = np.asarray(log_p) > best_log_p
            best_log_p = np.where(improved, np.asarray(log_p), best_log_p)
            best_positions = np.where(improved[:, None, None], np.asarray(positions), best_positions)
        best = int(np.argmax(best_log_p))
        quenched = best_positions[best]
        quenched_energy = float(potential(quenched[None])[0]) / n_atoms
    Crystal(box * np.eye(3), quenched / box, np.ones(n_atoms, dtype=int)).write_cif(out)
    record = {
        "run_dir": str(run_dir), "checkpoint_step": trained_steps, "beta": beta, "steps": steps, "walkers": walkers,
        "seed": seed, "structure_file": str(out), "n_atoms": n_atoms, "box_length_bohr": box,
        "temperature_k": config.system.temperature_k, "quench_temperature_k": config.system.temperature_k / beta,
        "log_density": float(best_log_p[best]),
        "log_density_initial_mean": float(np.mean(initial_log_p)),
        "potential_ha_per_atom": quenched_energy,
        "potential_initial_mean_ha_per_atom": float(np.mean(initial_energy)),
        "potential_initial_error_ha_per_atom": float(np.std(initial_energy, ddof=1) / np.sqrt(walkers))
        if walkers > 1 else float("nan"),
        "acceptance": accepted / steps if steps else float("nan"),
        "final_step_bohr": step_bohr,
        "nearest_neighbour_bohr": float(_nearest_neighbour(quenched, box)),
    }
    rundir.atomic_write_json(out.with_suffix(".json"), record)
    return record


def _nearest_neighbour(positions, box_length) -> float:
    """Smallest minimum-image distance between two particles (inf for one particle)."""
    from qsolid.analysis.geometry import distance_matrix

    return float(np.min(distance_matrix(box_length * np.eye(3), positions / box_length)))


def format_record(record: dict) -> str:
    """The lines `qsolid dvfe quench` prints."""
    return "\n".join([
        f"quench of {record['run_dir']} (checkpoint step {record['checkpoint_step']}): beta = {record['beta']:g} "
        f"(T/beta = {record['quench_temperature_k']:.4g} K), {record['steps']} steps, {record['walkers']} walkers, "
        f"acceptance {record['acceptance']:.2f}",
        f"  ln p = {record['log_density']:.6g} (flow samples: {record['log_density_initial_mean']:.6g})",
        f"  V = {record['potential_ha_per_atom']:.8g} Ha/atom (flow samples: "
        f"{record['potential_initial_mean_ha_per_atom']:.8g} +- {record['potential_initial_error_ha_per_atom']:.2g})",
        f"  nearest neighbour {record['nearest_neighbour_bohr']:.4f} bohr",
        f"wrote {record['structure_file']} and {Path(record['structure_file']).with_suffix('.json')}",
    ])
