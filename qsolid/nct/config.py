"""The typed configuration of an NCT run (`qsolid nct config` prints it commented).

A run is either a dimensionless model system ([system] kind = "harmonic",
"ndco" or "quartic", at inverse temperature beta; beta = inf is the ground
state) or a crystal on a Born-Oppenheimer surface (kind = "crystal", with
the [crystal] section, temperature in kelvin).
"""

import dataclasses
import json
import math
from typing import Literal

from qsolid.schema import load_toml, option, parse, require, section


@dataclasses.dataclass(frozen=True)
class System:
    kind: Literal["harmonic", "ndco", "quartic", "crystal"] = option("quartic", "Model potential, or 'crystal' for the [crystal] section.")
    beta: float = option(1.0, "Inverse temperature of model systems (hbar = m = k_B = 1); inf gives the ground state.", allow_inf=True)
    dimension: int = option(4, "Number of coordinates of the NDCO model.")
    ndco_coupling: float = option(0.1, "Coupling a of the NDCO model.")
    frequencies: tuple[float, ...] = option([1.0, 1.5], "Harmonic frequencies omega_i of the harmonic and quartic models.")
    quartic_coefficient: float = option(0.1, "lambda in V = sum_i (omega_i^2 x_i^2 / 2 + lambda x_i^4) + gamma sum_{i<j} x_i^2 x_j^2.")
    pair_coefficient: float = option(0.05, "gamma of the quartic model.")

    def check(self):
        require(self.beta > 0, "beta", "must be positive (inf for the ground state)")
        require(self.dimension >= 1, "dimension", "must be at least 1")
        require(len(self.frequencies) >= 1 and all(w > 0 for w in self.frequencies), "frequencies", "need positive values")
        require(self.quartic_coefficient >= 0, "quartic_coefficient", "must be non-negative")


@dataclasses.dataclass(frozen=True)
class Crystal:
    lattice: Literal["bcc", "fcc"] = option("bcc", "Cubic structure built with ase.build.bulk(element, lattice, a, cubic=True).")
    element: str = option("Li", "Chemical symbol of the atoms.")
    mass_amu: float = option(6.941, "Atomic mass in u.")
    volume_per_atom_angstrom3: float = option(19.2, "Volume per atom (sets the cubic lattice constant).")
    supercell: tuple[int, int, int] = option([2, 2, 2], "Repeats of the conventional cubic cell.")
    temperature_k: float = option(300.0, "Temperature in kelvin (0 for the ground state).")
    potential: Literal["deepmd", "ase"] = option("deepmd", "Energy surface: a DeePMD model file, or an ASE calculator.")
    model_file: str = option("", "DeePMD model file (potential = 'deepmd'); relative paths are from the config file.")
    skin_angstrom: float = option(1.0, "Neighbour-list skin of the DeePMD surface; atoms must stay within skin/2 of their sites.")
    ase_calculator: str = option("ase.calculators.lj:LennardJones", "module:Class of the ASE calculator (potential = 'ase').")
    ase_calculator_args: str = option("{}", "Keyword arguments of the ASE calculator as a JSON object, e.g. '{\"sigma\": 2.8}'.")
    hessian_step_angstrom: float = option(0.005, "Central-difference step of the Hessian for non-differentiable surfaces (Richardson-extrapolated).")

    def check(self):
        require(self.mass_amu > 0, "mass_amu", "must be positive")
        require(self.volume_per_atom_angstrom3 > 0, "volume_per_atom_angstrom3", "must be positive")
        require(all(n >= 1 for n in self.supercell), "supercell", "repeats must be >= 1")
        require(self.temperature_k >= 0, "temperature_k", "must be non-negative")
        require(self.skin_angstrom > 0, "skin_angstrom", "must be positive")
        require(self.hessian_step_angstrom > 0, "hessian_step_angstrom", "must be positive")
        require(":" in self.ase_calculator, "ase_calculator", "must be 'module:Class'")
        try:
            arguments = json.loads(self.ase_calculator_args)
        except json.JSONDecodeError:
            arguments = None
        require(isinstance(arguments, dict), "ase_calculator_args", "must be a JSON object")


@dataclasses.dataclass(frozen=True)
class Ansatz:
    levels: int = option(20, "Level cutoff K per mode of the occupation probabilities (1 at T = 0).")
    flow_depth: int = option(2, "Number of flow blocks (elementwise layer + two RealNVP couplings each); 0 = identity.")
    flow_hidden: int = option(32, "Hidden width of the coupling-layer networks.")
    train_flow: bool = option(True, "Optimise the flow (theta); false keeps the harmonic wavefunctions.")
    train_occupations: bool = option(True, "Optimise the occupation probabilities (mu).")
    initial_flow_noise: float = option(0.0, "Standard deviation of a random perturbation of the initial flow parameters (tests).")
    level_mixing: bool = option(
        False,
        "Beyond Eq. 6: rotate each mode's K Hermite functions by a learned orthogonal matrix (qsolid.nct.mode_basis); "
        "the states stay orthonormal and F variational.",
    )
    mixing_band: int = option(4, "Level mixing couples levels n and m only for |n - m| <= mixing_band.")

    def check(self):
        require(1 <= self.levels <= 500, "levels", "must be between 1 and 500")
        require(self.mixing_band >= 1, "mixing_band", "must be positive")
        require(not self.level_mixing or self.levels >= 2, "level_mixing", "needs levels >= 2 (one level has nothing to mix)")
        require(self.flow_depth >= 0, "flow_depth", "must be non-negative")
        require(self.flow_hidden >= 1, "flow_hidden", "must be positive")
        require(self.initial_flow_noise >= 0, "initial_flow_noise", "must be non-negative")


@dataclasses.dataclass(frozen=True)
class Optimizer:
    learning_rate_flow: float = option(1e-3, "Adam learning rate of the flow parameters.")
    learning_rate_occupations: float = option(1e-2, "Adam learning rate of the occupation logits.")
    learning_rate_mixing: float = option(1e-3, "Adam learning rate of the level-mixing generators (ansatz.level_mixing).")
    decay_steps: int = option(0, "Learning rates decay as d / (d + step) with d = decay_steps (0 = constant).")
    clip_width: float = option(0.0, "Clip f and E_loc in the gradients to median +- clip_width mean absolute deviations (0 = off).")

    def check(self):
        require(self.learning_rate_flow > 0, "learning_rate_flow", "must be positive")
        require(self.learning_rate_occupations > 0, "learning_rate_occupations", "must be positive")
        require(self.learning_rate_mixing > 0, "learning_rate_mixing", "must be positive")
        require(self.decay_steps >= 0, "decay_steps", "must be non-negative")
        require(self.clip_width >= 0, "clip_width", "must be non-negative")


@dataclasses.dataclass(frozen=True)
class Sampling:
    walkers: int = option(256, "Number of walkers (occupation + coordinate samples) per step; a multiple of the device count.")
    sweeps: int = option(10, "Metropolis sweeps of the quasi-phonon coordinates per step.")
    burn_in_sweeps: int = option(200, "Metropolis sweeps before the first step.")
    initial_step: float = option(1.0, "Initial proposal width in units of each level's spread (adapted).")

    def check(self):
        require(self.walkers >= 2, "walkers", "must be at least 2")
        require(self.sweeps >= 1, "sweeps", "must be at least 1")
        require(self.burn_in_sweeps >= 0, "burn_in_sweeps", "must be non-negative")
        require(self.initial_step > 0, "initial_step", "must be positive")


@dataclasses.dataclass(frozen=True)
class Pressure:
    constant_pressure: bool = option(False, "Relax the cell to the target pressure (Gibbs free energy G = F + P Omega, Eq. 7).")
    target_gpa: float = option(0.0, "Target pressure P* in GPa.")
    cell: Literal["cubic", "orthorhombic"] = option("cubic", "Cell constraint: isotropic strain, or independent a, b, c.")
    relax_every: int = option(20, "Training steps between cell updates (pressure averaged over them).")
    strain_per_gpa: float = option(0.005, "Strain step per GPa of stress imbalance, epsilon_aa = s (P_aa - P*).")
    relax_until_step: int = option(0, "No cell updates after this training step (0 = until the end of training).")
    average_cells: bool = option(
        True,
        "Polyak averaging: the last cell update is one step from the mean of the cells measured in the second "
        "half of the relaxation with their mean stress, so the final cell does not carry one window's noise.",
    )
    measure: bool = option(True, "Measure the virial pressure and stress tensor in the evaluation phase (crystals).")

    def check(self):
        require(self.relax_every >= 1, "relax_every", "must be at least 1")
        require(self.strain_per_gpa > 0, "strain_per_gpa", "must be positive")
        require(self.relax_until_step >= 0, "relax_until_step", "must be non-negative")


@dataclasses.dataclass(frozen=True)
class Run:
    seed: int = option(0, "Random seed; the same config and seed give the same numbers.")
    steps: int = option(500, "Training steps.")
    eval_steps: int = option(100, "Evaluation steps with frozen parameters (error bars by reblocking).")
    checkpoint_every: int = option(50, "Steps between checkpoints (also written on Ctrl-C / SIGTERM).")
    keep_checkpoints: int = option(3, "Checkpoints kept in RUN_DIR/checkpoints.")
    excitation_walkers: int = option(256, "Walkers per single-phonon state for the anharmonic frequencies (0 = skip).")
    rdf_bins: int = option(200, "Histogram bins of g(r) (crystals).")
    progress: bool = option(True, "Show a progress bar.")

    def check(self):
        require(self.steps >= 0, "steps", "must be non-negative")
        require(self.eval_steps >= 1, "eval_steps", "must be at least 1")
        require(self.checkpoint_every >= 1, "checkpoint_every", "must be at least 1")
        require(self.keep_checkpoints >= 1, "keep_checkpoints", "must be at least 1")
        require(self.excitation_walkers >= 0, "excitation_walkers", "must be non-negative")
        require(self.rdf_bins >= 1, "rdf_bins", "must be positive")


@dataclasses.dataclass(frozen=True)
class Config:
    system: System = section("The system: a model potential or a crystal.", System)
    crystal: Crystal = section("Crystal and energy surface (system.kind = 'crystal').", Crystal)
    ansatz: Ansatz = section("Variational density matrix (Eqs. 3-6).", Ansatz)
    optimizer: Optimizer = section("Adam optimiser (optax).", Optimizer)
    sampling: Sampling = section("Metropolis sampling of the quasi-phonon coordinates.", Sampling)
    pressure: Pressure = section("Virial pressure and constant-pressure cell relaxation.", Pressure)
    run: Run = section("Steps, checkpoints and outputs.", Run)

    def check(self):
        crystal = self.system.kind == "crystal"
        require(not crystal or self.crystal.potential != "deepmd" or bool(self.crystal.model_file),
                "crystal.model_file", "is required for potential = 'deepmd'")
        zero_t = self.temperature == 0.0
        require(not zero_t or self.ansatz.levels == 1, "ansatz.levels", "must be 1 at zero temperature")
        require(not self.pressure.constant_pressure or self.system.kind == "crystal",
                "pressure.constant_pressure", "needs system.kind = 'crystal'")

    @property
    def temperature(self) -> float:
        """Temperature in the run's internal energy unit (hartree, or the model's unit)."""
        from qsolid import units

        if self.system.kind == "crystal":
            return self.crystal.temperature_k / units.HARTREE_KELVIN
        return 0.0 if math.isinf(self.system.beta) else 1.0 / self.system.beta


def from_dict(data: dict) -> Config:
    return parse(Config, data)


def load(path) -> Config:
    """Read and validate a TOML config; relative model paths are resolved against its folder."""
    from pathlib import Path

    data = load_toml(path)
    model_file = data.get("crystal", {}).get("model_file")
    if isinstance(model_file, str) and not Path(model_file).is_absolute():
        data["crystal"]["model_file"] = str((Path(path).parent / model_file).resolve())
    return from_dict(data)
