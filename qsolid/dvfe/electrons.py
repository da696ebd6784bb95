"""Quantum electrons of the variational free energy: one ensemble wavefunction Psi(r; X) (seed 001, Algs. 2-3).

With [electrons] enabled, a proton configuration X costs, besides the classical V(X), the
variational Born-Oppenheimer energy of the electrons

    E_X = E_{r ~ |Psi(r; X)|^2}[E_L(r; X)],   E_L = H Psi / Psi,

H the electrons' kinetic energy plus the Ewald energy of electrons and protons together (the
protons' own Coulomb energy included). The free energy of seed Eq. 2,

    F = E_{X~p}[k_B T ln p(X) + V(X) + E_X] + k_B T (ln N! + 3 N ln lambda),

is then an upper bound twice over: in p (Gibbs-Bogoliubov) and in Psi (the variational principle
at every X). Psi is the wavefunction of `qsolid run` ([network]): 'neural' or 'mpnn', both with the
protons as inputs, or the parameter-free 'slater' determinant (uniform electron density: then
E_X = E_HF(jellium) + the protons' Ewald energy exactly, the check of docs/validation_dvfe.md).
It is one VMC problem over a configuration set of B configurations (qsolid.vmc.configurations):
B x T walker groups (T twists, the twist an input of Psi), W walkers each, holding their
configuration's protons, which this module replaces at every step.

One step (nested sampling, seed Alg. 3):
1. Protons: the latent Z = f(X) of every configuration takes a Gaussian random-walk step on the
   torus and X = f^{-1}(Z) (qsolid.dvfe.flow.inverse; for the monotone flow X = G(Z) explicitly,
   and Z is handed on so that ln p(X) needs no Newton solve). Z is distributed as p_base whatever the
   flow's parameters (qsolid.dvfe.base), so the move needs only the Metropolis test of p_base
   (none for the uniform base) and stays exact while the flow trains; small steps keep the
   electrons close to equilibrium for the new protons.
2. Electrons: Metropolis sweeps of |Psi(r; X)|^2 at the new X.
3. E_X: the walker mean of E_L over each configuration's walkers (twist-weighted).
4. Updates: the flow by the score-function gradient of qsolid.dvfe.training with
   l = k_B T ln p + V + E_X (seed Eq. 6); Psi by the VMC gradient with the per-configuration
   baseline E_X (seed Eq. 7; the groups of the configuration set), KFAC or Adam. The two halves are
   kept or rejected separately. The flow's update and the latent move are rejected when a
   configuration met a non-positive Jacobian or a failed inversion, or when F or the new flow
   parameters are not finite: the flow, its optimiser state and Z stay as they were. Psi's update
   and the electron walkers are rejected only when a local energy or a new Psi parameter is not
   finite: a flow that folds somewhere does not stop Psi from training on the proton configurations
   it drew (every drawn X is a valid configuration to train an ensemble wavefunction on).

Pressure: -dE_X/dOmega at fixed fractional coordinates is the Coulomb virial <2K + V>_X / (3 Omega),
exact for the exact ground state (its energy scales as 1/L with the cell) and the estimator of
the seed for Psi.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from qsolid import twists as twist_sets
from qsolid.dvfe import base as proton_base
from qsolid.dvfe import flow, potentials, training
from qsolid.schema import ConfigError, to_dict
from qsolid.vmc import config as vmc_config
from qsolid.vmc import jellium, sampling
from qsolid.vmc.configurations import per_configuration_mixing
from qsolid.vmc.optim import Batch
from qsolid.vmc.problem import build_problem

ELECTRON_COLUMNS = ("electronic_energy", "local_energy_variance", "electron_acceptance", "proton_acceptance",
                    "wavefunction_rejected")
"""Extra statistics of a step with electrons: the mean of E_X per atom (Ha), the twist-weighted
variance of E_L within a configuration (Ha^2 per cell), the electrons' Metropolis acceptance, that
of the latent moves (1 for the uniform base), and whether Psi's update was rejected (the column
`rejected` is the flow's)."""

CUBIC_CELLS = (("sc", 1), ("bcc", 2), ("fcc", 4))


def reference_crystal(n_atoms: int) -> tuple[str, tuple[int, int, int]]:
    """(structure, supercell) of a cubic crystal of n_atoms in the cube of the dvfe box: Psi starts on it."""
    for structure, per_cell in CUBIC_CELLS:
        side = round((n_atoms / per_cell) ** (1.0 / 3.0))
        if per_cell * side**3 == n_atoms:
            return structure, (side, side, side)
    raise ConfigError(
        f"system.n_atoms: {n_atoms} protons fill no cubic sc, bcc or fcc supercell (n^3, 2 n^3 or 4 n^3); "
        "the electrons' wavefunction starts on one"
    )


def _twists(spec):
    """electrons.twists for a configuration set: a grid becomes all of its twists (no symmetry to reduce it)."""
    if isinstance(spec, dict):
        return twist_sets.full_grid(spec["grid"], bool(spec.get("shift", False))).tolist()
    return spec


def boundary_condition(config, problem) -> str:
    """The electrons' boundary condition in words; a grid says that all its twists were kept."""
    spec = config.electrons.twists
    if isinstance(spec, dict):
        grid, shift = "x".join(str(n) for n in spec["grid"]), bool(spec.get("shift", False))
        return f"monkhorst-pack {grid}{' shifted' if shift else ''}, all {len(problem.system.twists)} twists"
    return problem.system.boundary_condition


def problem_config(config, n_twists: int):
    """The `qsolid run` config of the electrons: the dvfe box as a clamped crystal, B x T x W walkers."""
    structure, supercell = reference_crystal(config.system.n_atoms)
    electrons = config.electrons
    walkers = config.sampling.batch_size * n_twists * electrons.walkers_per_configuration
    ansatz = config.network.ansatz
    return vmc_config.load_config(overrides={
        "seed": config.seed,
        "precision": config.precision,
        "system.structure": structure,
        "system.supercell": list(supercell),
        "system.rs": config.system.rs,
        "system.twists": _twists(electrons.twists),
        "network": to_dict(config.network),
        "sampling.batch_size": walkers,
        "sampling.sweeps_per_step": electrons.sweeps_per_step,
        "sampling.burn_in_sweeps": electrons.burn_in_sweeps,
        "sampling.electron_step_bohr": electrons.electron_step_bohr,
        "optimisation.optimiser": electrons.optimiser,
        "optimisation.learning_rate": electrons.learning_rate,
        "optimisation.steps": 0 if ansatz == "slater" else config.optimisation.steps + electrons.warmup_steps,
        "pretrain.steps": 0,
    })


def make_problem(config, configurations):
    """The VMC problem of the electrons for the fractional proton configurations (B, N, 3)."""
    twists = _twists(config.electrons.twists)
    n_twists = 1 if isinstance(twists, str) else len(twists)
    return build_problem(problem_config(config, n_twists), configurations=np.asarray(configurations))


def slater_potential(problem, n_atoms: int):
    """E_X of the 'slater' ansatz as an exact function of the protons: V(positions, box_length) (Ha).

    The plane-wave determinant's one-body density is uniform at every twist, and the Ewald pair
    potential v_E has zero cell average, so the electron-proton term vanishes and
    E_X = sum_t w_t E_HF^jellium(t) + E_Ewald(protons in their background) for every X: the protons
    form a one-component plasma. At box length L the parts scale as kinetic (L0/L)^2 and Coulomb
    L0/L from the problem's box L0, so dV/dOmega is exact too.
    """
    system = problem.system
    box = float(system.lattice[0, 0])
    parts = [jellium.hartree_fock_energy(system.lattice, system.n_up, system.n_down, t) for t in system.twists]
    weights = np.asarray(system.twist_weights)
    kinetic = float(weights @ [p.kinetic for p in parts])
    coulomb = float(weights @ [p.exchange + p.madelung for p in parts])
    protons = potentials.coulomb_potential(n_atoms, box)

    def potential(positions, box_length):
        scale = box / box_length
        return protons(positions, box_length) + kinetic * scale**2 + coulomb * scale

    return potential


def trains_wavefunction(config) -> bool:
    return config.network.ansatz != "slater"


def initial_state(problem, latent, key) -> dict:
    """Psi's parameters and optimiser state, the walkers burnt in at the initial protons, and the
    latent positions."""
    params_key, walker_key, burn_key, optimiser_key = jax.random.split(key, 4)
    params = problem.replicate(problem.wavefunction.init(params_key))
    walkers = problem.initial_walkers(params, walker_key)
    electron_step = problem.config.sampling.electron_step_bohr
    sweeps = problem.config.sampling.burn_in_sweeps
    if sweeps:
        walkers, _, _ = problem.sample(params, walkers, burn_key, electron_step, 0.0, problem.system.lattice, sweeps=sweeps)
    local = problem.measure(params, walkers, problem.system.lattice)
    opt_state = problem.replicate(problem.optimiser.init(params, optimiser_key, problem.batch(walkers, local)))
    return {"wavefunction": params, "wavefunction_opt_state": opt_state, "walkers": walkers, "latent": latent}


def initial_latent(key, ensemble, batch_size: int, dtype):
    """Z uniform on the torus, (B, N, 3)."""
    return ensemble.box_length * jax.random.uniform(key, (batch_size, ensemble.n_particles, ensemble.dimension), dtype)


@dataclasses.dataclass(frozen=True)
class StepSpec:
    """What a joint step does: train_flow (step 4's flow update), train_wavefunction (Psi's), and
    `measure` (qsolid.dvfe.observables.ProtonStructure or None) the protons' g(r) and S(k)."""

    train_flow: bool
    train_wavefunction: bool
    measure: object = None


def make_step(problem, shape, ensemble, potential, flow_learning_rate: float, clip_width: float, latent_step_bohr: float,
              inversion: flow.Inversion, spec: StepSpec, base: proton_base.Base, log_partition: float):
    """Jitted step(state, key, electron_step) -> (state, statistics): the module docstring's steps 1-4.

    state: the flow's "params" and "opt_state" and initial_state's entries.
    """
    groups = problem.groups
    twist_weights = np.asarray(problem.system.twist_weights, dtype=np.float64)
    n_twists = len(twist_weights)
    n_configurations = len(groups) // n_twists
    mixing = per_configuration_mixing(n_configurations, twist_weights)
    lattice = np.asarray(problem.system.lattice)
    sweeps = problem.config.sampling.sweeps_per_step
    flow_optimizer = training.make_optimizer(flow_learning_rate)
    box, volume = ensemble.box_length, ensemble.volume

    log_density = None
    if not base.uniform:
        log_density = lambda params, x, z: proton_base.log_density(params, shape, base, x, box, log_partition, z)

    def step(state, key, electron_step):
        move_key, sample_key, update_key = jax.random.split(key, 3)
        latent, proton_acceptance = proton_base.latent_move(base, state["latent"], move_key, latent_step_bohr, box)
        positions, residual = training.protons_of(state["params"], shape, ensemble, latent, inversion)
        walkers = state["walkers"]
        nuclei = jnp.take(positions / box, walkers.group // n_twists, axis=0) % 1.0
        walkers = dataclasses.replace(walkers, nuclei=nuclei.astype(walkers.nuclei.dtype))
        psi = state["wavefunction"]
        walkers, acceptance, _ = problem.sample.jitted(
            psi, walkers, sample_key, electron_step, jnp.zeros_like(electron_step), lattice, sweeps=sweeps
        )
        local = problem.measure.jitted(psi, walkers, lattice)
        per_configuration = lambda values: jnp.asarray(mixing, values.dtype) @ groups.means(values, walkers.group)
        electronic = per_configuration(local.energy)
        electronic_volume_derivative = -per_configuration(2.0 * local.kinetic + local.potential) / (3.0 * volume)

        def surrogate(flow_params):
            sign, log_p, energy, volume_derivative = training.local_estimates(
                flow_params, shape, ensemble, potential, positions, latent, log_density)
            local_cost = jax.lax.stop_gradient(ensemble.temperature * log_p + energy + electronic)
            weight = training.baseline_weights(local_cost, clip_width)
            return jnp.mean(weight * log_p), (sign, log_p, energy, volume_derivative)

        if spec.train_flow:
            flow_grads, (sign, log_p, energy, volume_derivative) = jax.grad(surrogate, has_aux=True)(state["params"])
            updates, flow_opt_state = flow_optimizer.update(flow_grads, state["opt_state"], state["params"])
            flow_params = optax.apply_updates(state["params"], updates)
        else:
            _, (sign, log_p, energy, volume_derivative) = surrogate(state["params"])
            flow_params, flow_opt_state = state["params"], state["opt_state"]
        if spec.train_wavefunction:
            batch = Batch(walkers.electrons, walkers.nuclei, local.energy, local.energy_imag, walkers.group)
            psi, psi_opt_state = problem.optimiser.step(psi, state["wavefunction_opt_state"], update_key, batch)
        else:
            psi_opt_state = state["wavefunction_opt_state"]
        observables = training.per_atom_observables(
            ensemble, log_p, energy + electronic, volume_derivative + electronic_volume_derivative)
        nonpositive = jnp.sum(sign <= 0)
        psi_finite = jnp.all(jnp.isfinite(local.energy)) & _all_finite(psi)
        flow_finite = jnp.all(jnp.isfinite(observables["free_energy"])) & _all_finite(flow_params)
        rejected = (nonpositive > 0) | ~flow_finite | (residual > flow.Inversion.MAX_RESIDUAL_BOHR)
        new = {"params": flow_params, "opt_state": flow_opt_state, "latent": latent,
               "wavefunction": psi, "wavefunction_opt_state": psi_opt_state, "walkers": walkers}
        kept = {"params": ~rejected, "opt_state": ~rejected, "latent": ~rejected,
                "wavefunction": psi_finite, "wavefunction_opt_state": psi_finite, "walkers": psi_finite}
        state = {key: jax.tree.map(lambda old, moved: jnp.where(kept[key], moved, old), state[key], new[key]) for key in new}
        stats = {}
        for name, values in observables.items():
            stats[name] = jnp.mean(values)
            stats[f"{name}_error"] = jnp.std(values, ddof=1) / jnp.sqrt(n_configurations)
        stats.update(
            inverse_residual_bohr=residual, nonpositive_jacobians=nonpositive, rejected=rejected,
            wavefunction_rejected=~psi_finite,
            electronic_energy=jnp.mean(electronic) / ensemble.n_particles,
            local_energy_variance=groups.variance(local.energy, walkers.group), electron_acceptance=acceptance,
            proton_acceptance=proton_acceptance,
        )
        if spec.measure is not None:
            stats["structure"] = spec.measure(positions)
        return state, stats

    return jax.jit(step, out_shardings=(state_shardings(problem), problem.replicated))


STATE_KEYS = ("params", "opt_state", "wavefunction", "wavefunction_opt_state", "walkers", "latent")
"""The state a joint step takes and returns (the flow's, Psi's, the electron walkers, the latent Z)."""


def state_shardings(problem) -> dict:
    """Walkers split over the device mesh, everything else replicated on it: the same shardings in and
    out of every step, so each step compiles once (qsolid.vmc.problem)."""
    return {key: problem.walker_sharding if key == "walkers" else problem.replicated for key in STATE_KEYS}


def placed(problem, state: dict) -> dict:
    """The joint step's state on the device mesh with state_shardings."""
    shardings = state_shardings(problem)
    return {key: jax.tree.map(lambda x: jax.device_put(x, shardings[key]), state[key]) for key in STATE_KEYS}


def _all_finite(tree):
    finite = jnp.asarray(True)
    for leaf in jax.tree.leaves(tree):
        finite &= jnp.all(jnp.isfinite(leaf))
    return finite


def adapted_electron_step(problem, step_bohr: float, acceptance: float) -> float:
    """The electron move width after one step's acceptance (qsolid.vmc.sampling.adapt_step, bounded)."""
    sampling_config = problem.config.sampling
    return sampling.adapt_step(step_bohr, acceptance, sampling_config.target_acceptance, problem.max_step_bohr)
