"""Runs over several processes (hosts, or one process per GPU) with `jax.distributed`.

Every process runs the same program. `initialize` connects them through a coordinator
(process 0's address); afterwards `jax.devices()` lists the devices of all processes, and
the 1-D walker mesh of qsolid.vmc.problem spans them, so each process holds its share of
the walkers and every walker mean is an all-reduce across processes. Nothing else in the
engines changes; these rules make the result that of one process with as many devices:

- Host values are read from replicated arrays (the statistics row) or gathered
  (`to_host`: walkers for a checkpoint or samples), so every process sees the same numbers
  and takes the same decisions (rewinds, step widths, lattice moves).
- Host computations that are not reproducible to the last bit (the Hartree-Fock solution of
  the pretraining) are taken from process 0 (`from_primary`).
- Only the primary process (index 0) writes the run directory (`is_primary`); the
  others compute and write nothing, and read only what existed before the run started.
- A stop is agreed on (`any_process`): SIGTERM reaching one process stops all of them
  after the same step, with one checkpoint written by process 0.

Random keys depend on (seed, step) only and walkers are indexed globally, so the numbers
do not depend on how the devices are spread over processes. With one process every
function here is the identity or a no-op, and importing this module initialises nothing.
"""

import os

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from qsolid.schema import ConfigError

SLURM_TASKS = "SLURM_NTASKS"


def initialize(coordinator_address: str | None = None, num_processes: int | None = None, process_id: int | None = None) -> None:
    """Join this process to a multi-process run; call it before any JAX computation.

    Without arguments the parameters come from the cluster environment (SLURM, Open MPI and
    the others `jax.distributed` detects; JAX_COORDINATOR_ADDRESS for the coordinator). With
    them, all three are given explicitly (e.g. `"node0:12345", 2, 0` and `..., 2, 1`).
    """
    explicit = (coordinator_address, num_processes, process_id)
    if any(value is not None for value in explicit) and None in explicit:
        raise ConfigError("distributed: give the coordinator address, the number of processes and the process id together")
    if num_processes is not None:
        check_processes(coordinator_address, num_processes, process_id)
    if jax.distributed.is_initialized():
        raise ConfigError("distributed: this process is already part of a multi-process run")
    try:
        jax.distributed.initialize(coordinator_address, num_processes, process_id)
    except ValueError as error:  # no cluster found in the environment, or inconsistent parameters
        where = "" if num_processes is not None else "no cluster in the environment (SLURM, MPI, JAX_COORDINATOR_ADDRESS): "
        raise ConfigError(f"distributed: {where}{error}") from None


def check_processes(coordinator_address: str, num_processes: int, process_id: int) -> None:
    """ConfigError naming the first bad value of an explicit start-up."""
    host, _, port = coordinator_address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--coordinator: expected HOST:PORT (e.g. node0:12345), got {coordinator_address!r}")
    if num_processes < 1:
        raise ConfigError(f"--num-processes: must be >= 1, got {num_processes}")
    if not 0 <= process_id < num_processes:
        raise ConfigError(f"--process-id: must be in 0 .. {num_processes - 1}, got {process_id}")


def slurm_tasks_without_distributed(environ=os.environ) -> int:
    """The number of SLURM tasks of this job step if there are several (0 otherwise): started without
    `--distributed`, each of them would be an independent run writing the same directory."""
    tasks = environ.get(SLURM_TASKS, "1")
    return int(tasks) if tasks.isdigit() and int(tasks) > 1 and "SLURM_STEP_ID" in environ else 0


def walker_shardings() -> tuple[NamedSharding, NamedSharding]:
    """(walkers: the leading axis split over the 1-D mesh of all devices of all processes,
    replicated: whole on every device) — the two layouts every engine places its state in."""
    mesh = Mesh(np.array(jax.devices()), ("walkers",))
    return NamedSharding(mesh, PartitionSpec("walkers")), NamedSharding(mesh, PartitionSpec())


def is_primary() -> bool:
    """True in the process that writes the run directory (process 0; the only one without jax.distributed)."""
    return not jax.distributed.is_initialized() or jax.process_index() == 0


def to_host(array) -> np.ndarray:
    """The whole of `array` as a NumPy array on every process (gathered when it is split over processes)."""
    if isinstance(array, jax.Array) and not array.is_fully_addressable and not array.is_fully_replicated:
        return np.asarray(multihost_utils.process_allgather(array, tiled=True))
    return np.asarray(jax.device_get(array))


def global_input(array):
    """`array` as device_put input for a sharding over all processes' devices: an array held whole
    by this process (host data, or a jax.Array on one local device) as NumPy, which JAX checks is
    the same on every process before each places its own share; arrays already spread over the
    processes unchanged."""
    if jax.process_count() > 1 and not (isinstance(array, jax.Array) and not array.is_fully_addressable):
        return np.asarray(array)
    return array


def place_own_share(array: np.ndarray, sharding) -> jax.Array:
    """A global array from host data every process computed for itself: each process fills its own
    devices from its copy, so copies that differ in the last bits (threaded BLAS) do not matter."""
    if jax.process_count() == 1:
        return jax.device_put(array, sharding)
    return jax.make_array_from_callback(array.shape, sharding, lambda index: array[index])


def from_primary(array: np.ndarray) -> np.ndarray:
    """Process 0's value of a host array, on every process (its bytes broadcast, so neither dtype nor
    the run's precision changes it)."""
    if jax.process_count() == 1:
        return array
    array = np.asarray(array)
    raw = np.asarray(multihost_utils.broadcast_one_to_all(np.ascontiguousarray(array).reshape(-1).view(np.uint8)))
    return raw.view(array.dtype).reshape(array.shape)


def any_process(flag: bool) -> bool:
    """True on every process if `flag` is true on any of them (one small all-gather; none with one process)."""
    if jax.process_count() == 1:
        return bool(flag)
    return bool(np.any(multihost_utils.process_allgather(np.asarray(bool(flag)))))


def barrier(name: str) -> None:
    """Wait until every process reaches the barrier `name` (nothing to wait for with one process)."""
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(name)
