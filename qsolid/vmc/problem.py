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
from jax.sharding import NamedSharding

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
from qsolid.distributed import global_input, walker_shardings
from qsolid.schema import ConfigError
from qsolid.system import System, build_system


@dataclasses.dataclass(frozen=True)
class Program:
    """A jitted program called with host values: positional argument i is converted to casts[i]
    (None: passed as it is), so that new step widths, lattices or counters every step reuse one
    compiled program. Keyword arguments are passed as they are (static ones among them);
    `lower(...)` with the same arguments gives XLA's lowering, e.g. for its cost analysis."""

    jitted: Callable
    casts: tuple

    def _arguments(self, args) -> tuple:
        return tuple(a if cast is None else jnp.asarray(a, cast) for a, cast in zip(args, self.casts, strict=True))

    def __call__(self, *args, **keywords):
        return self.jitted(*self._arguments(args), **keywords)

    def lower(self, *args, **keywords):
        return self.jitted.lower(*self._arguments(args), **keywords)


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
    sample: Program
    """sample(params, walkers, key, electron_step_bohr, nuclear_step_bohr, lattice, sweeps=, refresh_log_abs=True)
    -> (walkers, electron acceptance, nuclear acceptance)"""
    resample: Callable
    """resample(params, walkers, key) -> (walkers resampled for params, effective sample size);
    sampling.resample_after_update, jitted so the gather across devices happens inside XLA"""
    measure: Program
    """measure(params, walkers, lattice) -> LocalEnergy per walker"""
    dipoles: Program
    """dipoles(walkers, lattice) -> (batch, 3) cell dipoles"""
    log_abs_batch: Callable
    """log_abs_batch(params, electrons, nuclei, groups) -> (batch,) log|Psi|"""
    optimisation_step: Program
    """optimisation_step(params, opt_state, walkers, step, attempt, electron_step_bohr, nuclear_step_bohr, lattice)
    -> (params, opt_state, walkers, stats row): qsolid.vmc.step.make_optimisation_step, one jitted call"""
    estimate_cells: Program
    """estimate_cells(params, walkers, key, electron_step_bohr, nuclear_step_bohr, lattice, cells)
    -> (walkers, row): qsolid.vmc.step.make_cell_estimate, one jitted call for all candidate cells"""
    max_step_bohr: float
    max_nuclear_step_bohr: float
    walker_chunk: int = 0
    """Walkers per local-energy chunk (0: the whole batch), hamiltonian.walker_chunk resolved."""
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


def build_problem(config, configurations: np.ndarray | None = None) -> Problem:
    """Everything a run needs; raises ConfigError for inconsistent input before any compilation.

    `configurations` (n, n_nuclei, 3), fractional: a configuration set given as an array instead of
    system.configurations (the dvfe engine's protons, which it moves itself)."""
    memory.check(config)
    system = build_system(config.system, config.npt.lattice_mode)
    devices = jax.devices()
    if config.sampling.batch_size % len(devices):
        raise ConfigError(
            f"sampling.batch_size: {config.sampling.batch_size} walkers cannot be split over {len(devices)} devices"
        )
    chunk = memory.walker_chunk(config.hamiltonian.walker_chunk, config.sampling.batch_size, system.n_electrons, devices)
    if chunk and (config.sampling.batch_size % chunk or chunk % len(devices)):
        raise ConfigError(
            f"hamiltonian.walker_chunk: {chunk} must divide sampling.batch_size ({config.sampling.batch_size}) "
            f"and be divisible by the number of devices ({len(devices)})"
        )
    if config.system.configurations:
        configurations = configuration_set.load(config.system.configurations, system)
    if configurations is not None:
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
    walker_sharding, replicated = walker_shardings()
    n_configurations = 1 if configurations is None else len(configurations)
    wavefunction = make_wavefunction(system, config.network, nuclear_network(system, config.network), n_configurations)
    charges = np.concatenate([-np.ones(system.n_electrons), system.nuclear_charges])
    ewald_setup = make_ewald(system.lattice, charges)
    local_energy = make_local_energy(
        wavefunction, ewald_setup, config.hamiltonian.laplacian, system.nuclear_masses, config.hamiltonian.sparsity_threshold
    )
    per_walker = jax.vmap(local_energy, in_axes=(None, 0, 0, None, 0))
    chunk = chunk if chunk and chunk < config.sampling.batch_size else 0
    local_energies = functools.partial(_local_energies, per_walker, chunk)
    mode = config.sampling.sampler if system.quantum_nuclei else "electrons"
    sweeps_fn = functools.partial(
        sampling.metropolis_sweeps,
        wavefunction.log_abs_batch,
        moves_per_block=config.sampling.moves_per_block,
        nuclear_moves_per_block=config.sampling.nuclear_moves_per_block,
        mode=mode,
    )
    optimiser = make_optimiser(wavefunction, config.optimisation, groups)
    step_jit = step.make_optimisation_step(
        config, groups, sweeps_fn, wavefunction.log_abs_batch, local_energies, optimiser.step, walker_sharding, replicated
    )
    estimate_jit = step.make_cell_estimate(
        config.npt.reequilibration_sweeps, groups, sweeps_fn, local_energies, walker_sharding, replicated
    )
    resample = functools.partial(_resample, wavefunction.log_abs_batch, len(groups), walker_sharding)
    dipoles = functools.partial(_cell_dipoles, jnp.asarray(system.nuclear_charges, dtype))
    held, counter = None, jnp.int32

    return Problem(
        config=config,
        system=system,
        wavefunction=wavefunction,
        groups=groups,
        optimiser=optimiser,
        walker_sharding=walker_sharding,
        replicated=replicated,
        sample=Program(
            jax.jit(sweeps_fn, static_argnames=("sweeps", "refresh_log_abs")), (held, held, held, dtype, dtype, dtype)
        ),
        resample=jax.jit(resample),
        measure=Program(jax.jit(local_energies), (held, held, dtype)),
        dipoles=Program(jax.jit(dipoles), (held, dtype)),
        log_abs_batch=jax.jit(wavefunction.log_abs_batch),
        optimisation_step=Program(step_jit, (held, held, held, counter, counter, dtype, dtype, dtype)),
        estimate_cells=Program(estimate_jit, (held, held, held, dtype, dtype, dtype, dtype)),
        max_step_bohr=sampling.max_step_bohr(system.lattice, config.sampling.max_electron_step_bohr),
        max_nuclear_step_bohr=sampling.max_step_bohr(system.lattice, config.sampling.max_nuclear_step_bohr),
        walker_chunk=chunk,
        configurations=configurations,
    )


def _local_energies(per_walker, chunk: int, params, walkers, lattice) -> LocalEnergy:
    """The local energy of every walker; in chunks of `chunk` walkers when chunk > 0 (hamiltonian.walker_chunk)."""
    if chunk:
        return map_in_chunks(
            lambda e, n, g: per_walker(params, e, n, lattice, g), chunk, walkers.electrons, walkers.nuclei, walkers.group
        )
    return per_walker(params, walkers.electrons, walkers.nuclei, lattice, walkers.group)


def _resample(log_abs_batch, n_groups: int, walker_sharding, params, walkers, key):
    log_abs_now = log_abs_batch(params, walkers.electrons, walkers.nuclei, walkers.group)
    walkers, ess = sampling.resample_after_update(walkers, log_abs_now, key, n_groups)
    return jax.lax.with_sharding_constraint(walkers, walker_sharding), ess


def _cell_dipoles(nuclear_charges, walkers, lattice):
    return jax.vmap(dipole, in_axes=(0, 0, None, None))(walkers.electrons, walkers.nuclei, nuclear_charges, lattice)


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
