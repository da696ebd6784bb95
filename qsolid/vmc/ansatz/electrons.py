"""DeepSolid-style electronic wavefunction phi(r, R) of seed 000, Alg. 2 and Eq. 4.

For one walker with electron and nuclear fractional coordinates:
1. Pair features h_iI (electron-nucleus) and h_ij (electron-electron), Eqs. S1-S2.
2. Interaction layers (Alg. 2, lines 15-25). The one-electron stream starts
   from the concatenated h_iI; each layer forms
   f_i = [h_i, <h_j>_up, <h_j>_down, <h_ij>_j in up, <h_ij>_j in down]
   and updates h_i <- tanh(V f_i + b) (+ h_i when the widths agree) and
   h_ij <- tanh(W h_ij + c) (+ h_ij).
3. Orbitals (lines 26-31): phi^a_kj = exp(i k_k . r_j) u_k(h_j) env_kj with
   u = Orb^Re h_j + i Orb^Im h_j, the plane-wave phase over the occupied
   k-points of the simulation cell (in fractional coordinates
   k . r = 2 pi (m + t) . s, independent of the cell), and the envelope
   env_kj = sum_I pi_kI exp(-sigma_kI d(r_j - R_I)).
4. phi = sum_det det[phi^up] det[phi^down] (Eq. 4 with several determinants),
   times an optional electron-electron Jastrow factor exp(J) with
   J = -sum_{i<j} c alpha^2 / (alpha + d_ij), c = 1/4 (parallel) or 1/2
   (antiparallel), which gives the Kato cusps exactly (d -> r at short range).

Open shells. When N_sigma falls inside a shell of equal |k| (1 of the 4
points of the fourth shell at the Baldereschi point of bcc16), a tie-break
picks which plane waves are occupied, but the Hartree-Fock orbitals of the
crystal mix the whole shell, and a periodic u_k(h_j) is a poor way to turn
one plane wave into another. With network.open_shells = 'combined' (the
default) each orbital of the partly filled shell combines them all,
phi^a_kj = env_kj sum_b u_kb(h_j) exp(i k_b . r_j), b over the shell, and
the orbitals of the closed shells below keep their one plane wave (B = 1).

Translation invariance and the twist. Write every plane wave as m + t (m
integer, t the twist, reciprocal units) and measure its integer part from
the first nucleus, exp(i k . r_j) -> exp(i k . r_j - i m . R_1). A common
translation u of all particles then multiplies every plane wave, whichever
combination an orbital makes of them, by exp(i k_t . u), and phi by
exp(i N_e k_t . u); we remove that with the nuclear coordinates,

    phi -> phi exp(-i k_t . sum_I Z_I R_I),

so that Psi = exp(i k_t . (sum_i r_i - sum_I Z_I R_I)) x (a function periodic in
every coordinate and invariant under joint translations). Then, in a neutral
cell (sum_I Z_I = N_e): (i) a joint translation of all particles leaves Psi
unchanged; (ii) each electron carries the twist phase,
Psi(r_i + a_k) = exp(2 pi i t_k) Psi; (iii) each nucleus carries the opposite,
charge-weighted phase, Psi(R_I + a_k) = exp(-2 pi i Z_I t_k) Psi. This is the
twist of a uniform vector potential coupling to charge (flux through the
cell), which is what makes twists compatible with quantum nuclei; |Psi|^2 stays
periodic in every coordinate. m is a reciprocal-lattice vector, so exp(-i m . R_1)
is periodic in R_1. With one plane wave per orbital the R_1 phases multiply to
exp(-i M . R_1), M = sum_a m_a (not zero for a partly filled shell). For clamped
nuclei all these factors are constant phases.

One network for a twist set. The spec stacks the occupied k-sets of all
twists of the set, (n_twists, n_sigma, 3), and the twists, (n_twists, 3); each
walker carries the index t of its twist (qsolid.vmc.groups), and `apply`
takes row t of each (jnp.take, so t may be a traced per-walker value under
vmap). The twist enters through the plane-wave phases exp(i k . r) and the
compensating phase above; the streams, envelopes and Jastrow are shared by all
twists. With the twist input (network.twist_input: by default on for a twist
set, off for a single twist) the streams also see the twist,
(sin 2 pi t, cos 2 pi t) appended to every electron's input, so that the
periodic part of the orbitals can differ between twists; without it a spec
with one twist is exactly the single-twist network. The orbital maps Orb are
shared too, or (network.twist_orbitals = 'per_twist') each twist has its own,
u_k = Orb_t h_j: the periodic parts of the occupied Bloch orbitals change most
from twist to twist, and a separate last layer lets them differ at the cost of
one small matrix per twist.

Returns (phase, log|phi|); the wavefunction is real (phase 0 or pi) when every
occupied k-point is Gamma and the twist is zero, complex otherwise.
"""

import dataclasses
import itertools

import jax
import jax.numpy as jnp
import numpy as np

from qsolid.vmc import features
from qsolid import lattice as lat
from qsolid import dense


@dataclasses.dataclass(frozen=True)
class PlaneWaveSpec:
    """What every network over periodic features with twisted plane-wave orbitals is built for."""

    n_up: int
    n_down: int
    n_nuclei: int
    feature_lattice: np.ndarray
    k_up: np.ndarray
    """(n_twists, n_up, 3) occupied k-points m + t of each twist of the set, in reciprocal-lattice units."""
    k_down: np.ndarray
    """(n_twists, n_down, 3)"""

    @property
    def is_complex(self) -> bool:
        return bool(np.any(self.k_up != 0) or np.any(self.k_down != 0))


@dataclasses.dataclass(frozen=True)
class ElectronAnsatzSpec(PlaneWaveSpec):
    """Static description the network is built for."""

    one_electron_width: int
    two_electron_width: int
    layers: int
    determinants: int
    jastrow: bool
    twist: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((1, 3)))
    """(n_twists, 3) the twists t (reciprocal units); row t is shared by k_up[t] and k_down[t]."""
    nuclear_charges: np.ndarray | None = None
    """(n_nuclei,) Z_I of the compensating twist phase; None: all 1."""
    twist_input: bool = False
    """Append (sin 2 pi t, cos 2 pi t) of the walker's twist to every electron's input stream."""
    per_twist_orbitals: bool = False
    """Each twist its own orbital maps Orb^Re, Orb^Im (module docstring)."""
    waves_up: np.ndarray | None = None
    """(n_twists, n_up, B, 3) the plane waves m + t each orbital combines (make_spec; None: k_up, B = 1)."""
    waves_down: np.ndarray | None = None
    """(n_twists, n_down, B, 3)"""
    wave_mask_up: np.ndarray | None = None
    """(n_twists, n_up, B) 1 for the plane waves an orbital uses, 0 for padding."""
    wave_mask_down: np.ndarray | None = None
    """(n_twists, n_down, B)"""

    @property
    def orbital_maps(self) -> int:
        """How many sets of orbital maps the network has: one per twist, or one for all."""
        return len(self.twist) if self.per_twist_orbitals else 1

    @property
    def plane_waves(self) -> tuple:
        """((waves, mask) up, (waves, mask) down), stacked over twists: the plane waves each orbital combines."""
        def one(waves, mask, k):
            return (k[:, :, None, :], np.ones(k.shape[:2] + (1,))) if waves is None else (waves, mask)
        return one(self.waves_up, self.wave_mask_up, self.k_up), one(self.waves_down, self.wave_mask_down, self.k_down)

    @property
    def waves_per_orbital(self) -> int:
        """B: how many plane waves one orbital combines (1 unless an open shell is combined)."""
        return self.plane_waves[0][0].shape[2]

    @property
    def open_orbitals(self) -> tuple[int, int]:
        """Per spin, how many of the last orbitals combine more than one plane wave at some twist."""
        return tuple(int(np.max(np.sum(np.sum(mask, axis=-1) > 1, axis=-1), initial=0)) for _, mask in self.plane_waves)

    def orbital_outputs(self, spin: int) -> int:
        """Columns of u per map and determinant: one per orbital, plus B - 1 per open orbital."""
        count = (self.n_up, self.n_down)[spin]
        return count + self.open_orbitals[spin] * (self.waves_per_orbital - 1)


def twist_inputs(spec, group):
    """((waves, mask) up, (waves, mask) down, twist) of walker group `group` (an integer, traced or not):
    the rows of the stacked sets the wavefunction of that twist is built from."""
    take = lambda stacked: jnp.take(jnp.asarray(stacked), group, axis=0)
    (waves_up, mask_up), (waves_down, mask_down) = spec.plane_waves
    return (take(waves_up), take(mask_up)), (take(waves_down), take(mask_down)), take(spec.twist)


def occupied_kpoints(lattice, twist, count: int) -> np.ndarray:
    """The `count` lowest-|k| points m + t (m integer) of the simulation cell, in reciprocal units.

    Ties within a shell are broken deterministically (by m in lexicographic
    order), so a partly filled shell gives the same orbital set every run.
    """
    if count == 0:
        return np.zeros((0, 3))
    radius = int(np.ceil(count ** (1 / 3))) + 2
    candidates = np.array(list(itertools.product(range(-radius, radius + 1), repeat=3)), dtype=float)
    k = candidates + np.asarray(twist, dtype=float)
    norms = np.round(np.sum((k @ lat.reciprocal(np.asarray(lattice))) ** 2, axis=1), 10)
    order = np.lexsort((candidates[:, 2], candidates[:, 1], candidates[:, 0], norms))
    return k[order[:count]]


def closed_and_outer_shell(lattice, twist, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(closed, shell): the points m + t of the shells below the `count`-th lowest |k|, and all points of
    the shell it falls in (count >= 1). The shell is full when len(closed) + len(shell) == count."""
    reciprocal = lat.reciprocal(np.asarray(lattice, dtype=float))
    extra = 64
    while True:  # enough candidates to hold the whole outer shell
        ranked = occupied_kpoints(lattice, twist, count + extra)
        norms = np.round(np.sum((ranked @ reciprocal) ** 2, axis=1), 8)
        if norms[-1] != norms[count - 1]:
            break
        extra *= 2
    outer = norms[count - 1]
    return ranked[norms < outer], ranked[norms == outer]


def orbital_plane_waves(lattice, twist, count: int, combine_open_shell: bool) -> tuple[np.ndarray, np.ndarray]:
    """(count, B, 3) the plane waves m + t of each orbital and (count, B) the mask of those it uses.

    Orbital a is the single plane wave k_a of occupied_kpoints (B = 1), or, with combine_open_shell, an
    orbital of a partly filled outer shell combines every plane wave of that shell (module docstring)."""
    occupied = occupied_kpoints(lattice, twist, count)
    if count == 0 or not combine_open_shell:
        return occupied[:, None, :], np.ones((count, 1))
    closed, shell = closed_and_outer_shell(lattice, twist, count)
    if len(closed) + len(shell) == count:
        return occupied[:, None, :], np.ones((count, 1))
    waves = np.broadcast_to(np.asarray(twist, dtype=float), (count, len(shell), 3)).copy()
    mask = np.zeros((count, len(shell)))
    waves[: len(closed), 0], mask[: len(closed), 0] = closed, 1.0
    waves[len(closed) :], mask[len(closed) :] = shell, 1.0
    return waves, mask


def has_open_shell(system) -> bool:
    """Whether N_up or N_down ends inside a plane-wave shell at some twist of the system's set."""
    return any(
        orbital_plane_waves(system.lattice, twist, count, combine_open_shell=True)[0].shape[1] > 1
        for twist in system.twists
        for count in (system.n_up, system.n_down)
    )


def _padded(pairs, width):
    """Stack (waves, mask) pairs, padding the plane-wave axis to `width` with masked copies of the twist."""
    waves = np.stack([np.concatenate([w, np.repeat(w[:, :1], width - w.shape[1], axis=1)], axis=1) for w, _ in pairs])
    mask = np.stack([np.pad(m, ((0, 0), (0, width - m.shape[1]))) for _, m in pairs])
    return waves, mask


def make_spec(system, network) -> ElectronAnsatzSpec:
    """The spec for every twist of the system's set (walker group t has twist system.twists[t])."""
    combine = network.open_shells == "combined"
    per_spin = [
        [orbital_plane_waves(system.lattice, twist, count, combine) for twist in system.twists]
        for count in (system.n_up, system.n_down)
    ]
    width = max(waves.shape[1] for spin in per_spin for waves, _ in spin)
    (waves_up, mask_up), (waves_down, mask_down) = (_padded(spin, width) for spin in per_spin)
    return ElectronAnsatzSpec(
        n_up=system.n_up,
        n_down=system.n_down,
        n_nuclei=system.n_nuclei,
        feature_lattice=np.asarray(system.lattice),
        k_up=np.stack([occupied_kpoints(system.lattice, twist, system.n_up) for twist in system.twists]),
        k_down=np.stack([occupied_kpoints(system.lattice, twist, system.n_down) for twist in system.twists]),
        one_electron_width=network.one_electron_width,
        two_electron_width=network.two_electron_width,
        layers=network.layers,
        determinants=network.determinants,
        jastrow=network.jastrow,
        twist=np.asarray(system.twists, dtype=float).reshape(-1, 3),
        nuclear_charges=np.asarray(system.nuclear_charges, dtype=float),
        twist_input=network.twist_input == "on" or (network.twist_input == "auto" and len(system.twists) > 1),
        per_twist_orbitals=network.twist_orbitals == "per_twist",
        waves_up=waves_up,
        waves_down=waves_down,
        wave_mask_up=mask_up,
        wave_mask_down=mask_down,
    )


def _spin_groups(spec):
    return [(0, spec.n_up), (spec.n_up, spec.n_up + spec.n_down)]


def _one_electron_input_width(spec, width, first):
    groups = sum(1 for lo, hi in _spin_groups(spec) if hi > lo)
    one = 7 * spec.n_nuclei + (TWIST_FEATURES if spec.twist_input else 0) if first else width
    two = 7 if first else spec.two_electron_width
    return one * (1 + groups) + two * groups


def init(key, spec: ElectronAnsatzSpec):
    """Parameters of phi: interaction layers, orbital maps, envelopes, Jastrow."""
    keys = iter(jax.random.split(key, 4 * spec.layers + 8))
    layers = []
    for layer in range(spec.layers):
        first = layer == 0
        entry = {
            "one": dense.init(
                next(keys), _one_electron_input_width(spec, spec.one_electron_width, first), spec.one_electron_width
            )
        }
        if layer < spec.layers - 1:
            entry["two"] = dense.init(next(keys), 7 if first else spec.two_electron_width, spec.two_electron_width)
        layers.append(entry)
    params = {"layers": layers, "orbitals": {}, "envelope": {}}
    for spin, count in (("up", spec.n_up), ("down", spec.n_down)):
        if count == 0:
            continue
        outputs = spec.orbital_maps * spec.determinants * spec.orbital_outputs(0 if spin == "up" else 1)
        params["orbitals"][spin] = {"real": dense.init(next(keys), spec.one_electron_width, outputs, bias=False)}
        if spec.is_complex:
            params["orbitals"][spin]["imag"] = dense.init(
                next(keys), spec.one_electron_width, outputs, bias=False
            )
        shape = (spec.determinants, count, spec.n_nuclei)
        params["envelope"][spin] = {"pi": jnp.ones(shape), "sigma": jnp.ones(shape)}
    if spec.jastrow:
        params["jastrow"] = {"log_alpha_parallel": jnp.zeros(()), "log_alpha_antiparallel": jnp.zeros(())}
    return params


def _spin_means(x, spec):
    """Means of x over the electrons of each (non-empty) spin group, along axis 0."""
    return [jnp.mean(x[lo:hi], axis=0) for lo, hi in _spin_groups(spec) if hi > lo]


def _residual(update, previous):
    return update + previous if update.shape == previous.shape else update


def _twist_features(twist):
    """(sin 2 pi t, cos 2 pi t): the twist as a smooth input, periodic like E(t)."""
    angle = features.TWO_PI * twist
    return jnp.concatenate([jnp.sin(angle), jnp.cos(angle)])


TWIST_FEATURES = 6


def _one_electron_update(layer, spec, one, two, concatenated):
    """tanh(V f_i + b) with f_i = [h_i, <h_j>_up, <h_j>_down, <h_ij>_j in up, <h_ij>_j in down].

    concatenated=False takes V f_i by blocks of V's rows: the spin means are the same for every
    electron, so their products are formed once per walker, not once per electron, and under folx
    the tangents of h_i (3 coordinates in the first layer) stay sparse. concatenated=True forms f_i,
    the layer KFAC recognises as one dense block (qsolid.vmc.optim's loss).
    """
    means_one = _spin_means(one, spec)
    means_two = [jnp.mean(two[:, lo:hi], axis=1) for lo, hi in _spin_groups(spec) if hi > lo]
    if concatenated:
        f = jnp.concatenate([one, *[jnp.broadcast_to(m, one.shape) for m in means_one], *means_two], axis=-1)
        return jnp.tanh(dense.apply(layer, f))
    widths = [one.shape[-1]] * (1 + len(means_one)) + [m.shape[-1] for m in means_two]
    own, *blocks = jnp.split(layer["w"], np.cumsum(widths)[:-1], axis=0)
    shared = layer["b"] + sum(m @ w for m, w in zip(means_one, blocks))
    pairs = sum(m @ w for m, w in zip(means_two, blocks[len(means_one) :]))
    return jnp.tanh(one @ own + pairs + shared)


def _streams(params, spec, en_features, ee_features, twist, concatenated=False):
    """Interaction layers of Alg. 2 (lines 15-25): final one-electron stream (n_e, width)."""
    n_electrons = en_features.shape[0]
    one = en_features.reshape(n_electrons, -1)
    if spec.twist_input:
        one = jnp.concatenate([one, jnp.broadcast_to(_twist_features(twist.astype(one.dtype)), (n_electrons, TWIST_FEATURES))], axis=-1)
    two = ee_features
    for layer in params["layers"]:
        one = _residual(_one_electron_update(layer["one"], spec, one, two, concatenated), one)
        if "two" in layer:
            two = _residual(jnp.tanh(dense.apply(layer["two"], two)), two)
    return one


def _plane_waves(spec, kpoints, mask, electrons, nuclei, group):
    """exp(2 pi i (k . s_j - m . S_1)) times the mask, (..., electron) for plane waves k (..., 3) of the walker's twist."""
    kpoints = kpoints.astype(electrons.dtype)
    integer = jnp.round(kpoints - jnp.take(jnp.asarray(spec.twist, electrons.dtype), group, axis=0))
    angle = kpoints @ electrons.T - (integer @ nuclei[0])[..., None]
    return mask.astype(electrons.dtype)[..., None] * jnp.exp(1j * features.TWO_PI * angle)


def _orbital_matrices(params, spec, stream, electrons, nuclei, en_distance, waves, group):
    """Per spin: (n_det, n_sigma orbitals, n_sigma electrons) orbital matrices (Alg. 2, lines 26-31).

    Orbital a at electron j is env_aj sum_b u_ab(h_j) exp(2 pi i (k_ab . s_j - m_ab . S_1)), over the plane
    waves b the orbital combines (one, or a whole open shell; module docstring). Column a of u is orbital a's
    first plane wave; the B - 1 further ones of each of the last n_open orbitals follow. With per-twist
    orbital maps every twist's u is formed (one dense layer, the form KFAC registers) and the walker's own
    twist's is kept."""
    matrices = []
    for index, ((lo, hi), spin, (kpoints, mask)) in enumerate(zip(_spin_groups(spec), ("up", "down"), waves)):
        count = hi - lo
        if count == 0:
            continue
        h = stream[lo:hi]
        u = dense.apply(params["orbitals"][spin]["real"], h)
        if spec.is_complex:
            u = u + 1j * dense.apply(params["orbitals"][spin]["imag"], h)
        u = u.reshape(count, spec.orbital_maps, spec.determinants, -1)
        u = jnp.take(u, group if spec.per_twist_orbitals else 0, axis=1).transpose(1, 2, 0)  # (det, column, electron)
        envelope = params["envelope"][spin]
        decay = jnp.exp(-jnp.einsum("dki,ji->dkji", envelope["sigma"], en_distance[lo:hi]))
        env = jnp.einsum("dki,dkji->dkj", envelope["pi"], decay)  # (det, orbital, electron)
        if not spec.is_complex:
            matrices.append(env * u)
            continue
        r = electrons[lo:hi]
        orbitals = u[:, :count] * _plane_waves(spec, kpoints[:, 0], mask[:, 0], r, nuclei, group)[None]
        n_open, width = spec.open_orbitals[index], spec.waves_per_orbital
        if n_open:
            further = u[:, count:].reshape(spec.determinants, n_open, width - 1, count)
            plane = _plane_waves(spec, kpoints[count - n_open :, 1:], mask[count - n_open :, 1:], r, nuclei, group)
            combined = orbitals[:, count - n_open :] + jnp.einsum("dkbj,kbj->dkj", further, plane)
            orbitals = jnp.concatenate([orbitals[:, : count - n_open], combined], axis=1)
        matrices.append(env * orbitals)
    return matrices


def electron_pair_jastrow(params, spec, ee_distance):
    """J = -sum_{i<j} c alpha^2 / (alpha + d_ij): cusps 1/4 (parallel) and 1/2 (antiparallel)."""
    n = spec.n_up + spec.n_down
    spins = np.array([0] * spec.n_up + [1] * spec.n_down)
    parallel = spins[:, None] == spins[None, :]
    upper = np.triu(np.ones((n, n), dtype=bool), k=1)
    alpha_par = jnp.exp(params["jastrow"]["log_alpha_parallel"])
    alpha_anti = jnp.exp(params["jastrow"]["log_alpha_antiparallel"])
    alpha = jnp.where(parallel, alpha_par, alpha_anti)
    cusp = np.where(parallel, 0.25, 0.5)
    terms = -cusp * alpha**2 / (alpha + ee_distance)
    return jnp.sum(jnp.where(upper, terms, 0.0))


def sum_of_determinants(matrices):
    """(phase, log|.|) of sum_det prod_spin det(matrix), stable for large and complex determinants."""
    signs, logs = 1.0, 0.0
    for matrix in matrices:
        sign, log = jnp.linalg.slogdet(matrix)
        signs, logs = signs * sign, logs + log
    shift = jax.lax.stop_gradient(jnp.max(logs))
    total = jnp.sum(signs * jnp.exp(logs - shift))
    real, imag = jnp.real(total), jnp.imag(total)
    return jnp.arctan2(imag, real), 0.5 * jnp.log(real**2 + imag**2) + shift


def orbitals(params, spec: ElectronAnsatzSpec, electrons, nuclei, group=0, concatenated=False):
    """Orbital matrices per spin, (n_det, orbital, electron), and e-e distances for one walker of `group`.

    concatenated: the form of the interaction layers (_one_electron_update); the value is the same."""
    waves_up, waves_down, twist = twist_inputs(spec, group)
    return _orbitals(params, spec, electrons, nuclei, (waves_up, waves_down), twist, group, concatenated)


def _orbitals(params, spec, electrons, nuclei, waves, twist, group, concatenated=False):
    feature_lattice = jnp.asarray(spec.feature_lattice, dtype=electrons.dtype)
    en_features, en_distance = features.electron_nuclear(electrons, nuclei, feature_lattice)
    ee_features, ee_distance = features.electron_electron(electrons, feature_lattice)
    stream = _streams(params, spec, en_features, ee_features, twist, concatenated)
    return _orbital_matrices(params, spec, stream, electrons, nuclei, en_distance, waves, group), ee_distance


def _translation_phase(spec: ElectronAnsatzSpec, nuclei, twist):
    """k_t . sum_I Z_I R_I (module docstring): with the plane waves' integer parts measured from R_1, makes
    Psi invariant under joint translations."""
    charges = np.ones(spec.n_nuclei) if spec.nuclear_charges is None else spec.nuclear_charges
    weighted = jnp.einsum("i,ik->k", jnp.asarray(charges, nuclei.dtype), nuclei)
    return features.TWO_PI * jnp.dot(twist.astype(nuclei.dtype), weighted)


def apply(params, spec: ElectronAnsatzSpec, electrons, nuclei, group=0, concatenated=False):
    """(phase, log|phi|) for one walker of twist `group`; electrons (n_e, 3) and nuclei (n_n, 3) fractional.

    concatenated=True: the layers in the form KFAC registers (_one_electron_update), same value.
    """
    waves_up, waves_down, twist = twist_inputs(spec, group)
    matrices, ee_distance = _orbitals(params, spec, electrons, nuclei, (waves_up, waves_down), twist, group, concatenated)
    phase, log_abs = sum_of_determinants(matrices)
    if spec.is_complex:
        phase = phase - _translation_phase(spec, nuclei, twist)
    if spec.jastrow:
        log_abs = log_abs + electron_pair_jastrow(params, spec, ee_distance)
    return phase, log_abs
