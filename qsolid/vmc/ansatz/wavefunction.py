"""The total wavefunction Psi(r, R) = chi(R) phi(r, R) (seed 000, Eq. 2).

phi is the electronic network (Alg. 2), or with network.ansatz = 'slater' the
parameter-free plane-wave determinant (qsolid.vmc.ansatz.slater); chi the nuclear
one (Alg. 1, Eq. 3), present only when the nuclei are quantum. Parameters are a dict
{"electrons": ..., "nuclei": ...}; both are optimised together. Every walker
carries its group (its twist of the set, qsolid.vmc.groups), an input of phi. With
network.ansatz = 'mpnn' (qsolid.vmc.ansatz.mpnn) "electrons" holds the whole message-passing
network over electrons and protons and "nuclei" the R-only pair factor chi of its quantum nuclei.
Over a configuration set (qsolid.vmc.configurations) group g = c T + t has twist t: the spec's
per-twist rows are repeated for every configuration (`over_configurations`), so that row g is
twist t and the parameters do not depend on the set.
"""

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from qsolid.vmc.ansatz import electrons, mpnn, slater


@dataclasses.dataclass(frozen=True)
class NuclearNetwork:
    init: Callable
    """init(key) -> params of chi"""
    apply: Callable
    """apply(params, nuclei_frac) -> ln chi"""


@dataclasses.dataclass(frozen=True)
class Wavefunction:
    init: Callable
    """init(key) -> params"""
    apply_parts: Callable
    """apply_parts(params, electrons_frac, nuclei_frac, group=0, concatenated=False) -> (arg phi, ln|phi|, ln chi)
    for one walker of group (twist) `group`; concatenated=True evaluates phi's layers in the form KFAC
    registers (the same value, more work; only the 'neural' ansatz has two forms)."""
    electron_spec: electrons.ElectronAnsatzSpec | slater.SlaterSpec | mpnn.MpnnSpec

    def apply(self, params, electron_positions, nuclear_positions, group=0):
        """(phase, log|Psi|) for one walker of group `group`, in the form KFAC registers: the optimiser's loss calls it."""
        phase, log_phi, log_chi = self.apply_parts(params, electron_positions, nuclear_positions, group, concatenated=True)
        return phase, log_phi + log_chi

    def log_abs_batch(self, params, electrons_batch, nuclei_batch, groups):
        """log|Psi| for a batch of walkers, `groups` (batch,) their group indices."""

        def log_abs(electron_positions, nuclear_positions, group):
            _, log_phi, log_chi = self.apply_parts(params, electron_positions, nuclear_positions, group)
            return log_phi + log_chi

        return jax.vmap(log_abs)(electrons_batch, nuclei_batch, groups)


def over_configurations(spec, n_configurations: int):
    """The spec with its per-twist rows (k_up, k_down, twist, plane waves) repeated n_configurations times:
    row c T + t is twist t (the groups of a configuration set); unchanged for one configuration."""
    if n_configurations == 1:
        return spec
    per_twist = {"k_up", "k_down", "twist", "waves_up", "waves_down", "wave_mask_up", "wave_mask_down"}
    names = {field.name for field in dataclasses.fields(spec) if getattr(spec, field.name) is not None} & per_twist
    tiled = {name: np.tile(getattr(spec, name), (n_configurations,) + (1,) * (getattr(spec, name).ndim - 1)) for name in names}
    return dataclasses.replace(spec, **tiled)


def make_wavefunction(system, network_config, nuclear_network: NuclearNetwork | None = None, n_configurations: int = 1) -> Wavefunction:
    """Psi = phi (clamped nuclei) or chi * phi when a nuclear network is given ('mpnn' builds its own chi);
    n_configurations > 1: walker groups c T + t over a configuration set (module docstring)."""
    if getattr(network_config, "ansatz", "neural") == "slater":
        return _slater_wavefunction(system, n_configurations)
    if getattr(network_config, "ansatz", "neural") == "mpnn":
        return _mpnn_wavefunction(system, network_config, n_configurations)
    spec = over_configurations(electrons.make_spec(system, network_config), n_configurations)

    def init(key):
        electron_key, nuclear_key = jax.random.split(key)
        params = {"electrons": electrons.init(electron_key, spec)}
        if nuclear_network is not None:
            params["nuclei"] = nuclear_network.init(nuclear_key)
        return params

    def apply_parts(params, electron_positions, nuclear_positions, group=0, concatenated=False):
        phase, log_phi = electrons.apply(params["electrons"], spec, electron_positions, nuclear_positions, group, concatenated)
        if nuclear_network is None:
            return phase, log_phi, jnp.zeros((), log_phi.dtype)
        return phase, log_phi, nuclear_network.apply(params["nuclei"], nuclear_positions)

    return Wavefunction(init=init, apply_parts=apply_parts, electron_spec=spec)


def _slater_wavefunction(system, n_configurations: int = 1) -> Wavefunction:
    """The plane-wave determinant alone: no parameters (an empty electronic tree), no chi."""
    spec = over_configurations(slater.make_spec(system), n_configurations)

    def apply_parts(params, electron_positions, nuclear_positions, group=0, concatenated=False):
        phase, log_abs = slater.apply(spec, electron_positions, group)
        return phase, log_abs, jnp.zeros((), log_abs.dtype)

    return Wavefunction(init=lambda key: {"electrons": {}}, apply_parts=apply_parts, electron_spec=spec)


def _mpnn_wavefunction(system, network_config, n_configurations: int = 1) -> Wavefunction:
    """The message-passing network; with two or more quantum nuclei also its pair factor chi."""
    spec = over_configurations(mpnn.make_spec(system, network_config), n_configurations)
    has_chi = system.quantum_nuclei and system.n_nuclei > 1
    reference = np.asarray(system.nuclear_fractional)

    def init(key):
        params = {"electrons": mpnn.init(key, spec)}
        if has_chi:
            params["nuclei"] = mpnn.init_nuclear_pairs(spec, reference, network_config.nuclear_pair_width_bohr)
        return params

    def apply_parts(params, electron_positions, nuclear_positions, group=0, concatenated=False):
        phase, log_phi = mpnn.apply(params["electrons"], spec, electron_positions, nuclear_positions, group)
        if not has_chi:
            return phase, log_phi, jnp.zeros((), log_phi.dtype)
        return phase, log_phi, mpnn.log_chi(params["nuclei"], spec, nuclear_positions)

    return Wavefunction(init=init, apply_parts=apply_parts, electron_spec=spec)
