"""Constant-pressure optimisation: lattice annealing (Lundy–Mees) and the stage schedule.

The one idea (paper Sec. II B): the cell is not a parameter of the wave function.
Walkers live in the unit cube (Eq. S5), so a lattice L enters only through the
enthalpy operator G = H + P Omega (Eqs. 5, S3), and L is optimised by simulated
annealing on noisy VMC estimates of G: propose L -> L', estimate G', accept with
probability min(1, exp(-(G' - G) / tau)), cool as tau(t) = tau_0 / (1 + beta t).

Everything here is pure and VMC-free. The driver supplies
``estimate_enthalpy(cells, key) -> sequence of float``: the enthalpy (Ha per
simulation cell) of each cell in ``cells``, all measured on one fresh sample;
:func:`anneal` does the rest. Lattices are the six parameters
(a, b, c in bohr; alpha, beta, gamma in degrees) of Eq. S4 (qsolid.lattice).

Decisions (the paper leaves them open; each is a documented choice):

- **Temperature per cell.** tau and Delta G are compared in Ha per simulation
  cell, the quantity of Eq. 5, by default. The scales of Table II favour this:
  tau_0 = 0.1 Ha per 64-atom cell is ~1.6 mHa/atom, the scale of the enthalpy
  differences of the paper, and is comparable to the noise of a VMC estimate of
  G (our estimate: 0.01-0.05 Ha per 64-atom cell with 1024 walkers), which the
  Fig. S1 discussion says drives the search. Read per atom, tau_0 = 0.1 Ha/atom would let a frozen
  wave function's cell change volume by tens of per cent for thousands of
  moves. ``temperature_per = "atom"`` compares (G' - G) / atoms instead.
- **Log-normal length moves.** a' = a exp(w xi), xi ~ N(0, 1): lengths stay
  positive, and the proposal is symmetric in ln a, so moves are relative (w =
  0.02 changes a length by ~2 %) whatever the cell size.
- **Angles in radians.** In "full" mode each angle moves by w xi radians (w =
  0.02 -> ~1.1 deg); a draw giving an invalid cell (an angle outside (0, 180)
  deg, |cos alpha*| >= 1 in Eq. S4, i.e. zero volume) is redrawn.
- **The current G is kept, not re-estimated.** As in the paper, only G' is
  estimated per move; G is the estimate made when the current cell was
  accepted (or once, at the start of each :func:`anneal` call, unless the
  caller passes it in). A lucky low estimate therefore makes the cell "sticky";
  the held cell can sit a few noise widths above the minimum (the tests bound
  it by 6 sigma + 10 tau). ``reestimate_current = true`` estimates G afresh
  every move, on the same sample as G' (correlated sampling): since
  |Psi(S)|^2 does not depend on L (Eq. S5), both are unbiased on one sample and
  the noise of G' - G is that of the local-enthalpy *difference*, roughly the
  relative move width times the noise of G. Small cells, whose enthalpy
  differences are far below the noise of one estimate, need this.
- **Annealing steps between training steps.** Table II's "10" is read as the
  number of propose/accept moves made in each step of a lattice stage; the
  Lundy–Mees counter t counts moves over the whole run, so a lattice stage of
  300 steps makes 3000 moves and cooling continues across cycles.

A consequence of Eq. S5 for the driver: |Psi_theta(S)|^2 in the unit cube does
not depend on L, so walkers equilibrated at L are already equilibrated at L'.
The ``reequilibration_sweeps`` before an estimate only decorrelate it from the
previous one (fresh noise, as the paper's independent estimates assume).
"""

import dataclasses
from typing import TYPE_CHECKING, Callable, Literal, NamedTuple, Sequence

import numpy as np

from qsolid import lattice as lattice_lib
from qsolid import finite_size, units
from qsolid.enthalpy import enthalpy
from qsolid.schema import option, require

if TYPE_CHECKING:
    import jax

LatticeMode = Literal["fixed", "lengths", "full"]
StageName = Literal["warmup", "lattice", "wavefunction"]


@dataclasses.dataclass(frozen=True)
class NptConfig:
    pressure_gpa: float = option(130.0, "External pressure P_ext (GPa).")
    lattice_mode: LatticeMode = option(
        "fixed",
        "Which lattice parameters anneal: 'fixed' (none; no lattice stages), 'lengths' (a, b, c with\n"
        "the angles held, the paper's production mode) or 'full' (lengths and angles).",
    )
    move_width: float = option(
        0.02,
        "Relative width w of a trial deformation (Table II 'Lattice move width'): a -> a exp(w xi),\n"
        "and in 'full' mode angle -> angle + w xi radians, xi ~ N(0, 1).",
    )
    initial_temperature_ha: float = option(
        0.1,
        "Initial virtual temperature tau_0 (Ha; Table II), in the units of temperature_per.",
    )
    cooling_rate: float = option(
        0.002, "Lundy-Mees beta in tau(t) = tau_0 / (1 + beta t), t counting annealing moves (Table II)."
    )
    temperature_per: Literal["cell", "atom"] = option(
        "cell",
        "Compare Delta G per simulation 'cell' (Eq. 5) or per 'atom' against tau.",
    )
    enthalpy_estimates: int = option(
        1,
        "Independent enthalpy estimates averaged per annealing move (Fig. S1: 1 = high-noise,\n"
        "10 = low-noise strategy).",
    )
    reestimate_current: bool = option(
        False,
        "Estimate the enthalpy of the current cell afresh every move on the same walkers as the\n"
        "trial cell (correlated sampling: the noise of G' - G shrinks to that of the local-enthalpy\n"
        "difference), instead of keeping the estimate made when it was accepted (the paper keeps it;\n"
        "true costs a second local-energy evaluation per move, no extra sampling).",
    )
    reequilibration_sweeps: int = option(
        5,
        "Metropolis sweeps on the current walkers before each enthalpy estimate during a lattice\n"
        "stage (|Psi(S)|^2 does not depend on L, Eq. S5, so these decorrelate successive estimates).",
    )
    annealing_steps_per_lattice_step: int = option(
        10,
        "Annealing moves made in each step of a lattice stage (Table II 'Annealing steps between\n"
        "each training steps').",
    )
    warmup_steps: int = option(
        300, "Wave-function steps at the initial cell before the first lattice stage (Table II: 50000)."
    )
    lattice_steps: int = option(30, "Steps of each lattice stage, wave function frozen (Table II: 300).")
    wavefunction_steps: int = option(
        100, "Steps of each wave-function stage, lattice fixed (Table II: 5000)."
    )
    cycles: int = option(
        4,
        "Number of (lattice stage, wave-function stage) cycles after the warm-up. The step defaults\n"
        "are a small example; Table II runs ~85 cycles (5e5 steps in all).",
    )

    finite_size_correction: Literal["none", "two-body"] = option(
        "none",
        "What the annealer minimises: 'none' the finite cell's (twist-averaged) G = E + P Omega;\n"
        "'two-body' G + Delta E(Omega) with the leading-order two-body correction Delta E = omega_p / 2\n"
        "per cell (qsolid.finite_size; its pressure omega_p / (4 Omega) then counts towards P_ext).\n"
        "Twist averaging removes the one-body error; use it with a twist set.",
    )

    @property
    def pressure_ha_bohr3(self) -> float:
        return units.gpa_to_ha_bohr3(self.pressure_gpa)

    def check(self):
        require(np.isfinite(self.pressure_gpa), "pressure_gpa", "must be finite")
        require(self.pressure_gpa >= 0.0, "pressure_gpa", f"must be >= 0, got {self.pressure_gpa}")
        require(0.0 < self.move_width <= 0.5, "move_width", f"must lie in (0, 0.5], got {self.move_width}")
        require(self.initial_temperature_ha > 0.0, "initial_temperature_ha", "must be > 0")
        require(self.cooling_rate >= 0.0, "cooling_rate", f"must be >= 0, got {self.cooling_rate}")
        require(self.enthalpy_estimates >= 1, "enthalpy_estimates", "must be >= 1")
        require(self.reequilibration_sweeps >= 0, "reequilibration_sweeps", "must be >= 0")
        require(
            self.annealing_steps_per_lattice_step >= 1, "annealing_steps_per_lattice_step", "must be >= 1"
        )
        require(self.warmup_steps >= 0, "warmup_steps", f"must be >= 0, got {self.warmup_steps}")
        require(self.lattice_steps >= 1, "lattice_steps", f"must be >= 1, got {self.lattice_steps}")
        require(self.wavefunction_steps >= 0, "wavefunction_steps", "must be >= 0")
        require(self.cycles >= 0, "cycles", f"must be >= 0, got {self.cycles}")


# --- enthalpy and units ---------------------------------------------------------------


def corrected_enthalpy(energy_ha, volume_bohr3, pressure_ha_bohr3, n_electrons: int, correction: str):
    """G = E + P Omega, plus the two-body Delta E(Omega) = omega_p / 2 when `correction` is 'two-body'
    (the enthalpy of the infinite system to leading order, Chiesa et al. 2006; qsolid.finite_size)."""
    g = enthalpy(energy_ha, volume_bohr3, pressure_ha_bohr3)
    if correction == "two-body":
        g += finite_size.two_body_energy_ha(n_electrons, volume_bohr3)
    return g


def per_atom(value, atoms: int):
    """A per-cell quantity divided by the number of atoms in the simulation cell."""
    return value / atoms


def enthalpy_ev_per_atom(enthalpy_ha, atoms: int):
    """Cell enthalpy (Ha) -> eV per atom."""
    return units.ha_to_ev(enthalpy_ha / atoms)


def volume_angstrom3_per_atom(volume_bohr3, atoms: int):
    """Cell volume (bohr^3) -> angstrom^3 per atom (the paper quotes 2.063 A^3/atom at 130 GPa)."""
    return units.bohr3_to_angstrom3(volume_bohr3 / atoms)


# --- lattice moves --------------------------------------------------------------------


class LatticeParameters(NamedTuple):
    """(a, b, c) in bohr and (alpha, beta, gamma) in degrees, as in Eq. S4."""

    a: float
    b: float
    c: float
    alpha_deg: float
    beta_deg: float
    gamma_deg: float


def as_parameters(params) -> LatticeParameters:
    return LatticeParameters(*(float(x) for x in params))


def cell_volume(params) -> float:
    """Omega = |det L| (bohr^3) of the Eq. S4 lattice."""
    return float(lattice_lib.volume(lattice_lib.lattice_from_parameters(*as_parameters(params))))


def cell_is_valid(params) -> bool:
    """Positive finite lengths, angles in (0, 180) deg and |cos alpha*| < 1 in Eq. S4 (volume > 0)."""
    p = as_parameters(params)
    if not all(np.isfinite(p)) or min(p.a, p.b, p.c) <= 0.0:
        return False
    angles = (p.alpha_deg, p.beta_deg, p.gamma_deg)
    if not all(0.0 < angle < 180.0 for angle in angles):
        return False
    alpha, beta, gamma = np.deg2rad(angles)
    cos_alpha_star = (np.cos(beta) * np.cos(gamma) - np.cos(alpha)) / (np.sin(beta) * np.sin(gamma))
    return bool(abs(cos_alpha_star) < 1.0)


_PROPOSAL_ATTEMPTS = 32


def _key_words(key) -> tuple[np.ndarray, object]:
    """The raw words and implementation of a jax PRNG key (typed or legacy uint32)."""
    import jax  # here, not at the top: configs load without jax

    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        return np.asarray(jax.random.key_data(key)).ravel(), jax.random.key_impl(key)
    return np.asarray(key).ravel(), None


def _generator(key, *counters: int) -> np.random.Generator:
    """A NumPy generator determined by a jax key (and counters): cheap host-side draws."""
    words, _ = _key_words(key)
    return np.random.default_rng([*(int(w) for w in words), *counters])


def _propose(rng: np.random.Generator, params: LatticeParameters, mode: str, move_width: float):
    if mode == "fixed":
        return params
    if mode not in ("lengths", "full"):
        raise ValueError(f"unknown lattice mode {mode!r}")
    lengths = np.array(params[:3])
    angles = np.array(params[3:])
    for _ in range(_PROPOSAL_ATTEMPTS):
        xi = rng.standard_normal(6)
        new_lengths = lengths * np.exp(move_width * xi[:3])
        new_angles = angles + np.rad2deg(move_width * xi[3:]) if mode == "full" else angles
        trial = LatticeParameters(*(float(x) for x in (*new_lengths, *new_angles)))
        if cell_is_valid(trial):
            return trial
    raise ValueError(f"no valid cell in {_PROPOSAL_ATTEMPTS} draws around {params}: nearly degenerate cell")


def propose_lattice(key, lattice_params, mode: LatticeMode, move_width: float) -> LatticeParameters:
    """A trial deformation L -> L' (Sec. II B), drawn from a jax PRNG key.

    "lengths": each of a, b, c is multiplied by exp(w xi), xi ~ N(0, 1), angles
    unchanged (bit for bit). "full": each angle also moves by w xi radians; a
    draw giving an invalid cell (:func:`cell_is_valid`) is redrawn, up to 32
    times. "fixed": returns the input. Fractional coordinates are untouched by
    construction (Eq. S5).
    """
    return _propose(_generator(key), as_parameters(lattice_params), mode, move_width)


# --- annealing ------------------------------------------------------------------------


def lundy_mees(t, initial_temperature: float, cooling_rate: float):
    """tau(t) = tau_0 / (1 + beta t) (Lundy & Mees 1986)."""
    return initial_temperature / (1.0 + cooling_rate * t)


def _accept(u: float, delta_g: float, temperature: float) -> bool:
    delta_g = float(delta_g)
    if np.isnan(delta_g):
        return False
    if delta_g <= 0.0:
        return True
    if temperature <= 0.0:
        return False
    return bool(u < np.exp(-delta_g / temperature))


def accept_lattice(key, delta_g, temperature) -> bool:
    """Metropolis test with probability min(1, exp(-Delta G / tau)).

    Delta G <= 0 (including -inf) is always accepted, a NaN Delta G never is,
    and tau = 0 accepts downhill moves only. The uniform is drawn from the key
    whatever Delta G is, so the decision is a pure function of the inputs.
    """
    return _accept(_generator(key).random(), delta_g, temperature)


HISTORY_COLUMNS = (
    "step",
    "temperature_ha",
    "enthalpy_ha",
    "trial_enthalpy_ha",
    "accepted",
    *lattice_lib.PARAMETER_NAMES,
    "volume_bohr3",
)


@dataclasses.dataclass(frozen=True)
class AnnealResult:
    """Final cell, the enthalpy estimate held for it (Ha per cell) and the per-move history.

    ``history`` maps each name of HISTORY_COLUMNS to an array with one entry per
    move: the Lundy–Mees counter t, tau(t), the held G after the decision, the
    trial G', whether it was accepted, and the cell after the decision.
    """

    lattice: LatticeParameters
    enthalpy_ha: float
    history: dict

    @property
    def acceptance(self) -> float:
        accepted = self.history["accepted"]
        return float(np.mean(accepted)) if len(accepted) else float("nan")


def anneal(
    estimate_enthalpy: Callable[[tuple[LatticeParameters, ...], "jax.Array"], Sequence[float]],
    lattice_params,
    config: NptConfig,
    key,
    steps: int,
    start_step: int = 0,
    *,
    atoms: int | None = None,
    current_enthalpy: float | None = None,
) -> AnnealResult:
    """Simulated annealing of the cell at a frozen wave function (Sec. II B).

    For each move t = start_step, ..., start_step + steps - 1: propose L'
    (:func:`propose_lattice`), estimate G' as the mean of
    ``config.enthalpy_estimates`` calls ``estimate_enthalpy((L',), key)`` (Ha per
    cell, fresh key each), accept against the held G at tau(t), cool. The held
    G is ``current_enthalpy`` if given, otherwise estimated once at the start;
    with ``config.reestimate_current`` it is estimated every move together with
    G' in the same calls, ``estimate_enthalpy((L, L'), key)``. Non-finite trial
    estimates are rejected. In "fixed" mode nothing is estimated and the input
    comes back with an empty history.

    All randomness of move t (the proposal, the uniform and the keys handed
    to ``estimate_enthalpy``) comes from a NumPy generator seeded by (key, t),
    so one call of 2n moves equals two calls of n moves when the second gets
    ``start_step = n`` and the first call's lattice and ``enthalpy_ha``: a
    resumed run needs only (lattice, G, t), no hidden state. The estimate keys
    are jax keys of the same implementation as ``key``.
    ``atoms`` is required when ``config.temperature_per == "atom"``.
    """
    import jax  # here, not at the top: configs load without jax

    if config.temperature_per == "atom":
        if atoms is None or atoms < 1:
            raise ValueError("anneal: temperature_per = 'atom' needs the number of atoms in the cell")
        scale = float(atoms)
    else:
        scale = 1.0
    params = as_parameters(lattice_params)
    held = None if current_enthalpy is None else float(current_enthalpy)
    rows = {name: [] for name in HISTORY_COLUMNS}
    if config.lattice_mode == "fixed":
        steps = 0

    words, impl = _key_words(key)

    def estimate(cells, draws):
        """Mean over the draws of each cell's enthalpy; the cells of one draw share a sample."""
        keys = [jax.random.wrap_key_data(d, impl=impl) if impl is not None else d for d in draws]
        values = np.array([[float(g) for g in estimate_enthalpy(tuple(cells), k)] for k in keys])
        return values.mean(axis=0)

    for t in range(start_step, start_step + steps):
        # Fixed draw order per move (u, estimate keys, then the proposal, whose
        # number of redraws varies), all from a generator seeded by (key, t).
        rng = np.random.default_rng([*(int(w) for w in words), t])
        u = rng.random()
        trial_draws, current_draws = rng.integers(
            0, 2**32, size=(2, config.enthalpy_estimates, len(words)), dtype=np.uint32
        )
        temperature = lundy_mees(t, config.initial_temperature_ha, config.cooling_rate)
        trial = _propose(rng, params, config.lattice_mode, config.move_width)
        if config.reestimate_current:
            held, trial_enthalpy = estimate((params, trial), trial_draws)
        else:
            if held is None:
                (held,) = estimate((params,), current_draws)
            (trial_enthalpy,) = estimate((trial,), trial_draws)
        accepted = _accept(u, (trial_enthalpy - held) / scale, temperature)
        if accepted:
            params, held = trial, trial_enthalpy
        for name, value in zip(
            HISTORY_COLUMNS,
            (t, temperature, held, trial_enthalpy, accepted, *params, cell_volume(params)),
        ):
            rows[name].append(value)

    history = {
        name: np.asarray(values, dtype=int if name == "step" else bool if name == "accepted" else float)
        for name, values in rows.items()
    }
    return AnnealResult(lattice=params, enthalpy_ha=float("nan") if held is None else held, history=history)


# --- the stage schedule (supplement Sec. IV) ------------------------------------------


class Stage(NamedTuple):
    name: StageName
    index: int


def _lattice_stage_steps(config: NptConfig) -> int:
    return 0 if config.lattice_mode == "fixed" else config.lattice_steps


def _cycle_steps(config: NptConfig) -> int:
    return _lattice_stage_steps(config) + config.wavefunction_steps


def total_steps(config: NptConfig) -> int:
    """warmup + cycles * (lattice + wavefunction) training steps ('fixed' has no lattice stages)."""
    return config.warmup_steps + config.cycles * _cycle_steps(config)


def stage_at(step: int, config: NptConfig) -> Stage:
    """The stage a training step belongs to and its index within that stage.

    Warm-up (lattice fixed), then ``cycles`` times a lattice stage (wave
    function frozen) followed by a wave-function stage (lattice fixed). A pure
    function of (step, config), so a resumed run lands in the same stage.
    """
    if not 0 <= step < total_steps(config):
        raise ValueError(f"step {step} outside the schedule [0, {total_steps(config)})")
    if step < config.warmup_steps:
        return Stage("warmup", step)
    within = (step - config.warmup_steps) % _cycle_steps(config)
    lattice_steps = _lattice_stage_steps(config)
    if within < lattice_steps:
        return Stage("lattice", within)
    return Stage("wavefunction", within - lattice_steps)


def cycle_at(step: int, config: NptConfig) -> int:
    """Index of the cycle a step belongs to; -1 during the warm-up."""
    stage_at(step, config)
    if step < config.warmup_steps:
        return -1
    return (step - config.warmup_steps) // _cycle_steps(config)


def annealing_step_at(step: int, config: NptConfig) -> int:
    """The Lundy–Mees counter t at the start of training step ``step`` (0 <= step <= total).

    It counts the annealing moves made by all earlier lattice-stage steps, so
    ``anneal(..., steps=config.annealing_steps_per_lattice_step,
    start_step=annealing_step_at(step, config))`` is the lattice-stage step.
    """
    if not 0 <= step <= total_steps(config):
        raise ValueError(f"step {step} outside the schedule [0, {total_steps(config)}]")
    lattice_steps = _lattice_stage_steps(config)
    after_warmup = max(step - config.warmup_steps, 0)
    if lattice_steps == 0 or after_warmup == 0:
        return 0
    full_cycles, within = divmod(after_warmup, _cycle_steps(config))
    done = full_cycles * lattice_steps + min(within, lattice_steps)
    return done * config.annealing_steps_per_lattice_step
