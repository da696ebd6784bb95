"""The VMC run configuration: typed sections with defaults and documentation.

`qsolid config` prints this schema as commented TOML. Every value is checked
before anything is compiled or written (see qsolid.schema); cross-section
checks that need the structure (electron count, overlapping protons) are made
when the system is built (qsolid.system.build_system).
"""

import dataclasses
from pathlib import Path
from typing import Literal

from qsolid import twists as twist_sets
from qsolid.vmc.npt import NptConfig
from qsolid.schema import ConfigError, OutputConfig, load_toml, option, parse, require, section
from qsolid.units import NUCLEAR_MASSES_ME


@dataclasses.dataclass(frozen=True)
class SystemConfig:
    structure: str = option(
        "bcc",
        "Built-in structure (bcc, fcc, sc, pa3, cmcm, h2-molecule, h-atom), 'jellium' (`electrons`\n"
        "electrons in a uniform neutralising background at density rs, no nuclei), or a path to a CIF,\n"
        "POSCAR or extended-XYZ file (hydrogen atoms only; positions and cell are read in angstrom).",
    )
    rs: float = option(
        0.0,
        "Wigner-Seitz radius r_s (bohr) setting the density; 0 keeps the cell of the structure\n"
        "(or lattice_constant_bohr for the built-in cubic lattices).",
    )
    lattice_constant_bohr: float = option(
        3.77945227, "Cubic lattice constant of the built-in bcc/fcc/sc/pa3 cells when rs = 0 (bohr)."
    )
    box_bohr: float = option(20.0, "Edge of the cubic box of h2-molecule and h-atom (bohr).")
    bond_length_bohr: float = option(1.4011, "H-H distance of h2-molecule and of the molecules of pa3 (bohr).")
    supercell: tuple[int, int, int] = option((1, 1, 1), "Repetitions of the cell along a1, a2, a3.")
    twists: str | float | dict[str, tuple[int, ...] | tuple[float, ...] | bool | float] | tuple[tuple[float, ...], ...] = option(
        "auto",
        "Boundary condition (qsolid.twists): 'auto' ('baldereschi' for a crystal, 'gamma' for h-atom,\n"
        "h2-molecule and jellium); 'gamma'; 'baldereschi' (the cell's mean-value point);\n"
        "a Monkhorst-Pack grid {grid = [n, n, n], shift = true}, reduced by the crystal's symmetry\n"
        "(spglib) with multiplicities as weights; or a list of twists [[t1, t2, t3], ...] with equal\n"
        "weights. Twists are in fractions of the simulation cell's reciprocal vectors. Several twists\n"
        "are trained and evaluated together or one by one, as twist_mode says.",
    )
    twist_mode: Literal["shared", "separate"] = option(
        "shared",
        "A twist set: 'shared' trains one network for all twists in one run (the twist an input of the\n"
        "wavefunction, the walkers split equally over the twists, one gradient averaged with the\n"
        "weights: qsolid.vmc.groups); 'separate' makes one independent run per twist in RUN_DIR/twist-NN\n"
        "(seed + NN; qsolid.vmc.twist_average). Both report the weighted average and each twist's numbers.",
    )
    configurations: str = option(
        "",
        "Ensemble VMC (qsolid.vmc.configurations): a file of clamped proton configurations of this cell,\n"
        "all trained as one network (walkers split equally over configurations x twists, equal weights\n"
        "1/N, each configuration's energy reported in per_configuration): extended-XYZ (any multi-frame\n"
        "file ASE reads; angstrom, with the cell) or a qsolid samples.npz. Every frame must have the\n"
        "system's atom count and cell; the structure above is only the reference the network starts\n"
        "from. Clamped nuclei, fixed cell, twists as 'auto', 'gamma', 'baldereschi' or a list. '' : none.",
    )
    electrons: int = option(0, "Jellium: number of electrons in the simple-cubic cell of volume N (4 pi / 3) rs^3.")
    spin_polarisation: int = option(0, "n_up - n_down; 0 for a spin-balanced system.")
    nuclei: Literal["clamped", "quantum"] = option(
        "clamped",
        "'clamped' (Born-Oppenheimer, fixed nuclei) or 'quantum' (Psi = chi(R) phi(r, R), nuclei sampled too).",
    )
    isotope: str | float = option(
        "H",
        "Nuclear mass of every nucleus: 'H' (1836.15267343), 'D', 'T', or a positive number in electron masses.",
    )
    nuclear_masses: tuple[str | float, ...] = option(
        (),
        "Per-nucleus masses overriding `isotope` (e.g. ['H', 'D'] for HD), in the order of the\n"
        "nuclei after the supercell is built; empty: every nucleus has mass `isotope`.",
    )

    def check(self):
        require(self.rs >= 0.0, "rs", f"must be >= 0, got {self.rs}")
        require(self.lattice_constant_bohr > 0.0, "lattice_constant_bohr", "must be > 0")
        require(self.box_bohr > 0.0, "box_bohr", "must be > 0")
        require(self.bond_length_bohr > 0.0, "bond_length_bohr", "must be > 0")
        require(all(n >= 1 for n in self.supercell), "supercell", f"entries must be >= 1, got {self.supercell}")
        require(self.spin_polarisation >= 0, "spin_polarisation", "must be >= 0 (n_up >= n_down)")
        problem = twist_sets.check_spec(self.twists)
        require(problem is None, "twists", str(problem))
        require(self.electrons >= 0, "electrons", f"must be >= 0, got {self.electrons}")
        if self.structure == "jellium":
            require(self.rs > 0, "rs", "jellium needs the density: rs > 0")
            require(self.electrons >= 1, "electrons", "jellium needs the number of electrons (>= 1)")
        else:
            require(self.electrons == 0, "electrons", "only jellium takes an electron count (crystals have one per proton)")
        if self.configurations:
            require(self.nuclei == "clamped", "configurations", "a configuration set is of clamped nuclei; set nuclei = 'clamped'")
            require(self.structure != "jellium", "configurations", "jellium has no nuclei to configure")
            require(
                not isinstance(self.twists, dict),
                "configurations",
                "a Monkhorst-Pack grid is reduced by the reference crystal's symmetry, which displaced configurations "
                "lack; give the twists as a list",
            )
        for index, mass in enumerate([self.isotope, *self.nuclear_masses]):
            field = "isotope" if index == 0 else f"nuclear_masses[{index - 1}]"
            require(
                mass in NUCLEAR_MASSES_ME or (not isinstance(mass, str) and mass > 0),
                field,
                f"must be 'H', 'D', 'T' or a positive mass in electron masses, got {mass!r}",
            )


UNUSED_NETWORK_FIELDS = {
    "neural": ("mpnn_node_width", "mpnn_edge_width", "mpnn_rounds", "mpnn_backflow"),
    "mpnn": ("one_electron_width", "two_electron_width", "layers", "nuclear_width", "nuclear_layers", "twist_input",
             "twist_orbitals", "open_shells"),
}
"""Fields of the other ansatz, refused when set away from their defaults (they would be silently ignored)."""


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    ansatz: Literal["neural", "slater", "mpnn"] = option(
        "neural",
        "'neural': the DeepSolid-style network (Alg. 2); 'mpnn': a message-passing network over\n"
        "electrons and protons on equal footing feeding backflow plane-wave orbitals and a cusp\n"
        "Jastrow factor (seed 004, qsolid.vmc.ansatz.mpnn; widths mpnn_*, and determinants, jastrow,\n"
        "nuclear_pair_width_bohr below); 'slater': the plane-wave Slater determinant alone (occupied\n"
        "k-set of the twist, no parameters; its energy is the Hartree-Fock energy of jellium), for\n"
        "clamped nuclei and optimisation.steps = 0.",
    )
    one_electron_width: int = option(32, "Width of the one-electron stream h_i (Alg. 2).")
    two_electron_width: int = option(8, "Width of the two-electron stream h_ij (Alg. 2).")
    layers: int = option(2, "Number of interaction layers.")
    determinants: int = option(4, "Number of Slater determinants (summed with weights).")
    jastrow: bool = option(True, "Multiply by an electron-electron cusp Jastrow factor exp(J).")
    twist_input: Literal["auto", "on", "off"] = option(
        "auto",
        "Feed the walker's twist, (sin 2 pi t, cos 2 pi t), into every electron's input stream, so that one\n"
        "network trained over a twist set (system.twist_mode = 'shared') can shape its orbitals per twist\n"
        "(docs/validation_twists.md: without it the shared network stays above separate runs). 'auto':\n"
        "on for a twist set trained as one network, off for a single twist (Gamma networks unchanged).",
    )
    twist_orbitals: Literal["shared", "per_twist"] = option(
        "shared",
        "The orbital maps u = Orb h_j of a network trained over a twist set: 'shared' by all twists, or\n"
        "'per_twist', each twist its own Orb^Re, Orb^Im over the shared streams (the orbitals' periodic parts\n"
        "differ most between twists; docs/validation_twists.md, 'Pretraining a twisted molecular crystal').",
    )
    open_shells: Literal["combined", "fixed"] = option(
        "combined",
        "Orbitals of a partly filled outer plane-wave shell (e.g. 3 of 6 at Gamma in the 8-atom H2 crystal):\n"
        "'combined', each a learned combination of the whole shell, sum_b u_ab(h_j) exp(i k_b . r_j) (the\n"
        "Hartree-Fock orbitals mix the shell, and the state keeps the lattice's symmetry); 'fixed', each the\n"
        "one plane wave a tie-break picks (the only form before session 17). Closed shells: the same network.\n"
        "docs/validation_twists.md, 'Partly filled shells combined'.",
    )
    nuclear_width: int = option(32, "Width of the nuclear pair stream (Alg. 1); quantum nuclei only.")
    nuclear_layers: int = option(2, "Layers of the nuclear pair stream (Alg. 1).")
    nuclear_pair_width_bohr: float = option(
        0.15, "Initial spread of each pair distance in |chi|^2 (sets sigma_IJ = 1 / (2 width), Eq. 3)."
    )
    mpnn_node_width: int = option(32, "'mpnn': width of the node (particle) states h_a.")
    mpnn_edge_width: int = option(16, "'mpnn': width of the edge (pair) states e_ab.")
    mpnn_rounds: int = option(2, "'mpnn': rounds of edge and node updates (message passing).")
    mpnn_backflow: bool = option(
        True,
        "'mpnn': backflow orbitals (shifted plane waves with learned amplitudes). false: one determinant of\n"
        "the bare plane waves, nodes fixed (jellium: at the Hartree-Fock state's; with jastrow = false and\n"
        "no training the network is then the plane-wave determinant); set determinants = 1.",
    )

    def check(self):
        require(self.nuclear_pair_width_bohr > 0, "nuclear_pair_width_bohr", "must be > 0")
        for name in (
            "one_electron_width", "two_electron_width", "layers", "determinants", "nuclear_width", "nuclear_layers",
            "mpnn_node_width", "mpnn_edge_width", "mpnn_rounds",
        ):
            require(getattr(self, name) >= 1, name, f"must be >= 1, got {getattr(self, name)}")
        if self.ansatz == "mpnn" and not self.mpnn_backflow:
            require(self.determinants == 1, "determinants", "mpnn_backflow = false has one plane-wave determinant: set 1")
        defaults = {field.name: field.default for field in dataclasses.fields(self)}
        for name in UNUSED_NETWORK_FIELDS.get(self.ansatz, ()):
            require(getattr(self, name) == defaults[name], name, f"not used by ansatz = '{self.ansatz}'; remove it")


@dataclasses.dataclass(frozen=True)
class HamiltonianConfig:
    laplacian: Literal["forward", "hessian"] = option(
        "forward", "Kinetic energy by folx's forward Laplacian, or by the full Hessian (reference, slower)."
    )
    sparsity_threshold: int = option(
        6,
        "folx's forward Laplacian: carry a gradient as sparse while it depends on at most this many\n"
        "input coordinates (0: always dense; 6: the electron pair stream stays sparse). Same numbers,\n"
        "different FLOPs (benchmarks/folx_sparsity.py).",
    )
    walker_chunk: int | Literal["auto"] = option(
        "auto",
        "Local energies of this many walkers at a time (0: the whole batch at once): memory of the\n"
        "Laplacian bounded as the system grows, and on CPUs less time from 16 electrons up. Must divide\n"
        "the batch and be divisible by the devices. 'auto': 16 walkers per CPU device from 16 electrons\n"
        "up (when that divides the batch), else the whole batch (docs/performance.md, 'Walker chunks').",
    )

    def check(self):
        require(self.sparsity_threshold >= 0, "sparsity_threshold", f"must be >= 0, got {self.sparsity_threshold}")
        require(self.walker_chunk == "auto" or self.walker_chunk >= 0, "walker_chunk",
                f"must be >= 0 or 'auto', got {self.walker_chunk}")


@dataclasses.dataclass(frozen=True)
class SamplingConfig:
    batch_size: int = option(256, "Number of walkers (split over all devices).")
    sampler: Literal["gibbs", "joint"] = option(
        "gibbs",
        "Quantum nuclei: 'gibbs' block sampler (Alg. 3: nuclear moves from p(R|r), then electron moves\n"
        "from p(r|R), each block with its own step) or 'joint' one-shot moves of both (Alg. 4).",
    )
    sweeps_per_step: int = option(10, "Metropolis sweeps (Gibbs blocks) between optimisation steps.")
    moves_per_block: int = option(1, "Moves of each block per sweep (T of Alg. 3).")
    nuclear_moves_per_block: int = option(
        0,
        "Moves of the nuclear block per sweep in the Gibbs sampler (0 = moves_per_block). Nuclei mix far\n"
        "more slowly than electrons: in the 16-atom crystal proton displacements stay 50 % correlated\n"
        "after 40 steps of 10 sweeps.",
    )
    burn_in_sweeps: int = option(200, "Sweeps before the first step (and after pretraining).")
    electron_step_bohr: float = option(0.3, "Initial width of the Gaussian electron move (bohr).")
    max_electron_step_bohr: float = option(
        2.0,
        "Upper bound of the adapted electron move width (bohr): in small cells the acceptance may\n"
        "never reach its target, and an unbounded width degrades float32 positions.",
    )
    target_acceptance: float = option(0.55, "Acceptance the electron step width is adapted to.")
    nuclear_step_bohr: float = option(0.05, "Initial width of the Gaussian nuclear move (bohr).")
    max_nuclear_step_bohr: float = option(0.5, "Upper bound of the adapted nuclear move width (bohr).")
    nuclear_target_acceptance: float = option(0.5, "Acceptance the nuclear step width is adapted to.")
    adapt_every: int = option(10, "Steps between step-width adaptations.")
    resample_after_update: bool | Literal["auto"] = option(
        "auto",
        "Sequential Monte Carlo: before each optimisation step, resample the walkers in proportion to\n"
        "|Psi_new/Psi_old|^2 at their positions, the change of |Psi|^2 made by the last update, so that\n"
        "walkers in regions it emptied are not kept at full weight until the sampler moves them out.\n"
        "'auto': on for quantum nuclei (without it chi ran away in every long quantum run measured:\n"
        "docs/validation.md, docs/validation_twists.md), off for clamped nuclei.",
    )

    def check(self):
        require(self.batch_size >= 1, "batch_size", f"must be >= 1, got {self.batch_size}")
        require(self.sweeps_per_step >= 1, "sweeps_per_step", "must be >= 1")
        require(self.burn_in_sweeps >= 0, "burn_in_sweeps", "must be >= 0")
        require(self.electron_step_bohr > 0, "electron_step_bohr", "must be > 0")
        require(
            self.max_electron_step_bohr >= self.electron_step_bohr,
            "max_electron_step_bohr",
            "must be >= electron_step_bohr",
        )
        require(0.0 < self.target_acceptance < 1.0, "target_acceptance", "must lie in (0, 1)")
        require(self.moves_per_block >= 1, "moves_per_block", "must be >= 1")
        require(self.nuclear_moves_per_block >= 0, "nuclear_moves_per_block", "must be >= 0")
        require(self.nuclear_step_bohr > 0, "nuclear_step_bohr", "must be > 0")
        require(self.max_nuclear_step_bohr >= self.nuclear_step_bohr, "max_nuclear_step_bohr", "must be >= nuclear_step_bohr")
        require(0.0 < self.nuclear_target_acceptance < 1.0, "nuclear_target_acceptance", "must lie in (0, 1)")
        require(self.adapt_every >= 1, "adapt_every", "must be >= 1")


@dataclasses.dataclass(frozen=True)
class OptimisationConfig:
    optimiser: Literal["kfac", "spring", "adam"] = option(
        "kfac",
        "'kfac' (kfac-jax), 'spring' (kernel stochastic reconfiguration with momentum, qsolid.vmc.optim)\n"
        "or 'adam' (optax).",
    )
    steps: int = option(1000, "Number of optimisation steps.")
    learning_rate: float = option(0.05, "lr in lr / (1 + t / delay)^decay.")
    learning_rate_delay: float = option(1000.0, "delay in lr / (1 + t / delay)^decay.")
    learning_rate_decay: float = option(1.0, "decay in lr / (1 + t / delay)^decay.")
    nuclear_learning_rate: float = option(
        1e-3,
        "Quantum nuclei: Adam learning rate of chi's parameters (Alg. 1, Eq. 3), decayed like the\n"
        "electrons' (0 keeps chi fixed); chi takes Adam steps because KFAC's natural-gradient steps\n"
        "leave it almost fixed.",
    )
    damping: float = option(1e-3, "KFAC damping; SPRING's diagonal shift lambda of the metric.")
    norm_constraint: float = option(
        1e-3, "KFAC and SPRING: bound C on the update's squared length in the metric, eta^2 |d|_F^2 <= C."
    )
    momentum: float = option(0.99, "SPRING's momentum mu (0: damped stochastic reconfiguration).")
    clip_local_energy: float = option(
        5.0,
        "Clip local energies to mean +- clip * (mean absolute deviation) in the gradient; 0 disables.",
    )

    def check(self):
        require(self.steps >= 0, "steps", f"must be >= 0, got {self.steps}")
        require(self.learning_rate > 0, "learning_rate", "must be > 0")
        require(self.nuclear_learning_rate >= 0, "nuclear_learning_rate", "must be >= 0")
        require(self.learning_rate_delay > 0, "learning_rate_delay", "must be > 0")
        require(self.learning_rate_decay >= 0, "learning_rate_decay", "must be >= 0")
        require(self.damping > 0, "damping", "must be > 0")
        require(self.norm_constraint > 0, "norm_constraint", "must be > 0")
        require(0.0 <= self.momentum < 1.0, "momentum", f"must lie in [0, 1), got {self.momentum}")
        require(self.clip_local_energy >= 0, "clip_local_energy", "must be >= 0")


@dataclasses.dataclass(frozen=True)
class PretrainConfig:
    steps: int = option(
        100,
        "Steps fitting the orbitals to Hartree-Fock (0 disables pretraining; jellium has none: its\n"
        "Hartree-Fock state is the plane-wave determinant the 'mpnn' orbitals start from).",
    )
    basis: str = option("ccpvdz", "Gaussian basis of the periodic Hartree-Fock calculation (PySCF name).")
    learning_rate: float = option(3e-3, "Adam learning rate of the orbital fit.")

    def check(self):
        require(self.steps >= 0, "steps", "must be >= 0")
        require(self.learning_rate > 0, "learning_rate", "must be > 0")


@dataclasses.dataclass(frozen=True)
class EvaluationConfig:
    steps: int = option(300, "Inference steps of `qsolid evaluate` (frozen parameters).")
    sweeps_per_step: int = option(10, "Metropolis sweeps between evaluation steps.")

    def check(self):
        require(self.steps >= 1, "steps", "must be >= 1")
        require(self.sweeps_per_step >= 1, "sweeps_per_step", "must be >= 1")


@dataclasses.dataclass(frozen=True)
class Config:
    seed: int = option(0, "Random seed: the same config and seed reproduce a run on the same machine.")
    precision: Literal["float32", "float64"] = option("float32", "Floating-point precision of the run.")
    system: SystemConfig = section("The crystal or molecule: structure, density, cell, twist, spins.", SystemConfig)
    network: NetworkConfig = section("Electronic wavefunction (seed 000, Alg. 2).", NetworkConfig)
    hamiltonian: HamiltonianConfig = section("Local energy (Eq. S3) and Ewald potential.", HamiltonianConfig)
    sampling: SamplingConfig = section("Metropolis-Hastings sampling of |Psi|^2.", SamplingConfig)
    optimisation: OptimisationConfig = section("Energy minimisation (Eq. 6, first term).", OptimisationConfig)
    npt: NptConfig = section(
        "Constant pressure (seed 000, Sec. II B): lattice_mode 'fixed' keeps the cell (NVT, run length\n"
        "optimisation.steps); 'lengths' or 'full' anneal it at pressure_gpa on the schedule below.",
        NptConfig,
    )
    pretrain: PretrainConfig = section("Pretraining of the orbitals to periodic Hartree-Fock.", PretrainConfig)
    evaluation: EvaluationConfig = section("Inference with frozen parameters.", EvaluationConfig)
    output: OutputConfig = section("Checkpoints.", OutputConfig)

    @property
    def resamples_after_update(self) -> bool:
        """sampling.resample_after_update with 'auto' resolved (on for quantum nuclei)."""
        choice = self.sampling.resample_after_update
        return self.system.nuclei == "quantum" if choice == "auto" else choice

    def check(self):
        """Checks across sections."""
        if self.network.ansatz == "slater":
            require(self.optimisation.steps == 0, "optimisation.steps", "the 'slater' ansatz has no parameters to train: set 0")
            require(self.npt.lattice_mode == "fixed", "npt.lattice_mode", "the 'slater' ansatz runs at fixed cell: set 'fixed'")
            require(self.system.nuclei == "clamped", "system.nuclei", "the 'slater' ansatz needs clamped nuclei")
        elif self.system.structure == "jellium" and self.network.ansatz != "mpnn":
            raise ConfigError("network.ansatz: jellium needs 'slater' or 'mpnn' (the 'neural' envelopes are built on nuclei)")
        if self.system.structure == "jellium":
            require(self.npt.lattice_mode == "fixed", "npt.lattice_mode", "jellium runs at the fixed density rs: set 'fixed'")
        if self.system.configurations:
            require(self.npt.lattice_mode == "fixed", "npt.lattice_mode", "a configuration set is trained at fixed cell: set 'fixed'")


MAIN_JOB_PATH = Path(__file__).with_name("main_job.toml")
"""The built-in main job, `qsolid run` without a config (also examples/main_job.toml)."""


def main_job_config() -> Config:
    """The config `qsolid run` runs when no file is given (MAIN_JOB_PATH)."""
    return load_config(MAIN_JOB_PATH)


def load_config(path=None, overrides: dict | None = None) -> Config:
    """The default config, or the one in the TOML file `path`, fully validated."""
    data = load_toml(path) if path is not None else {}
    if "twist" in data.get("system", {}) or "system.twist" in (overrides or {}):
        raise ConfigError("system.twist: replaced by system.twists (e.g. twists = [[0.25, 0.25, 0.25]], 'gamma' or 'baldereschi')")
    for dotted, value in (overrides or {}).items():
        table = data
        *parents, leaf = dotted.split(".")
        for parent in parents:
            table = table.setdefault(parent, {})
        table[leaf] = value
    return parse(Config, data)


__all__ = ["Config", "ConfigError", "MAIN_JOB_PATH", "load_config", "main_job_config"]
