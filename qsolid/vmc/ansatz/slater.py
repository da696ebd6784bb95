"""The plane-wave Slater determinant: Psi = det[exp(i k_a . r_j)]_up det[exp(i k_a . r_j)]_down.

The orbitals are the plane waves of the occupied k-set of the twist t,
k = (m + t) @ B with m integer, so in fractional coordinates
k . r = 2 pi (m + t) . s. Per spin, the lowest |k| are occupied; a partly
filled outermost shell is completed by the subset of its states with the lowest
exchange energy, -(2 pi / Omega) sum_{a != b} 1 / |k_a - k_b|^2 (the kinetic
energy is the same for every subset), i.e. the Hartree-Fock ground state among
the shell's determinants. Unlike a fixed tie-break this choice is covariant: a
symmetry operation of the lattice maps the best subset at t onto a best subset
at Rt, so the energy E(t) has the lattice's symmetry and a Monkhorst-Pack grid
reduced by it (qsolid.twists) averages it exactly. Shells with more than
MAX_SUBSETS subsets fall back to the fixed tie-break of
qsolid.vmc.ansatz.electrons.occupied_kpoints. Each electron carries the
twist phase, Psi(r_i + a_k) = exp(2 pi i t_k) Psi, and the state has no
parameters. A twist set stacks the k-sets of its twists, and each walker's
group index selects its row (qsolid.vmc.groups). For jellium it is the Hartree-Fock ground state of the occupied
shells; its local kinetic energy is the constant sum_k |k|^2 / 2 (every orbital
is an eigenfunction of -Delta / 2), and its energy is the Hartree-Fock energy of
qsolid.vmc.jellium.
"""

import dataclasses
import itertools
import math

import jax.numpy as jnp
import numpy as np

from qsolid.vmc import features
from qsolid import lattice as lat
from qsolid.vmc.ansatz.electrons import closed_and_outer_shell, occupied_kpoints


MAX_SUBSETS = 20000
"""Largest number of ways to fill an open shell that is searched for the lowest exchange energy."""


def _exchange_sum(k_cartesian) -> float:
    """sum_{a != b} 1 / |k_a - k_b|^2 (the exchange energy is -2 pi / Omega times this)."""
    difference = np.sum((k_cartesian[:, None, :] - k_cartesian[None, :, :]) ** 2, axis=-1)
    return float(np.sum(1.0 / difference[~np.eye(len(k_cartesian), dtype=bool)]))


def occupied_kpoints_lowest_exchange(lattice, twist, count: int) -> np.ndarray:
    """The `count` lowest-|k| points m + t, an open outer shell filled by its lowest-exchange subset."""
    if count == 0:
        return np.zeros((0, 3))
    closed, shell = closed_and_outer_shell(lattice, twist, count)
    needed = count - len(closed)
    if needed == len(shell) or math.comb(len(shell), needed) > MAX_SUBSETS:
        return occupied_kpoints(lattice, twist, count)
    reciprocal = lat.reciprocal(np.asarray(lattice, dtype=float))
    best = min(
        itertools.combinations(range(len(shell)), needed),
        key=lambda subset: _exchange_sum(np.concatenate([closed, shell[list(subset)]]) @ reciprocal),
    )
    return np.concatenate([closed, shell[list(best)]])


@dataclasses.dataclass(frozen=True)
class SlaterSpec:
    n_up: int
    n_down: int
    k_up: np.ndarray
    """(n_twists, n_up, 3) occupied k-points m + t of each twist of the set, in reciprocal-lattice units."""
    k_down: np.ndarray
    """(n_twists, n_down, 3)"""

    is_complex = True


def make_spec(system) -> SlaterSpec:
    return SlaterSpec(
        n_up=system.n_up,
        n_down=system.n_down,
        k_up=np.stack([occupied_kpoints_lowest_exchange(system.lattice, t, system.n_up) for t in system.twists]),
        k_down=np.stack([occupied_kpoints_lowest_exchange(system.lattice, t, system.n_down) for t in system.twists]),
    )


def apply(spec: SlaterSpec, electrons, group=0):
    """(phase, log|Psi|) for one walker of twist `group` (row of the stacked k-sets); electrons (n_e, 3)
    fractional, spin up first."""
    phase = jnp.zeros((), electrons.dtype)
    log_abs = jnp.zeros((), electrons.dtype)
    for stacked, block in ((spec.k_up, electrons[: spec.n_up]), (spec.k_down, electrons[spec.n_up :])):
        if stacked.shape[1] == 0:
            continue
        kpoints = jnp.take(jnp.asarray(stacked, electrons.dtype), group, axis=0)
        matrix = jnp.exp(1j * features.TWO_PI * (kpoints @ block.T))
        sign, log = jnp.linalg.slogdet(matrix)
        phase, log_abs = phase + jnp.angle(sign), log_abs + log
    return phase, log_abs
