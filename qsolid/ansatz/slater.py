"""The plane-wave Slater determinant: Psi = det[exp(i k_a . r_j)]_up det[exp(i k_a . r_j)]_down.

The orbitals are the plane waves of the occupied k-set of the twist t,
k = (m + t) @ B with m integer (qsolid.ansatz.electrons.occupied_kpoints: the
lowest |k| first, a partly filled shell completed by a fixed tie-break), so in
fractional coordinates k . r = 2 pi (m + t) . s. Each electron carries the
twist phase, Psi(r_i + a_k) = exp(2 pi i t_k) Psi, and the state has no
parameters. For jellium it is the Hartree-Fock ground state of the occupied
shells; its local kinetic energy is the constant sum_k |k|^2 / 2 (every orbital
is an eigenfunction of -Delta / 2), and its energy is the Hartree-Fock energy of
qsolid.jellium.
"""

import dataclasses

import jax.numpy as jnp
import numpy as np

from qsolid import features
from qsolid.ansatz.electrons import occupied_kpoints


@dataclasses.dataclass(frozen=True)
class SlaterSpec:
    n_up: int
    n_down: int
    k_up: np.ndarray
    """(n_up, 3) occupied k-points as m + t in reciprocal-lattice units."""
    k_down: np.ndarray

    is_complex = True


def make_spec(system) -> SlaterSpec:
    return SlaterSpec(
        n_up=system.n_up,
        n_down=system.n_down,
        k_up=occupied_kpoints(system.lattice, system.twist, system.n_up),
        k_down=occupied_kpoints(system.lattice, system.twist, system.n_down),
    )


def apply(spec: SlaterSpec, electrons):
    """(phase, log|Psi|) for one walker; electrons (n_e, 3) fractional, spin up first."""
    phase = jnp.zeros((), electrons.dtype)
    log_abs = jnp.zeros((), electrons.dtype)
    for kpoints, block in ((spec.k_up, electrons[: spec.n_up]), (spec.k_down, electrons[spec.n_up :])):
        if len(kpoints) == 0:
            continue
        matrix = jnp.exp(1j * features.TWO_PI * (jnp.asarray(kpoints, electrons.dtype) @ block.T))
        sign, log = jnp.linalg.slogdet(matrix)
        phase, log_abs = phase + jnp.angle(sign), log_abs + log
    return phase, log_abs
