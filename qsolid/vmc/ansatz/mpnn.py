"""Message-passing wavefunction over electrons and protons on equal footing (seed 004).

network.ansatz = "mpnn", after Linteau, Moroni, Carleo & Holzmann (arXiv:2504.07062): one
graph network over all particles feeds backflow plane-wave orbitals, a Jastrow factor and
the electron-proton correlations. For one walker with fractional coordinates s_a:

1. Graph. The nodes are all N = n_e + n_n particles, electrons first (up, then down), then
   the nuclei, which are nodes whether they are quantum or clamped (clamped, their fixed
   positions enter through differences only). Node inputs are the species,
   h_a^0 = (1[a up], 1[a down], Z_a) with Z = 0 for electrons. Edge inputs, for every ordered
   pair, are periodic and smooth functions of the difference alone, w = 2 pi (s_a - s_b):
       g_ab = { sum_k sin(w_k) a_k / 2 pi,  sum_k cos(w_k) a_k / 2 pi,  d(w)^2 },
   the features of Eqs. S1-S2 (qsolid.vmc.features) with d replaced by d^2. No input has a
   cusp, so the cusps of Psi are exactly those of the Jastrow factor (item 4).
2. T = mpnn_rounds rounds of edge and node updates (MLP messages), t = 1..T, from e^0 = g:
       e_ab^t = tanh(E^t e_ab^{t-1} + S^t h_a^{t-1} + R^t h_b^{t-1} + c^t)           (+ e_ab^{t-1} for t > 1),
   (in round 1, S^1 h_a^0 and R^1 h_b^0 are learned embeddings of the species of a and b),
       h_a^t  = tanh(V^t [h_a^{t-1}, <e_ab^t>_up, <e_ab^t>_down, <e_ab^t>_nuclei] + v^t)  (+ h_a^{t-1} for t > 1),
   <>_X the mean over the particles b of species X (self-edges included; they are constants
   of h_a). Shared weights and species means make the network equivariant under permutations
   of same-species particles.
3. Orbitals. Electron j's backflow coordinate for determinant n (fractional) is
       x_j^n = s_j + sum_b (beta^n . e_jb^T) sin(2 pi (s_j - s_b)) / 2 pi,
   with the same periodicity and translation invariance as the edges; the orbitals are
   twisted plane waves with a learned amplitude,
       phi^n_kj = exp(2 pi i k . x_j^n) (1 + A^n_k . h_j^T),
   over the occupied k = m + t of the twist t (the lowest-exchange filling of
   qsolid.vmc.ansatz.slater), and phi = sum_n det[phi^n_up] det[phi^n_down]. With beta = 0
   (its initial value) and A = 0 they are the plane-wave determinant of qsolid.vmc.ansatz.slater.
   network.mpnn_backflow = false switches both off: one determinant of the bare plane waves
   exp(2 pi i k . s_j), whose nodes are then fixed (for jellium those of the Hartree-Fock state),
   and the graph acts only through the symmetric factor of item 4.
4. ln|phi| gains the Jastrow factor and the graph readout,
       J = -sum_{i<j} c alpha^2 / (alpha + d_ij) + sum_{i,I} Z_I gamma^2 / (gamma + d_iI)
           + sum_i w_e . h_i^T + sum_I w_n . h_I^T,
   c = 1/4 (parallel) or 1/2 (antiparallel) as in qsolid.vmc.ansatz.electrons. The
   electron-nucleus term has slope -Z_I at d_iI = 0 and the electron pair terms slope c: the
   Kato cusps of clamped nuclei, exactly. gamma starts at half the mean distance between
   nuclei, alpha at 1 bohr; the readout w_e, w_n starts at zero, so the network starts from a
   Slater-Jastrow state.

Quantum nuclei. The proton nodes take part in every round, so phi(r, R) carries the
electron-proton and proton-proton correlations through one network. The Hamiltonian
(qsolid.vmc.hamiltonian) takes the electronic kinetic energy from phase and ln|phi| alone,
so everything that depends on r, the proton readout included, belongs to phi; chi is the
R-only pair factor of Eq. 3 (qsolid.vmc.ansatz.nuclei without its stream),
       ln chi = - sum_{I<J} sigma_IJ^2 (d_IJ - b_IJ)^2,
with b_IJ the starting pair distances, which holds the crystal together. Hence the
K_BO / K_nonBO split of Eq. S7 reported by the evaluation is that of this chi. Protons are
identical in the network (|phi| is symmetric under their exchange) but labelled by b, sigma
and the phase below, i.e. treated as distinguishable, as in qsolid.vmc.ansatz.nuclei.

Jellium (no nuclei): the graph has electron nodes only and J no electron-nucleus term. With
mpnn_backflow = false and jastrow = false the readout, zero at the start, is the only factor
besides the determinant, so the untrained network is the plane-wave determinant and its energy
the Hartree-Fock energy of qsolid.vmc.jellium.

Twist and translations: the boundary condition of qsolid.vmc.ansatz.electrons. With k_a =
m_a + t, a common translation u of all particles leaves x_j - s_j and h unchanged and
multiplies phi by exp(2 pi i (M + N_e t) . u), M = sum_a m_a; so

    phi -> phi exp(-2 pi i M . S_1) exp(-2 pi i t . sum_I Z_I S_I),

and in a neutral cell (i) a joint translation of all particles leaves Psi unchanged,
(ii) Psi(s_i + e_k) = exp(2 pi i t_k) Psi for every electron, (iii) Psi(S_I + e_k) =
exp(-2 pi i Z_I t_k) Psi for every nucleus; |Psi|^2 is periodic in every coordinate.
Jellium (no nuclei) keeps the plane waves' total momentum (no correction).

The occupied k-sets of every twist of the set are stacked in the spec; `apply` takes the rows of
the walker's group (qsolid.vmc.groups) and passes them to the functions that build the orbitals
and the phase; the
wavefunction is complex unless every occupied k is zero.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from qsolid.vmc import features
from qsolid.vmc.ansatz.electrons import PlaneWaveSpec, electron_pair_jastrow, sum_of_determinants
from qsolid.vmc.ansatz.slater import occupied_kpoints_lowest_exchange
from qsolid import dense

AMPLITUDE_INIT_SCALE = 0.1
"""Initial weights of the amplitudes A, relative to 1/sqrt(fan-in): small enough to start near the
plane-wave determinant, non-zero so that the determinants differ (equal ones would stay equal)."""


@dataclasses.dataclass(frozen=True)
class MpnnSpec(PlaneWaveSpec):
    """Static description the network is built for."""

    twist: np.ndarray
    """(n_twists, 3)"""
    nuclear_charges: np.ndarray
    """(n_nuclei,) Z_I."""
    node_width: int
    edge_width: int
    rounds: int
    determinants: int
    jastrow: bool
    backflow: bool = True
    """False: the orbitals are the bare plane waves (no backflow shift, no amplitude), one determinant."""
    screening_length_bohr: float = 1.0
    """Initial gamma of the electron-nucleus Jastrow term."""

    @property
    def n_electrons(self) -> int:
        return self.n_up + self.n_down

    @property
    def species_groups(self) -> list[tuple[int, int]]:
        """Node index ranges of the non-empty species: up electrons, down electrons, nuclei."""
        bounds = [(0, self.n_up), (self.n_up, self.n_electrons), (self.n_electrons, self.n_electrons + self.n_nuclei)]
        return [(lo, hi) for lo, hi in bounds if hi > lo]

    @property
    def spin_groups(self) -> list[tuple[int, int]]:
        """Electron index ranges of the two spins (possibly empty), up first."""
        return [(0, self.n_up), (self.n_up, self.n_electrons)]

    def node_species(self) -> np.ndarray:
        """(N, 3) node inputs h^0 = (1[up], 1[down], Z)."""
        species = np.zeros((self.n_electrons + self.n_nuclei, 3))
        species[: self.n_up, 0] = 1.0
        species[self.n_up : self.n_electrons, 1] = 1.0
        species[self.n_electrons :, 2] = self.nuclear_charges
        return species

    @property
    def nuclear_species(self) -> np.ndarray:
        """The distinct nuclear charges, sorted."""
        return np.unique(self.nuclear_charges)

    def species_index(self) -> np.ndarray:
        """(N,) species of each node: 0 up, 1 down, 2 + the index of its charge in nuclear_species."""
        nuclear = 2 + np.searchsorted(self.nuclear_species, self.nuclear_charges)
        return np.concatenate([np.zeros(self.n_up, int), np.ones(self.n_down, int), nuclear])


def make_spec(system, network) -> MpnnSpec:
    return MpnnSpec(
        n_up=system.n_up,
        n_down=system.n_down,
        n_nuclei=system.n_nuclei,
        feature_lattice=np.asarray(system.lattice, dtype=float),
        k_up=np.stack([occupied_kpoints_lowest_exchange(system.lattice, t, system.n_up) for t in system.twists]),
        k_down=np.stack([occupied_kpoints_lowest_exchange(system.lattice, t, system.n_down) for t in system.twists]),
        twist=np.asarray(system.twists, dtype=float).reshape(-1, 3),
        nuclear_charges=np.asarray(system.nuclear_charges, dtype=float),
        node_width=network.mpnn_node_width,
        edge_width=network.mpnn_edge_width,
        rounds=network.mpnn_rounds,
        determinants=network.determinants,
        jastrow=network.jastrow,
        backflow=network.mpnn_backflow,
        screening_length_bohr=_screening_length_bohr(system),
    )


def _screening_length_bohr(system) -> float:
    """Half the mean distance between nuclei, (Omega / n_n)^(1/3) / 2: gamma^2 / (gamma + d) ~ gamma - d,
    the hydrogenic exp(-Z d), out to about gamma, i.e. around each nucleus in a crystal and over the
    whole atom or molecule in a large box."""
    if system.n_nuclei == 0:
        return 1.0
    return 0.5 * float(abs(np.linalg.det(np.asarray(system.lattice))) / system.n_nuclei) ** (1 / 3)


def init(key, spec: MpnnSpec):
    """Parameters of phi: message-passing rounds, orbital heads, readout, Jastrow."""
    keys = iter(jax.random.split(key, 4 * spec.rounds + 4))
    groups = len(spec.species_groups)
    rounds = []
    node_in, edge_in = 3, 7
    n_species = 2 + len(spec.nuclear_species)
    for _ in range(spec.rounds):
        # Round 1 sees the species through embedding tables S^1 = S(species_a), R^1 = R(species_b).
        rows = n_species if not rounds else spec.node_width
        rounds.append(
            {
                "edge": dense.init(next(keys), edge_in, spec.edge_width),
                "own": dense.init(next(keys), rows, spec.edge_width, bias=False),
                "other": dense.init(next(keys), rows, spec.edge_width, bias=False),
                "node": dense.init(next(keys), node_in + groups * spec.edge_width, spec.node_width),
            }
        )
        node_in, edge_in = spec.node_width, spec.edge_width
    params = {"rounds": rounds, "readout": {"electrons": {"w": jnp.zeros((spec.node_width, 1))}}}
    if spec.backflow:
        amplitude = {}
        for spin, (lo, hi) in zip(("up", "down"), spec.spin_groups):
            if hi == lo:
                continue
            outputs = spec.determinants * (hi - lo)
            parts = ("real", "imag") if spec.is_complex else ("real",)
            amplitude[spin] = {
                part: dense.init(next(keys), spec.node_width, outputs, bias=False, scale=AMPLITUDE_INIT_SCALE)
                for part in parts
            }
        params["amplitude"] = amplitude
        params["backflow"] = {"w": jnp.zeros((spec.edge_width, spec.determinants))}
    if spec.n_nuclei:
        params["readout"]["nuclei"] = {"w": jnp.zeros((spec.node_width, 1))}
    if spec.jastrow:
        params["jastrow"] = {"log_alpha_parallel": jnp.zeros(()), "log_alpha_antiparallel": jnp.zeros(())}
        if spec.n_nuclei:
            params["jastrow"]["log_gamma"] = jnp.asarray(np.log(spec.screening_length_bohr))
    return params


def _edge_inputs(spec: MpnnSpec, positions):
    """Smooth periodic edge inputs g_ab (N, N, 7), periodic distances d_ab (N, N), fractional differences."""
    difference = positions[:, None, :] - positions[None, :, :]
    self_pairs = np.eye(positions.shape[0], dtype=positions.dtype)  # d = 0 with zero derivatives there
    pair, distance = features.pair_features(difference, jnp.asarray(spec.feature_lattice, positions.dtype), self_pairs)
    return jnp.concatenate([pair[..., :6], distance[..., None] ** 2], axis=-1), distance, difference


def _message_passing(params, spec: MpnnSpec, edges):
    """The rounds of item 2: final node states (N, node_width) and edge states (N, N, edge_width)."""
    nodes = jnp.asarray(spec.node_species(), edges.dtype)
    species = spec.species_index()
    for t, layer in enumerate(params["rounds"]):
        if t == 0:
            # The species inputs are constants, not per-walker activations: a lookup, not a dense layer
            # (kfac-jax's dense blocks expect walker-batched inputs).
            own, other = layer["own"]["w"][species], layer["other"]["w"][species]
        else:
            own, other = dense.apply(layer["own"], nodes), dense.apply(layer["other"], nodes)
        update = jnp.tanh(dense.apply(layer["edge"], edges) + own[:, None, :] + other[None, :, :])
        edges = update if t == 0 else edges + update
        means = [jnp.mean(edges[:, lo:hi], axis=1) for lo, hi in spec.species_groups]
        update = jnp.tanh(dense.apply(layer["node"], jnp.concatenate([nodes, *means], axis=-1)))
        nodes = update if t == 0 else nodes + update
    return nodes, edges


def _plane_wave_matrices(spec: MpnnSpec, electrons, k_up, k_down):
    """Per spin: (1, orbital, electron) bare plane waves exp(2 pi i k . s_j) (mpnn_backflow = false)."""
    matrices = []
    for (lo, hi), kpoints in zip(spec.spin_groups, (k_up, k_down)):
        if hi == lo:
            continue
        if spec.is_complex:
            matrices.append(jnp.exp(1j * features.TWO_PI * (kpoints @ electrons[lo:hi].T))[None])
        else:  # every k is zero
            matrices.append(jnp.ones((1, hi - lo, hi - lo), electrons.dtype))
    return matrices


def _orbital_matrices(params, spec: MpnnSpec, nodes, edges, electrons, difference, k_up, k_down):
    """Per spin: (n_det, orbital, electron) backflow plane-wave orbitals (item 3)."""
    if not spec.backflow:
        return _plane_wave_matrices(spec, electrons, k_up, k_down)
    n_e = spec.n_electrons
    weights = dense.apply(params["backflow"], edges[:n_e])  # (n_e, N, n_det)
    periodic_difference = jnp.sin(features.TWO_PI * difference[:n_e]) / features.TWO_PI
    backflow = electrons[None] + jnp.einsum("jbn,jbk->njk", weights, periodic_difference)  # (n_det, n_e, 3)
    matrices = []
    for (lo, hi), spin, kpoints in zip(spec.spin_groups, ("up", "down"), (k_up, k_down)):
        count = hi - lo
        if count == 0:
            continue
        heads = params["amplitude"][spin]
        amplitude = dense.apply(heads["real"], nodes[lo:hi])
        if spec.is_complex:
            amplitude = amplitude + 1j * dense.apply(heads["imag"], nodes[lo:hi])
        amplitude = 1.0 + amplitude.reshape(count, spec.determinants, count).transpose(1, 2, 0)  # (det, orbital, electron)
        if spec.is_complex:
            plane_waves = jnp.exp(1j * features.TWO_PI * jnp.einsum("ok,nek->noe", kpoints, backflow[:, lo:hi]))
            matrices.append(amplitude * plane_waves)
        else:  # every k is zero: the plane waves are 1
            matrices.append(amplitude)
    return matrices


def _translation_phase(spec: MpnnSpec, nuclei, k_up, k_down, twist):
    """2 pi (M . S_1 + t . sum_I Z_I S_I) (module docstring): makes Psi invariant under joint translations."""
    integer_part = jnp.round(jnp.sum(k_up, axis=0) + jnp.sum(k_down, axis=0) - spec.n_electrons * twist)
    weighted = jnp.einsum("i,ik->k", jnp.asarray(spec.nuclear_charges, nuclei.dtype), nuclei)
    return features.TWO_PI * (jnp.dot(integer_part, nuclei[0]) + jnp.dot(twist, weighted))


def _jastrow(params, spec: MpnnSpec, distance):
    """Electron-pair cusp terms (as qsolid.vmc.ansatz.electrons) plus sum_{i,I} Z_I gamma^2 / (gamma + d_iI)."""
    n_e = spec.n_electrons
    value = electron_pair_jastrow(params, spec, distance[:n_e, :n_e])
    if spec.n_nuclei:
        gamma = jnp.exp(params["jastrow"]["log_gamma"])
        terms = gamma**2 / (gamma + distance[:n_e, n_e:])
        value = value + jnp.einsum("iI,I->", terms, jnp.asarray(spec.nuclear_charges, distance.dtype))
    return value


def _graph(params, spec: MpnnSpec, electrons, nuclei):
    edge_inputs, distance, difference = _edge_inputs(spec, jnp.concatenate([electrons, nuclei], axis=0))
    nodes, edges = _message_passing(params, spec, edge_inputs)
    return nodes, edges, distance, difference


def _readout(params, spec: MpnnSpec, nodes):
    """sum_i w_e . h_i + sum_I w_n . h_I (item 4)."""
    value = jnp.sum(dense.apply(params["readout"]["electrons"], nodes[: spec.n_electrons]))
    if spec.n_nuclei:
        value = value + jnp.sum(dense.apply(params["readout"]["nuclei"], nodes[spec.n_electrons :]))
    return value


def _twist_inputs(spec: MpnnSpec, group, dtype):
    """(k_up, k_down, twist) of walker group `group` (an integer, traced or not): rows of the stacked sets."""
    return tuple(jnp.take(jnp.asarray(x, dtype), group, axis=0) for x in (spec.k_up, spec.k_down, spec.twist))


def orbitals(params, spec: MpnnSpec, electrons, nuclei, group=0):
    """Orbital matrices per spin, (n_det, orbital, electron), and the periodic distances, for one walker."""
    k_up, k_down, _ = _twist_inputs(spec, group, electrons.dtype)
    nodes, edges, distance, difference = _graph(params, spec, electrons, nuclei)
    return _orbital_matrices(params, spec, nodes, edges, electrons, difference, k_up, k_down), distance


def apply(params, spec: MpnnSpec, electrons, nuclei, group=0):
    """(phase, log|phi|) for one walker of twist `group`; electrons (n_e, 3) and nuclei (n_n, 3) fractional."""
    k_up, k_down, twist = _twist_inputs(spec, group, electrons.dtype)
    nodes, edges, distance, difference = _graph(params, spec, electrons, nuclei)
    matrices = _orbital_matrices(params, spec, nodes, edges, electrons, difference, k_up, k_down)
    phase, log_abs = sum_of_determinants(matrices)
    if spec.is_complex and spec.n_nuclei:
        phase = phase - _translation_phase(spec, nuclei, k_up, k_down, twist)
    log_abs = log_abs + _readout(params, spec, nodes)
    if spec.jastrow:
        log_abs = log_abs + _jastrow(params, spec, distance)
    return phase, log_abs


def _nuclear_pair_distances(spec: MpnnSpec, nuclei):
    """Periodic distances d_IJ of the pairs I < J."""
    first, second = np.triu_indices(spec.n_nuclei, k=1)
    return features.pair_features(nuclei[first] - nuclei[second], jnp.asarray(spec.feature_lattice, nuclei.dtype))[1]


def init_nuclear_pairs(spec: MpnnSpec, reference_nuclei, pair_width_bohr: float):
    """b_IJ = the pair distances of the starting structure, sigma_IJ = 1 / (2 pair_width_bohr) (Eq. 3)."""
    distances = _nuclear_pair_distances(spec, jnp.asarray(reference_nuclei))
    return {"b": distances, "sigma": jnp.full(distances.shape, 0.5 / pair_width_bohr, distances.dtype)}


def log_chi(params, spec: MpnnSpec, nuclei):
    """ln chi(R) = - sum_{I<J} sigma_IJ^2 (d_IJ - b_IJ)^2 for one walker."""
    deviation = _nuclear_pair_distances(spec, nuclei) - params["b"]
    return -jnp.einsum("p,p->", params["sigma"] ** 2, deviation**2)
