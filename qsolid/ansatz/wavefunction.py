"""The total wavefunction Psi(r, R) = chi(R) phi(r, R) (seed 000, Eq. 2).

With clamped nuclei chi is constant and Psi = phi. Parameters are a dict
{"electrons": ...} so that the nuclear network joins as {"nuclei": ...}.
"""

import dataclasses
from typing import Callable

import jax

from qsolid.ansatz import electrons


@dataclasses.dataclass(frozen=True)
class Wavefunction:
    init: Callable
    """init(key) -> params"""
    apply: Callable
    """apply(params, electrons_frac, nuclei_frac) -> (phase, log|Psi|) for one walker"""
    electron_spec: electrons.ElectronAnsatzSpec

    def log_abs_batch(self, params, electrons_batch, nuclei_batch):
        """log|Psi| for a batch of walkers."""
        return jax.vmap(lambda e, n: self.apply(params, e, n)[1])(electrons_batch, nuclei_batch)


def make_wavefunction(system, network_config) -> Wavefunction:
    spec = electrons.make_spec(system, network_config)

    def init(key):
        return {"electrons": electrons.init(key, spec)}

    def apply(params, electron_positions, nuclear_positions):
        return electrons.apply(params["electrons"], spec, electron_positions, nuclear_positions)

    return Wavefunction(init=init, apply=apply, electron_spec=spec)
