"""The typed configuration of a `qsolid dvfe run` (`qsolid dvfe config` prints it commented).

Vocabulary of the VMC engine: top-level seed and precision; [system] n_atoms,
rs, temperature_k; [sampling] batch_size; [optimisation] steps,
learning_rate; [evaluation] steps; [output] checkpoint_every. V(X) of the
classical protons is the [potential] section plus, with [electrons] enabled, the
energy of the electrons in their variational ground state for every X
(qsolid.dvfe.electrons), with the wavefunction of `qsolid run`'s [network]
section.
"""

import dataclasses
from typing import ClassVar, Literal

from qsolid import twists as twist_sets
from qsolid import units
from qsolid.schema import OutputConfig, load_toml, option, parse, require, section
from qsolid.vmc.config import NetworkConfig


@dataclasses.dataclass(frozen=True)
class System:
    n_atoms: int = option(16, "Number of protons N in the cubic box.")
    rs: float = option(1.25, "Wigner-Seitz radius r_s (bohr) of the N electrons the protons would bring; sets the box.")
    temperature_k: float = option(6000.0, "Temperature in kelvin.")
    proton_mass_me: float = option(units.PROTON_MASS_ME, "Proton mass in electron masses (enters the thermal wavelength).")

    def check(self):
        require(self.n_atoms >= 1, "n_atoms", "must be at least 1")
        require(self.rs > 0, "rs", "must be positive")
        require(self.temperature_k > 0, "temperature_k", "must be positive (the variational free energy is for T > 0)")
        require(self.proton_mass_me > 0, "proton_mass_me", "must be positive")


@dataclasses.dataclass(frozen=True)
class Potential:
    kind: Literal["none", "gaussian"] = option(
        "none", "V(X) of the classical protons: 'none' (ideal gas) or 'gaussian' (image-summed Gaussian pair term).")
    strength_ha: float = option(0.0, "eps of v(r) = eps exp(-r^2 / (2 sigma^2)) (Ha; > 0 repulsive).")
    width_bohr: float = option(1.0, "sigma of the Gaussian pair term (bohr); at most a quarter of the box.")

    def check(self):
        require(self.width_bohr > 0, "width_bohr", "must be positive")


@dataclasses.dataclass(frozen=True)
class Base:
    kind: Literal["uniform", "gaussian", "coulomb"] = option(
        "uniform",
        "Base distribution p_base(Z) of the flow (seed 001, Eq. 3; qsolid.dvfe.base): 'uniform' on the torus,\n"
        "or exp(-E_base / k_B T_base) of the image-summed Gaussian pair term ('gaussian') or of the protons'\n"
        "bare Coulomb energy in a neutralising background ('coulomb', the one-component plasma). A base\n"
        "other than 'uniform' is sampled by a latent Markov chain (sampling.latent_step_bohr).")
    strength_ha: float = option(0.0, "'gaussian': eps of eps exp(-r^2 / (2 sigma^2)) (Ha).")
    width_bohr: float = option(1.0, "'gaussian': sigma (bohr); at most a quarter of the box.")
    temperature_k: float = option(0.0, "T_base in kelvin; 0: the system's temperature.")
    ais_walkers: int = option(256, "Walkers of the annealed importance sampling of ln Z_base (at least sampling.batch_size).")
    ais_stages: int = option(100, "Stages beta_k = (k / K)^3 of the annealing.")
    ais_sweeps: int = option(2, "Metropolis sweeps of single-proton moves per stage.")
    step_bohr: float = option(0.3, "Width of the single-proton Gaussian moves of the annealing (bohr).")

    def check(self):
        require(self.width_bohr > 0, "width_bohr", "must be positive")
        require(self.temperature_k >= 0, "temperature_k", "must be non-negative (0: the system's)")
        require(self.ais_walkers >= 2, "ais_walkers", "must be at least 2")
        require(self.ais_stages >= 1, "ais_stages", "must be at least 1")
        require(self.ais_sweeps >= 1, "ais_sweeps", "must be at least 1")
        require(self.step_bohr > 0, "step_bohr", "must be positive")


@dataclasses.dataclass(frozen=True)
class Electrons:
    MOVED: ClassVar[dict[str, str]] = {"proton_step_bohr": "sampling.latent_step_bohr"}
    enabled: bool = option(
        False,
        "Quantum electrons: V(X) gains E_X, the energy of one ensemble wavefunction Psi(r; X) ([network])\n"
        "for every proton configuration, sampled and trained with the flow (qsolid.dvfe.electrons).")
    walkers_per_configuration: int = option(16, "Electron walkers sampling |Psi(r; X)|^2 per proton configuration and twist.")
    twists: str | dict[str, tuple[int, ...] | bool] | tuple[tuple[float, ...], ...] = option(
        "gamma",
        "Boundary condition of the electrons: 'gamma', 'baldereschi', a Monkhorst-Pack grid\n"
        "{grid = [n, n, n], shift = true} (every twist of the grid: disordered protons have no symmetry\n"
        "to reduce it) or a list of twists; all trained together (the twist an input of Psi).")
    sweeps_per_step: int = option(10, "Metropolis sweeps of the electrons after every proton move.")
    burn_in_sweeps: int = option(200, "Electron sweeps before the first step.")
    electron_step_bohr: float = option(0.3, "Initial width of the Gaussian electron move (bohr), adapted to 55 % acceptance.")
    optimiser: Literal["kfac", "adam"] = option("kfac", "Optimiser of Psi: 'kfac' (kfac-jax) or 'adam' (optax).")
    learning_rate: float = option(0.05, "Learning rate of Psi, lr / (1 + t / 1000).")
    warmup_steps: int = option(
        0, "Steps training Psi alone over the protons of the initial flow, before the joint training (seed Fig. 1).")

    def check(self):
        require(self.walkers_per_configuration >= 1, "walkers_per_configuration", "must be at least 1")
        require(self.twists != "auto", "twists", "give the boundary condition ('gamma', 'baldereschi', a grid or a list)")
        problem = twist_sets.check_spec(self.twists)
        require(problem is None, "twists", str(problem))
        require(self.sweeps_per_step >= 1, "sweeps_per_step", "must be at least 1")
        require(self.burn_in_sweeps >= 0, "burn_in_sweeps", "must be non-negative")
        require(self.electron_step_bohr > 0, "electron_step_bohr", "must be positive")
        require(self.learning_rate > 0, "learning_rate", "must be positive")
        require(self.warmup_steps >= 0, "warmup_steps", "must be non-negative")


@dataclasses.dataclass(frozen=True)
class Flow:
    kind: Literal["backflow", "monotone", "identity"] = option(
        "backflow",
        "'backflow': Z = X + f(X) (seed Alg. 1); 'monotone': X = G(Z), blocks that are gradients of convex\n"
        "pair-potential functions, one-to-one by construction (qsolid.dvfe.monotone_flow; uses layers and\n"
        "radial_scales); 'identity': Z = X (uniform p, the ideal-gas check).")
    layers: int = option(2, "Message-passing layers of f (backflow); blocks of G (monotone).")
    single_width: int = option(16, "Width of the one-particle features h_I.")
    pair_width: int = option(8, "Width of the pair features h_IJ.")
    harmonics: int = option(2, "Harmonics n = 1..H of sin/cos(2 pi n s) in the pair features.")
    radial_scales: tuple[float, ...] = option(
        (0.5, 1.0, 2.0), "Widths (in mean spacings) of the radial features exp(-d^2 / w^2) (seed Eq. A8's scale set);\n"
        "monotone: of its cones and Gaussians.")

    def check(self):
        require(self.layers >= 0, "layers", "must be non-negative")
        require(self.single_width >= 1 and self.pair_width >= 1, "single_width", "widths must be positive")
        require(self.harmonics >= 1, "harmonics", "must be at least 1")
        require(all(w > 0 for w in self.radial_scales), "radial_scales", "must be positive")


@dataclasses.dataclass(frozen=True)
class Sampling:
    batch_size: int = option(256, "Proton configurations per step (uniform Z pushed through the inverse flow: independent).")
    latent_step_bohr: float = option(
        0.1, "Width of the Gaussian random walk of the latent Z (bohr; Metropolis on p_base) that moves the\n"
        "protons: with electrons always, without them for a base other than 'uniform' (else the draws are independent).")
    fixed_point_iterations: int = option(20, "Fixed-point iterations X <- Z - f(X) of the flow inversion.")
    newton_steps: int = option(3, "Newton steps polishing the inversion (exact Jacobian).")

    def check(self):
        require(self.batch_size >= 2, "batch_size", "must be at least 2 (the gradient's baseline leaves one out)")
        require(self.latent_step_bohr > 0, "latent_step_bohr", "must be positive")
        require(self.fixed_point_iterations >= 0, "fixed_point_iterations", "must be non-negative")
        require(self.newton_steps >= 0, "newton_steps", "must be non-negative")


@dataclasses.dataclass(frozen=True)
class Optimisation:
    steps: int = option(200, "Training steps of the flow (Adam, score-function gradient).")
    learning_rate: float = option(3e-3, "Adam learning rate.")
    clip_width: float = option(
        5.0, "In the flow's gradient, clip l = k_B T ln p + V to median +- width * mean|l - median| (0: off).")

    def check(self):
        require(self.steps >= 0, "steps", "must be non-negative")
        require(self.learning_rate > 0, "learning_rate", "must be positive")
        require(self.clip_width >= 0, "clip_width", "must be non-negative")


@dataclasses.dataclass(frozen=True)
class Evaluation:
    steps: int = option(100, "Steps with frozen parameters; the reported numbers and error bars come from them.")

    def check(self):
        require(self.steps >= 1, "steps", "must be at least 1")


@dataclasses.dataclass(frozen=True)
class Config:
    seed: int = option(0, "Random seed: the same config and seed give the same numbers.")
    precision: Literal["float32", "float64"] = option("float64", "Floating-point precision of the run.")
    system: System = section("Protons, density and temperature.", System)
    potential: Potential = section("Classical potential V(X) of the protons.", Potential)
    base: Base = section("Base distribution of the flow.", Base)
    electrons: Electrons = section("Quantum electrons in their ground state for every proton configuration.", Electrons)
    network: NetworkConfig = section("Ensemble electronic wavefunction Psi(r; X), as in `qsolid run` (with [electrons]).", NetworkConfig)
    flow: Flow = section("Normalizing flow of the proton distribution (seed 001, Eq. 3, Alg. 1).", Flow)
    sampling: Sampling = section("Exact sampling of p(X) through the inverse flow.", Sampling)
    optimisation: Optimisation = section("Training of the flow.", Optimisation)
    evaluation: Evaluation = section("Evaluation with frozen parameters.", Evaluation)
    output: OutputConfig = section("Checkpoints.", OutputConfig)

    def check(self):
        from qsolid.dvfe.electrons import reference_crystal
        from qsolid.dvfe.thermo import box_length_bohr

        if self.base.kind != "uniform":
            require(self.base.ais_walkers >= self.sampling.batch_size, "base.ais_walkers",
                    f"must be at least sampling.batch_size ({self.sampling.batch_size}): the annealed walkers start the chain")
        if self.electrons.enabled:
            reference_crystal(self.system.n_atoms)
            require(self.network.ansatz != "slater" or self.electrons.warmup_steps == 0, "electrons.warmup_steps",
                    "the 'slater' ansatz has no parameters to train: set 0")
        box = box_length_bohr(self.system.n_atoms, self.system.rs)
        require(self.potential.kind != "gaussian" or self.potential.width_bohr <= box / 4,
                "potential.width_bohr", f"must be at most a quarter of the box ({box / 4:.6g} bohr) for the image sum")
        require(self.base.kind != "gaussian" or self.base.width_bohr <= box / 4,
                "base.width_bohr", f"must be at most a quarter of the box ({box / 4:.6g} bohr) for the image sum")


def from_dict(data: dict) -> Config:
    return parse(Config, data)


def load(path) -> Config:
    return from_dict(load_toml(path))
