"""A VMC problem assembled from a validated config: system, wavefunction,
Hamiltonian, sampler and optimiser, with the hot-loop functions jit-compiled
and walkers sharded over all devices along their batch axis.

Sharding: walkers carry a leading batch axis placed on a 1-D device mesh
("walkers") with `jax.sharding.NamedSharding`; parameters and optimiser state
are replicated on the same mesh from the start (an uncommitted array and its
committed successor would be two cache entries: every step function would
compile twice). jit then partitions every per-walker computation and turns
walker means into all-reduces, so the same code runs on one CPU, one GPU or
many devices, in one process or several (qsolid.distributed: the mesh holds
`jax.devices()`, the devices of every process, and each process places its
own share of host data).

A twist set with system.twist_mode = "shared" is one problem: the walkers
carry their twist as a group index in equal blocks (qsolid.vmc.groups), the
wavefunction takes it as an input, and every mean is the weighted average over
the twists: the energy, the virial pressure and, at constant pressure, the
enthalpy G = sum_t w_t E_t + P Omega each candidate cell of the annealer is
judged on.

A configuration set (system.configurations, qsolid.vmc.configurations) is one
problem too: group g = c T + t, the walkers of configuration c hold its
nuclei (`configurations`), which stay where they are.
"""

import dataclasses
import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from qsolid import lattice as lat
from qsolid.vmc import configurations as configuration_set
from qsolid.vmc import memory, sampling, step
from qsolid.vmc.configurations import configuration_of
from qsolid.vmc.ansatz import nuclei as nuclei_ansatz
from qsolid.vmc.ansatz.wavefunction import NuclearNetwork, Wavefunction, make_wavefunction
from qsolid.ewald import make_ewald
from qsolid.vmc.hamiltonian import LocalEnergy, dipole, make_local_energy, map_in_chunks
from qsolid.vmc.groups import Groups
from qsolid.vmc.optim import Batch, Optimiser, make_optimiser
from qsolid import precision
from qsolid.distributed import global_input
from qsolid.schema import ConfigError
from qsolid.system import System, build_system


@dataclasses.dataclass(frozen=True)
class Problem:
    config: object
    system: System
    wavefunction: Wavefunction
    groups: Groups
    """The walker groups: one per twist of the set (per configuration and twist of a configuration set),
    weighted as the twist average (and the ensemble mean)."""
    optimiser: Optimiser
    walker_sharding: NamedSharding
    replicated: NamedSharding
    sample: Callable
    """sample(params, walkers, key, electron_step_bohr, nuclear_step_bohr, sweeps, lattice, refresh_log_abs=True)
    -> (walkers, electron acceptance, nuclear acceptance)"""
    resample: Callable
    """resample(params, walkers, key) -> (walkers resampled for params, effective sample size);
    sampling.resample_after_update, jitted so the gather across devices happens inside XLA"""
    measure: Callable
    """measure(params, walkers, lattice) -> LocalEnergy per walker"""
    dipoles: Callable
    """dipoles(walkers, lattice) -> (batch, 3) cell dipoles"""
    log_abs_batch: Callable
    """log_abs_batch(params, electrons, nuclei, groups) -> (batch,) log|Psi|"""
    optimisation_step: Callable
    """optimisation_step(params, opt_state, walkers, step, attempt, electron_step_bohr, nuclear_step_bohr, lattice)
    -> (params, opt_state, walkers, stats row): qsolid.vmc.step.make_optimisation_step, one jitted call
    (`.lower(...)` with the same arguments gives XLA's lowering, e.g. for its cost analysis)"""
    estimate_cells: Callable
    """estimate_cells(params, walkers, key, electron_step_bohr, nuclear_step_bohr, lattice, cells)
    -> (walkers, row): qsolid.vmc.step.make_cell_estimate, one jitted call for all candidate cells"""
    max_step_bohr: float
    max_nuclear_step_bohr: float
    configurations: np.ndarray | None = None
    """(n_configurations, n_nuclei, 3) fractional nuclei of a configuration set; None: the system's nuclei."""

    @property
    def dtype(self):
        return jnp.float64 if self.config.precision == "float64" else jnp.float32

    def shard(self, tree):
        """Place the leading (walker) axis of every leaf on the device mesh."""
        return jax.tree.map(lambda x: jax.device_put(global_input(x), self.walker_sharding), tree)

    def replicate(self, tree):
        """Place every leaf whole on every device of the mesh (parameters, optimiser state)."""
        return jax.tree.map(lambda x: jax.device_put(global_input(x), self.replicated), tree)

    def initial_walkers(self, params, key) -> sampling.Walkers:
        batch = self.config.sampling.batch_size
        group = jnp.asarray(self.groups.assign(batch))
        if self.configurations is None:
            electrons = sampling.initial_electrons(key, self.system, batch).astype(self.dtype)
            nuclei = jnp.broadcast_to(jnp.asarray(self.system.nuclear_fractional, self.dtype), (batch, self.system.n_nuclei, 3))
        else:
            own = configuration_of(self.groups.assign(batch), len(self.system.twists))
            cartesian = np.stack([lat.to_cartesian(frame, self.system.lattice) for frame in self.configurations])
            electrons = sampling.initial_electrons(key, self.system, batch, nuclear_cartesian=cartesian[own]).astype(self.dtype)
            nuclei = jnp.asarray(self.configurations[own], self.dtype)
        walkers = sampling.Walkers(electrons, nuclei, jnp.zeros(batch, self.dtype), group)
        walkers = self.shard(walkers)
        return self.shard(dataclasses.replace(walkers, log_abs=self.log_abs(params, walkers)))

    def log_abs(self, params, walkers):
        return self.log_abs_batch(params, walkers.electrons, walkers.nuclei, walkers.group)

    def batch(self, walkers, local: LocalEnergy) -> Batch:
        return Batch(walkers.electrons, walkers.nuclei, local.energy, local.energy_imag, walkers.group)


def build_problem(config) -> Problem:
    """Everything a run needs; raises ConfigError for inconsistent input before any compilation."""
    memory.check(config)
    system = build_system(config.system, config.npt.lattice_mode)
    devices = jax.devices()
    if config.sampling.batch_size % len(devices):
        raise ConfigError(
            f"sampling.batch_size: {config.sampling.batch_size} walkers cannot be split over {len(devices)} devices"
        )
    chunk = config.hamiltonian.walker_chunk
    if chunk and (config.sampling.batch_size % chunk or chunk % len(devices)):
        raise ConfigError(
            f"hamiltonian.walker_chunk: {chunk} must divide sampling.batch_size ({config.sampling.batch_size}) "
            f"and be divisible by the number of devices ({len(devices)})"
        )
    configurations = None
    if config.system.configurations:
        configurations = configuration_set.load(config.system.configurations, system)
        configuration_set.check_run(config, system)
        groups = configuration_set.groups(system.twist_weights, len(configurations))
        groups.check_batch(config.sampling.batch_size, len(devices), "configurations x twists")
    else:
        groups = Groups(np.asarray(system.twist_weights, dtype=np.float64))
    if len(groups) > 1 and configurations is None:
        if config.system.twist_mode != "shared":
            raise ConfigError(f"system.twist_mode: {config.system.twist_mode!r} runs one problem per twist (qsolid.vmc.twist_average)")
        groups.check_batch(config.sampling.batch_size, len(devices), "twists")
    precision.apply(config.precision)  # the problem's arrays and programs are built in it
    dtype = jnp.float64 if config.precision == "float64" else jnp.float32
    mesh = Mesh(np.array(devices), ("walkers",))
    walker_sharding = NamedSharding(mesh, PartitionSpec("walkers"))
    replicated = NamedSharding(mesh, PartitionSpec())
    n_configurations = 1 if configurations is None else len(configurations)
    wavefunction = make_wavefunction(system, config.network, nuclear_network(system, config.network), n_configurations)
    charges = np.concatenate([-np.ones(system.n_electrons), system.nuclear_charges])
    ewald_setup = make_ewald(system.lattice, charges)
    local_energy = make_local_energy(
        wavefunction, ewald_setup, config.hamiltonian.laplacian, system.nuclear_masses, config.hamiltonian.sparsity_threshold
    )
    per_walker = jax.vmap(local_energy, in_axes=(None, 0, 0, None, 0))
    nuclear_charges = jnp.asarray(system.nuclear_charges, dtype)

    def local_energies(params, walkers, lattice):
        if chunk and chunk < config.sampling.batch_size:
            return map_in_chunks(
                lambda e, n, g: per_walker(params, e, n, lattice, g), chunk, walkers.electrons, walkers.nuclei, walkers.group
            )
        return per_walker(params, walkers.electrons, walkers.nuclei, lattice, walkers.group)

    measure_jit = jax.jit(local_energies)

    @jax.jit
    def dipoles_jit(walkers, lattice):
        return jax.vmap(dipole, in_axes=(0, 0, None, None))(walkers.electrons, walkers.nuclei, nuclear_charges, lattice)

    def measure(params, walkers, lattice):
        return measure_jit(params, walkers, jnp.asarray(lattice, dtype))

    measure.lower = lambda params, walkers, lattice: measure_jit.lower(params, walkers, jnp.asarray(lattice, dtype))

    def dipoles(walkers, lattice):
        return dipoles_jit(walkers, jnp.asarray(lattice, dtype))

    mode = config.sampling.sampler if system.quantum_nuclei else "electrons"
    sweeps_fn = functools.partial(
        sampling.metropolis_sweeps,
        wavefunction.log_abs_batch,
        moves_per_block=config.sampling.moves_per_block,
        nuclear_moves_per_block=config.sampling.nuclear_moves_per_block,
        mode=mode,
    )
    sweeps = jax.jit(sweeps_fn, static_argnames=("sweeps", "refresh_log_abs"))

    def sample(params, walkers, key, electron_step_bohr, nuclear_step_bohr, sweeps_count, lattice, refresh_log_abs=True):
        return sweeps(
            params,
            walkers,
            key,
            jnp.asarray(electron_step_bohr, dtype),
            jnp.asarray(nuclear_step_bohr, dtype),
            jnp.asarray(lattice, dtype),
            sweeps=sweeps_count,
            refresh_log_abs=refresh_log_abs,
        )

    @jax.jit
    def resample(params, walkers, key):
        log_abs_now = wavefunction.log_abs_batch(params, walkers.electrons, walkers.nuclei, walkers.group)
        walkers, ess = sampling.resample_after_update(walkers, log_abs_now, key, len(groups))
        return jax.lax.with_sharding_constraint(walkers, walker_sharding), ess

    optimiser = make_optimiser(wavefunction, config.optimisation, groups)
    step_jit = step.make_optimisation_step(
        config, groups, sweeps_fn, wavefunction.log_abs_batch, local_energies, optimiser.step, walker_sharding, replicated
    )

    def step_arguments(params, opt_state, walkers, step_index, attempt, electron_step_bohr, nuclear_step_bohr, lattice):
        # Host scalars become arrays of fixed dtype: new values every step, one program.
        return (
            params,
            opt_state,
            walkers,
            jnp.asarray(step_index, jnp.int32),
            jnp.asarray(attempt, jnp.int32),
            jnp.asarray(electron_step_bohr, dtype),
            jnp.asarray(nuclear_step_bohr, dtype),
            jnp.asarray(lattice, dtype),
        )

    def optimisation_step(*args):
        return step_jit(*step_arguments(*args))

    optimisation_step.lower = lambda *args: step_jit.lower(*step_arguments(*args))

    estimate_jit = step.make_cell_estimate(
        config.npt.reequilibration_sweeps, groups, sweeps_fn, local_energies, walker_sharding, replicated
    )

    def estimate_arguments(params, walkers, key, electron_step_bohr, nuclear_step_bohr, lattice, cells):
        return (
            params,
            walkers,
            key,
            jnp.asarray(electron_step_bohr, dtype),
            jnp.asarray(nuclear_step_bohr, dtype),
            jnp.asarray(lattice, dtype),
            jnp.asarray(cells, dtype),
        )

    def estimate_cells(*args):
        return estimate_jit(*estimate_arguments(*args))

    estimate_cells.lower = lambda *args: estimate_jit.lower(*estimate_arguments(*args))

    return Problem(
        config=config,
        system=system,
        wavefunction=wavefunction,
        groups=groups,
        optimiser=optimiser,
        walker_sharding=walker_sharding,
        replicated=replicated,
        sample=sample,
        resample=resample,
        measure=measure,
        dipoles=dipoles,
        log_abs_batch=jax.jit(wavefunction.log_abs_batch),
        optimisation_step=optimisation_step,
        estimate_cells=estimate_cells,
        max_step_bohr=sampling.max_step_bohr(system.lattice, config.sampling.max_electron_step_bohr),
        max_nuclear_step_bohr=sampling.max_step_bohr(system.lattice, config.sampling.max_nuclear_step_bohr),
        configurations=configurations,
    )


def nuclear_network(system: System, network):
    """The nuclear wavefunction chi (Alg. 1) for quantum nuclei; None when clamped, for a single
    nucleus, which has no pairs (chi = 1: its motion relative to the electrons lives in phi), or for
    the 'mpnn' ansatz, whose protons are nodes of its own network (qsolid.vmc.ansatz.mpnn)."""
    if not system.quantum_nuclei or system.n_nuclei == 1 or network.ansatz == "mpnn":
        return None
    spec = nuclei_ansatz.make_spec(system.n_nuclei, system.lattice, network.nuclear_width, network.nuclear_layers)
    reference = jnp.asarray(system.nuclear_fractional)
    return NuclearNetwork(
        init=lambda key: nuclei_ansatz.init(key, spec, reference, network.nuclear_pair_width_bohr),
        apply=lambda params, positions: nuclei_ansatz.apply(params, spec, positions),
    )
