"""The typed configuration of an NCT run (`qsolid nct config` prints it commented).

A run is either a dimensionless model system ([system] kind = "harmonic",
"ndco", "quartic" or a user's "function", at inverse temperature beta;
beta = inf is the ground state) or a crystal on a Born-Oppenheimer surface
(kind = "crystal", temperature in kelvin). The vocabulary is the VMC
engine's (qsolid.vmc.config): top-level `seed` and `precision`, [sampling]
batch_size and sweeps_per_step, [optimisation] steps, [evaluation] steps,
[output] checkpoint_every, [npt] pressure_gpa and lattice_mode, [system]
structure. Keys of the earlier NCT vocabulary fail with one line naming
their new place (RENAMED).
"""

import dataclasses
import json
import math
import sys
from pathlib import Path
from typing import Literal

from qsolid.schema import ConfigError, OutputConfig, load_toml, option, parse, require, section


@dataclasses.dataclass(frozen=True)
class System:
    kind: Literal["harmonic", "ndco", "quartic", "function", "crystal"] = option(
        "quartic", "Model potential ('function': your own V(q)), or 'crystal' (structure, element, ... below).")
    beta: float = option(1.0, "Inverse temperature of model systems (hbar = m = k_B = 1); inf gives the ground state.", allow_inf=True)
    dimension: int = option(4, "Number of coordinates of the NDCO model and of a function potential.")
    ndco_coupling: float = option(0.1, "Coupling a of the NDCO model.")
    frequencies: tuple[float, ...] = option([1.0, 1.5], "Harmonic frequencies omega_i of the harmonic and quartic models.")
    quartic_coefficient: float = option(0.1, "lambda in V = sum_i (omega_i^2 x_i^2 / 2 + lambda x_i^4) + gamma sum_{i<j} x_i^2 x_j^2.")
    pair_coefficient: float = option(0.05, "gamma of the quartic model.")
    function: str = option(
        "", "kind = 'function': 'module:name' of a JAX-traceable V(q) of the flat coordinate vector q (length\n"
        "dimension), importable from the Python path or the config file's folder; minimum at q = 0 (the reference).")
    masses: tuple[float, ...] = option([], "kind = 'function': mass of each coordinate (empty: unit masses).")
    structure: Literal["bcc", "fcc"] = option("bcc", "Crystal: cubic structure built with ase.build.bulk(element, structure, a, cubic=True).")
    element: str = option("Li", "Crystal: chemical symbol of the atoms.")
    mass_amu: float = option(6.941, "Crystal: atomic mass in u.")
    volume_per_atom_angstrom3: float = option(19.2, "Crystal: volume per atom (sets the cubic lattice constant).")
    supercell: tuple[int, int, int] = option([2, 2, 2], "Crystal: repeats of the conventional cubic cell.")
    temperature_k: float = option(300.0, "Crystal: temperature in kelvin (0 for the ground state).")
    potential: Literal["deepmd", "ase"] = option("deepmd", "Crystal: energy surface, a DeePMD model file or an ASE calculator.")
    model_file: str = option("", "DeePMD model file (potential = 'deepmd'); relative paths are from the config file's folder.")
    skin_angstrom: float = option(1.0, "Neighbour-list skin of the DeePMD surface; atoms must stay within skin/2 of their sites.")
    ase_calculator: str = option("ase.calculators.lj:LennardJones", "module:Class of the ASE calculator (potential = 'ase').")
    ase_calculator_args: str = option("{}", "Keyword arguments of the ASE calculator as a JSON object, e.g. '{\"sigma\": 2.8}'.")
    hessian_step_angstrom: float = option(0.005, "Central-difference step of the Hessian for non-differentiable surfaces (Richardson-extrapolated).")

    def check(self):
        require(self.beta > 0, "beta", "must be positive (inf for the ground state)")
        require(self.dimension >= 1, "dimension", "must be at least 1")
        require(len(self.frequencies) >= 1 and all(0 < w < math.inf for w in self.frequencies), "frequencies",
                "need positive finite values")
        require(0 <= self.quartic_coefficient < math.inf, "quartic_coefficient", "must be non-negative and finite")
        require(self.kind != "function" or self.function.count(":") == 1, "function", "must be 'module:name' for kind = 'function'")
        require(not self.masses or len(self.masses) == self.dimension, "masses",
                f"needs one value per coordinate (dimension = {self.dimension}), got {len(self.masses)}")
        require(all(0 < m < math.inf for m in self.masses), "masses", "need positive finite values")
        require(0 < self.mass_amu < math.inf, "mass_amu", "must be positive and finite")
        require(0 < self.volume_per_atom_angstrom3 < math.inf, "volume_per_atom_angstrom3", "must be positive and finite")
        require(all(n >= 1 for n in self.supercell), "supercell", "repeats must be >= 1")
        require(0 <= self.temperature_k < math.inf, "temperature_k", "must be non-negative and finite")
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
class Optimisation:
    steps: int = option(500, "Training steps.")
    learning_rate_flow: float = option(1e-3, "Adam learning rate of the flow parameters.")
    learning_rate_occupations: float = option(1e-2, "Adam learning rate of the occupation logits.")
    learning_rate_mixing: float = option(1e-3, "Adam learning rate of the level-mixing generators (ansatz.level_mixing).")
    decay_steps: int = option(0, "Learning rates decay as d / (d + step) with d = decay_steps (0 = constant).")
    clip_width: float = option(0.0, "Clip f and E_loc in the gradients to median +- clip_width mean absolute deviations (0 = off).")

    def check(self):
        require(self.steps >= 0, "steps", "must be non-negative")
        require(0 < self.learning_rate_flow < math.inf, "learning_rate_flow", "must be positive and finite")
        require(0 < self.learning_rate_occupations < math.inf, "learning_rate_occupations", "must be positive and finite")
        require(0 < self.learning_rate_mixing < math.inf, "learning_rate_mixing", "must be positive and finite")
        require(self.decay_steps >= 0, "decay_steps", "must be non-negative")
        require(self.clip_width >= 0, "clip_width", "must be non-negative")


@dataclasses.dataclass(frozen=True)
class Sampling:
    batch_size: int = option(256, "Number of walkers (occupation + coordinate samples) per step; a multiple of the device count.")
    sweeps_per_step: int = option(10, "Metropolis sweeps of the quasi-phonon coordinates per step.")
    burn_in_sweeps: int = option(200, "Metropolis sweeps before the first step.")
    initial_step: float = option(1.0, "Initial proposal width in units of each level's spread (adapted).")

    def check(self):
        require(self.batch_size >= 2, "batch_size", "must be at least 2")
        require(self.sweeps_per_step >= 1, "sweeps_per_step", "must be at least 1")
        require(self.burn_in_sweeps >= 0, "burn_in_sweeps", "must be non-negative")
        require(self.initial_step > 0, "initial_step", "must be positive")


@dataclasses.dataclass(frozen=True)
class Npt:
    lattice_mode: Literal["fixed", "isotropic", "lengths"] = option(
        "fixed",
        "'fixed' keeps the lattice; 'isotropic' (one strain for all axes) or 'lengths' (a, b, c independently)\n"
        "relax it to pressure_gpa (Gibbs free energy G = F + P Omega, Eq. 7; crystals only).",
    )
    pressure_gpa: float = option(0.0, "Target pressure P* in GPa.")
    relax_every: int = option(20, "Training steps between lattice updates (pressure averaged over them).")
    strain_per_gpa: float = option(0.005, "Strain step per GPa of stress imbalance, epsilon_aa = s (P_aa - P*).")
    relax_until_step: int = option(0, "No lattice updates after this training step (0 = until the end of training).")
    average_cells: bool = option(
        True,
        "Polyak averaging: the last lattice update is one step from the mean of the lattices measured in the\n"
        "second half of the relaxation with their mean stress, so the final cell does not carry one window's noise.",
    )

    def check(self):
        require(math.isfinite(self.pressure_gpa), "pressure_gpa", "must be finite")
        require(self.relax_every >= 1, "relax_every", "must be at least 1")
        require(0 < self.strain_per_gpa < math.inf, "strain_per_gpa", "must be positive and finite")
        require(self.relax_until_step >= 0, "relax_until_step", "must be non-negative")


@dataclasses.dataclass(frozen=True)
class Evaluation:
    steps: int = option(100, "Evaluation steps with frozen parameters (error bars by reblocking).")
    measure_pressure: bool = option(True, "Measure the virial pressure and stress tensor (crystals).")
    excitation_walkers: int = option(256, "Walkers per single-phonon state for the anharmonic frequencies (0 = skip).")
    rdf_bins: int = option(200, "Histogram bins of g(r) (crystals).")

    def check(self):
        require(self.steps >= 1, "steps", "must be at least 1")
        require(self.excitation_walkers >= 0, "excitation_walkers", "must be non-negative")
        require(self.rdf_bins >= 1, "rdf_bins", "must be positive")


@dataclasses.dataclass(frozen=True)
class Config:
    seed: int = option(0, "Random seed; the same config and seed give the same numbers.")
    precision: Literal["float32", "float64"] = option(
        "float64", "Floating-point precision of the run, set at its start and restored at its end (qsolid.precision).")
    system: System = section("The system: a model potential or a crystal on an energy surface.", System)
    ansatz: Ansatz = section("Variational density matrix (Eqs. 3-6).", Ansatz)
    optimisation: Optimisation = section("Free-energy minimisation by Adam (optax).", Optimisation)
    sampling: Sampling = section("Metropolis sampling of the quasi-phonon coordinates.", Sampling)
    npt: Npt = section("Constant pressure: lattice relaxation by the virial stress.", Npt)
    evaluation: Evaluation = section("Evaluation with frozen parameters, and its observables.", Evaluation)
    output: OutputConfig = section("Checkpoints.", OutputConfig)

    def check(self):
        crystal = self.system.kind == "crystal"
        require(not crystal or self.system.potential != "deepmd" or bool(self.system.model_file),
                "system.model_file", "is required for potential = 'deepmd'")
        if self.system.kind == "function":
            from qsolid.nct.systems import function_surface

            function_surface(self.system.function, self.system.dimension)  # importable, traceable, finite at 0
        zero_t = self.temperature == 0.0
        require(not zero_t or self.ansatz.levels == 1, "ansatz.levels", "must be 1 at zero temperature")
        require(self.npt.lattice_mode == "fixed" or crystal, "npt.lattice_mode", "needs system.kind = 'crystal'")

    @property
    def temperature(self) -> float:
        """Temperature in the run's internal energy unit (hartree, or the model's unit)."""
        from qsolid import units

        if self.system.kind == "crystal":
            return self.system.temperature_k / units.HARTREE_KELVIN
        return 0.0 if math.isinf(self.system.beta) else 1.0 / self.system.beta

    @property
    def constant_pressure(self) -> bool:
        return self.npt.lattice_mode != "fixed"


_RUN = {"seed": "seed", "steps": "optimisation.steps", "eval_steps": "evaluation.steps",
        "checkpoint_every": "output.checkpoint_every", "keep_checkpoints": "output.keep_checkpoints",
        "progress": "the --no-progress flag of `qsolid nct run`", "excitation_walkers": "evaluation.excitation_walkers",
        "rdf_bins": "evaluation.rdf_bins"}
_PRESSURE = {"target_gpa": "npt.pressure_gpa", "measure": "evaluation.measure_pressure",
             "constant_pressure": "npt.lattice_mode ('isotropic' or 'lengths'; 'fixed' keeps the lattice)",
             "cell": "npt.lattice_mode ('cubic' is now 'isotropic', 'orthorhombic' is 'lengths')"}
RENAMED = {
    **{f"run.{old}": new for old, new in _RUN.items()},
    **{f"pressure.{old}": new for old, new in _PRESSURE.items()},
    "sampling.walkers": "sampling.batch_size",
    "sampling.sweeps": "sampling.sweeps_per_step",
    "crystal.lattice": "system.structure",
}
"""Keys of the earlier NCT vocabulary and where they went; [optimizer] is [optimisation], the rest of
[pressure] is [npt], the rest of [crystal] is [system], each with the same key names."""
_RENAMED_SECTIONS = {"optimizer": "optimisation", "pressure": "npt", "crystal": "system"}


def _renamed_to(section: str, key: str) -> str | None:
    """The new dotted name of the earlier `section.key`, or None if there was no such key."""
    if f"{section}.{key}" in RENAMED:
        return RENAMED[f"{section}.{key}"]
    new_section = _RENAMED_SECTIONS.get(section)
    if new_section and key in {f.name for f in dataclasses.fields(getattr(Config(), new_section))}:
        return f"{new_section}.{key}"
    return None


def reject_renamed(data: dict) -> None:
    """One-line ConfigError for the first key of the earlier NCT vocabulary, naming the new key."""
    for name, table in data.items():
        if name == "run" or name in _RENAMED_SECTIONS:
            keys = list(table) if isinstance(table, dict) else []
            new = _renamed_to(name, keys[0]) if keys else None
            if new is None:
                where = _RENAMED_SECTIONS.get(name, "seed, [optimisation], [evaluation] and [output]")
                raise ConfigError(f"{name}: the section [{name}] was renamed: use {where} (see `qsolid nct config`)")
            raise ConfigError(f"{name}.{keys[0]} was renamed: use {new}")
        if isinstance(table, dict):
            for key in table:
                if f"{name}.{key}" in RENAMED:
                    raise ConfigError(f"{name}.{key} was renamed: use {RENAMED[f'{name}.{key}']}")


def from_dict(data: dict) -> Config:
    reject_renamed(data)
    return parse(Config, data)


def load(path) -> Config:
    """Read and validate a TOML config. A relative model_file is resolved against the config file's folder,
    and a function potential's module is imported from that folder too if it is not on the Python path."""
    data = load_toml(path)
    system = data.get("system")
    model_file = system.get("model_file") if isinstance(system, dict) else None
    if isinstance(model_file, str) and model_file and not Path(model_file).is_absolute():
        system["model_file"] = str((Path(path).parent / model_file).resolve())
    folder = str(Path(path).resolve().parent)
    added = folder not in sys.path
    if added:
        sys.path.append(folder)  # last: never shadows an installed module; the imported module stays in sys.modules
    try:
        return from_dict(data)
    finally:
        if added:
            sys.path.remove(folder)
