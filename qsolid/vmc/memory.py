"""A lower bound on the memory a VMC run needs, checked before anything is allocated.

The local energy is vmapped over the walkers measured at once: the batch, or a
chunk of it (hamiltonian.walker_chunk, resolved by walker_chunk below), so the
peak is set by that many walkers times the per-walker working set of the local
energy, plus the batch's walkers. With the forward Laplacian (folx) every activation carries its value,
its Laplacian and its gradient with respect to the electron coordinates it
depends on. Counting only activations that must be alive together:

  pair stream h_ij (depends on r_i, r_j only: 6 gradient components)   N_e^2 w_2 (2 + 6)
  one-electron stream h_i (depends on every electron after a layer)     N_e w_1 (2 + 3 N_e)
  orbital matrices of the K determinants (spin blocks, >= N_e^2 / 2)     K N_e^2 / 2 (2 + 3 N_e)
  walkers                                                               3 N_e + 3 N_n + 1

numbers of the run's precision per walker. This is deliberately a lower bound
(the full-Hessian Laplacian, the Ewald sums, the nuclear network and XLA's
temporaries come on top): a run it refuses cannot fit, a run it accepts may
still be too large. The limit is the memory the JAX devices report
(accelerators), otherwise the machine's physical memory.
"""

import dataclasses
import math
import os

from qsolid.schema import ConfigError


@dataclasses.dataclass(frozen=True)
class Estimate:
    per_walker_bytes: int
    walkers_bytes: int

    def total_bytes(self, walkers_at_once: int) -> int:
        """The batch's walkers (walkers_bytes) and the local energy's working set of the walkers measured at once."""
        return self.walkers_bytes + walkers_at_once * self.per_walker_bytes


def estimate_bytes(config, n_nuclei: int, n_electrons: int | None = None) -> int:
    """Lower bound (bytes) on the peak memory of a run of `config` with this many particles."""
    return _estimate(config, n_nuclei, n_electrons).total_bytes(config.sampling.batch_size)


def _estimate(config, n_nuclei: int, n_electrons: int | None) -> Estimate:
    n_e = n_nuclei if n_electrons is None else n_electrons  # hydrogen: one electron per nucleus
    word = 8 if config.precision == "float64" else 4
    net = config.network
    dense = 2 + 3 * n_e
    numbers = n_e * n_e * net.two_electron_width * 8 + n_e * net.one_electron_width * dense
    numbers += net.determinants * (n_e * n_e // 2) * dense
    walker = 3 * n_e + 3 * n_nuclei + 1
    return Estimate(per_walker_bytes=word * numbers, walkers_bytes=word * config.sampling.batch_size * walker)


AUTO_CHUNK_WALKERS_PER_DEVICE = 16
AUTO_CHUNK_MIN_ELECTRONS = 16
"""hamiltonian.walker_chunk = 'auto': chunks of AUTO_CHUNK_WALKERS_PER_DEVICE walkers per CPU device from
AUTO_CHUNK_MIN_ELECTRONS electrons up (docs/performance.md, 'Walker chunks')."""


def walker_chunk(option, batch_size: int, n_electrons: int, devices) -> int:
    """The walkers per local-energy chunk (0: the whole batch) that hamiltonian.walker_chunk asks for.

    'auto' chunks where it was measured to pay: on CPUs (chunks of a batch that fits in cache; not
    measured on GPUs, which want the whole batch) with at least AUTO_CHUNK_MIN_ELECTRONS electrons
    (at 2 electrons chunks of 16 walkers cost 16-130 % more CPU time per step, at 16 and 54 electrons
    10-22 % less), and only when AUTO_CHUNK_WALKERS_PER_DEVICE per device divides the batch."""
    if option != "auto":
        return option
    chunk = AUTO_CHUNK_WALKERS_PER_DEVICE * len(devices)
    on_cpu = all(device.platform == "cpu" for device in devices)
    if on_cpu and n_electrons >= AUTO_CHUNK_MIN_ELECTRONS and batch_size > chunk and batch_size % chunk == 0:
        return chunk
    return 0


def available_bytes() -> int:
    """Sum of the memory limits the JAX devices report (GPU/TPU), else the machine's physical memory."""
    import jax

    limits = []
    for device in jax.devices():
        try:
            stats = device.memory_stats() or {}
        except Exception:  # CPU backends report nothing or raise, depending on the version
            stats = {}
        limits.append(int(stats.get("bytes_limit") or 0))
    if all(limits):
        return sum(limits)
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _format(n_bytes: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if n_bytes < 1000 or unit == "PB":
            return f"{n_bytes:.3g} {unit}"
        n_bytes /= 1000
    raise AssertionError("unreachable")


def count_particles(system_config) -> tuple[int, int | None]:
    """(nuclei, electrons or None for one per nucleus) of the configured cell, without building it."""
    if system_config.structure == "jellium":
        return 0, system_config.electrons
    from qsolid.system import load_cell

    _, fractional = load_cell(system_config)
    return len(fractional) * math.prod(system_config.supercell), None


def check(config, limit_bytes: int | None = None) -> None:
    """ConfigError naming system.supercell (one walker does not fit) or sampling.batch_size (the batch
    does not) when the lower bound exceeds the available memory; called before the system is built."""
    import jax

    n_nuclei, n_electrons = count_particles(config.system)
    limit = available_bytes() if limit_bytes is None else limit_bytes
    estimate = _estimate(config, n_nuclei, n_electrons)
    batch = config.sampling.batch_size
    chunk = walker_chunk(config.hamiltonian.walker_chunk, batch, n_electrons or n_nuclei, jax.devices())
    at_once = chunk if 0 < chunk < batch else batch
    one_walker = estimate.per_walker_bytes + estimate.walkers_bytes // batch
    if one_walker > limit:
        raise ConfigError(
            f"system.supercell: {n_nuclei} nuclei and {n_electrons or n_nuclei} electrons need at least {_format(one_walker)} per walker for the local "
            f"energy, more than the {_format(limit)} of memory available"
        )
    total = estimate.total_bytes(at_once)
    if total > limit:
        fits = max(1, (limit - estimate.walkers_bytes) // estimate.per_walker_bytes)
        measured = f"{batch} walkers" if at_once == batch else f"{batch} walkers in chunks of {at_once}"
        raise ConfigError(
            f"sampling.batch_size: {measured} need at least {_format(total)}, more than the {_format(limit)} of "
            f"memory available (at most ~{fits} walkers fit at once: fewer walkers, or hamiltonian.walker_chunk)"
        )
