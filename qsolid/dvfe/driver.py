"""The dvfe run: classical protons from a normalizing flow, trained and evaluated.

RUN_DIR holds config.toml, qsolid.log, stats.csv (one row per step; phase 0 =
training, 1 = evaluation, 2 = the electrons' warm-up; per-step batch means of
F, E, S, P with their batch standard errors), checkpoints/, summary.json,
training.png, the proton g(r) and S(k) of the evaluation phase in
structure.npz and g_of_r.png (qsolid.dvfe.observables), and in samples.npz the
batch of proton configurations X ~ p of the end of the run, for `qsolid analyze
RUN_DIR` (qsolid.analysis.samples). The random key of step
k is fold_in(seed, k), and the final numbers are computed from the evaluation
rows of stats.csv (g(r) and S(k) from per-step rows kept in the checkpoint), so
an interrupted and resumed run reports exactly what an uninterrupted one would.
Without electrons the steps' batches are independent (exact sampling), and the
reblocked error bars find no correlation; with electrons (qsolid.dvfe.electrons)
protons and electrons are Markov chains, and the reblocking measures their
correlation.

Precision is set for the duration of run() and restored afterwards.
"""

import functools
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from qsolid import checkpoint, precision, rundir, schema
from qsolid.progress import Progress, Silent
from qsolid.runloop import train_then_evaluate
from qsolid.dvfe import base as proton_base
from qsolid.dvfe import electrons, flow, observables, plots, potentials, thermo, training
from qsolid.schema import ConfigError
from qsolid.stats import reblock

OBSERVABLES = ("free_energy", "energy", "entropy", "pressure_gpa")
STAT_COLUMNS = ("step", "phase") + tuple(c for name in OBSERVABLES for c in (name, f"{name}_error")) + (
    "inverse_residual_bohr", "nonpositive_jacobians", "rejected")
SAMPLES_FILE = "samples.npz"
SUMMARY_KEYS = {"free_energy": "free_energy_ha_per_atom", "energy": "energy_ha_per_atom",
                "entropy": "entropy_kb_per_atom", "pressure_gpa": "pressure_gpa"}
CLASSICAL = "classical protons, no electrons"
QUADRATURE_GRID = 24
INITIAL_ELECTRONS_KEY = 2**32 - 1
"""fold_in datum of the electrons' initial state; the steps use fold_in(seed, step)."""


def ensemble_of(config) -> thermo.Ensemble:
    system = config.system
    return thermo.Ensemble(n_particles=system.n_atoms, box_length=thermo.box_length_bohr(system.n_atoms, system.rs),
                           temperature=thermo.kelvin_to_hartree(system.temperature_k), mass=system.proton_mass_me)


def flow_shape_of(config) -> flow.FlowShape:
    f = config.flow
    return flow.FlowShape(kind=f.kind, layers=f.layers, single_width=f.single_width,
                          pair_width=f.pair_width, harmonics=f.harmonics, radial_scales=tuple(f.radial_scales))


def inversion_of(config) -> flow.Inversion:
    s = config.sampling
    return flow.Inversion(s.fixed_point_iterations, s.newton_steps)


def initial_keys(config):
    """(latent key, electrons key) of the electrons' initial state; the steps use fold_in(seed, step)."""
    return jax.random.split(jax.random.fold_in(jax.random.PRNGKey(config.seed), INITIAL_ELECTRONS_KEY))


def base_partition(config, ensemble, base: proton_base.Base):
    """(ln Z_base, its error, the annealed walkers, acceptance) of the run's base (base_of;
    qsolid.dvfe.base.anneal): the same numbers in every call for the same config."""
    b = config.base
    dtype = jnp.float64 if config.precision == "float64" else jnp.float32
    return proton_base.anneal(base, ensemble, jax.random.fold_in(initial_keys(config)[0], 1),
                              b.ais_walkers, b.ais_stages, b.ais_sweeps, b.step_bohr, dtype)


def base_of(config, ensemble) -> proton_base.Base:
    """The flow's base distribution ([base]; qsolid.dvfe.base)."""
    b = config.base
    temperature = thermo.kelvin_to_hartree(b.temperature_k or config.system.temperature_k)
    if b.kind == "uniform":
        return proton_base.Base(None, temperature)
    if b.kind == "coulomb":
        return proton_base.Base(potentials.coulomb_potential(ensemble.n_particles, ensemble.box_length), temperature)
    return proton_base.Base(potentials.make_potential("gaussian", b.strength_ha, b.width_bohr), temperature)


def potential_spec_of(config) -> tuple:
    p = config.potential
    return p.kind, p.strength_ha, p.width_bohr


class Run:
    """A run directory bound to a config: owns the state, the jitted steps and the statistics file."""

    def __init__(self, config, run_dir, resume: bool = False):
        self.config = config
        self.run_dir = Path(run_dir)
        if not resume and self.run_dir.exists() and any(self.run_dir.iterdir()):
            raise ConfigError(f"out: {self.run_dir} exists and is not empty (resume it with --resume {self.run_dir})")
        if resume and checkpoint.latest(self.run_dir / "checkpoints") is None:
            raise ConfigError(f"resume: no checkpoint in {self.run_dir / 'checkpoints'}")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.logger = rundir.setup_logging(self.run_dir)
        self.ensemble, self.shape = ensemble_of(config), flow_shape_of(config)
        self.potential = potentials.make_potential(*potential_spec_of(config))
        self.optimizer = training.make_optimizer(config.optimisation.learning_rate)
        self.warmup = config.electrons.warmup_steps if config.electrons.enabled else 0
        self.total_steps = self.warmup + config.optimisation.steps + config.evaluation.steps
        self.base = base_of(config, self.ensemble)
        self.chain = not self.base.uniform and not config.electrons.enabled
        extra = electrons.ELECTRON_COLUMNS if config.electrons.enabled else ("proton_acceptance",) if self.chain else ()
        self.columns = STAT_COLUMNS + extra
        self.stats = rundir.StatsFile(self.run_dir / "stats.csv", self.columns)
        params = flow.init(jax.random.PRNGKey(config.seed), self.shape)
        self.state = {"params": params, "opt_state": self.optimizer.init(params)}
        # g(r), S(k): per-evaluation-step rows in the checkpointed state (qsolid.dvfe.observables)
        self.structure = observables.ProtonStructure(self.ensemble.box_length, self.ensemble.n_particles)
        self.state["structure"] = self.structure.empty(config.evaluation.steps)
        self.problem = None
        self.log_partition, self.log_partition_error = proton_base.uniform_log_partition(
            self.ensemble.n_particles, self.ensemble.box_length, self.ensemble.dimension), 0.0
        if config.electrons.enabled:
            self._add_electrons()
        elif self.chain:
            self.state["latent"] = self._anneal_base()
        self.step = 0
        if resume:
            path = checkpoint.latest(self.run_dir / "checkpoints")
            self.state, metadata = checkpoint.load(path, self.state)
            self.step = int(metadata["step"])
            self.electron_step_bohr = metadata.get("electron_step_bohr")
            self.stats.truncate_after(self.step)
            self.logger.info("resumed from %s at step %d", path, self.step)
        else:
            rundir.atomic_write_text(self.run_dir / "config.toml", schema.to_commented_toml(config))
            self.logger.info("new run: N = %d, L = %.6f bohr, k_B T = %.8g Ha", self.ensemble.n_particles,
                             self.ensemble.box_length, self.ensemble.temperature)
        if self.problem is not None:
            self.state.update(electrons.placed(self.problem, self.state))
        sampling = config.sampling
        if self.problem is None:
            chain = None
            if self.chain:
                chain = training.LatentChain(self.base, self.log_partition, sampling.latent_step_bohr)
            self._steps = {
                train: training.make_step(self.shape, self.ensemble, potential_spec_of(config),
                                          config.optimisation.learning_rate, sampling.batch_size,
                                          inversion_of(config), train,
                                          config.optimisation.clip_width, measure=None if train else self.structure,
                                          chain=chain)
                for train in (True, False)
            }

    def _anneal_base(self):
        """ln Z_base by annealed importance sampling (logged); the annealed walkers that start the latent chain."""
        b = self.config.base
        self.log_partition, self.log_partition_error, annealed, acceptance = base_partition(
            self.config, self.ensemble, self.base)
        self.logger.info("base '%s': ln Z_base = %.10g +- %.2g by annealed importance sampling (%d walkers, "
                         "%d stages, acceptance %.2f)", b.kind, self.log_partition, self.log_partition_error,
                         b.ais_walkers, b.ais_stages, acceptance)
        return annealed[:self.config.sampling.batch_size]

    def _add_electrons(self):
        """The electrons' problem, state and steps (qsolid.dvfe.electrons), at the flow's first protons."""
        config, sampling = self.config, self.config.sampling
        latent_key, electrons_key = initial_keys(config)
        dtype = jnp.float64 if config.precision == "float64" else jnp.float32
        if self.base.uniform:
            latent = electrons.initial_latent(latent_key, self.ensemble, sampling.batch_size, dtype)
        else:
            latent = self._anneal_base()
        positions, _ = training.protons_of(self.state["params"], self.shape, self.ensemble, latent, inversion_of(config))
        self.problem = electrons.make_problem(config, np.asarray(positions) / self.ensemble.box_length)
        self.logger.info("electrons: %s, %d walkers (%d configurations x %d twists x %d), Psi '%s'",
                         electrons.boundary_condition(config, self.problem), self.problem.config.sampling.batch_size,
                         sampling.batch_size, len(self.problem.system.twists), config.electrons.walkers_per_configuration,
                         config.network.ansatz)
        self.state.update(electrons.initial_state(self.problem, latent, electrons_key))
        self.electron_step_bohr = config.electrons.electron_step_bohr
        trains = electrons.trains_wavefunction(config)
        make = functools.partial(
            electrons.make_step, self.problem, self.shape, self.ensemble, self.potential,
            config.optimisation.learning_rate, config.optimisation.clip_width, config.sampling.latent_step_bohr,
            inversion_of(config), base=self.base, log_partition=self.log_partition)
        self._steps = {phase: make(spec) for phase, spec in (
            (2, electrons.StepSpec(train_flow=False, train_wavefunction=trains)),
            (0, electrons.StepSpec(train_flow=True, train_wavefunction=trains)),
            (1, electrons.StepSpec(train_flow=False, train_wavefunction=False, measure=self.structure)))}

    def checkpoint(self):
        directory = self.run_dir / "checkpoints"
        metadata = {"step": self.step}
        if self.problem is not None:
            metadata["electron_step_bohr"] = self.electron_step_bohr
        checkpoint.save(checkpoint.step_path(directory, self.step), self.state, metadata)
        checkpoint.prune(directory, self.config.output.keep_checkpoints)

    def phase(self, index: int) -> int:
        """0 training, 1 evaluation, 2 warm-up of the electrons (Psi trained, flow fixed)."""
        if index < self.warmup:
            return 2
        return 0 if index < self.warmup + self.config.optimisation.steps else 1

    def take_step(self, index: int) -> dict:
        """Warm-up, training or evaluation step `index`; the statistics row."""
        phase = self.phase(index)
        key = jax.random.fold_in(jax.random.PRNGKey(self.config.seed), index)
        if self.chain:
            params, opt_state, latent, stats = self._steps[phase == 0](
                self.state["params"], self.state["opt_state"], key, self.state["latent"])
            self.state = dict(self.state, params=params, opt_state=opt_state, latent=latent)
        elif self.problem is None:
            params, opt_state, stats = self._steps[phase == 0](self.state["params"], self.state["opt_state"], key)
            self.state = dict(self.state, params=params, opt_state=opt_state)
        else:
            moving = {name: self.state[name] for name in electrons.STATE_KEYS}
            moved, stats = self._steps[phase](moving, key, self.electron_step_bohr)
            self.state = dict(self.state, **moved)
        if phase == 1:
            first = self.warmup + self.config.optimisation.steps
            self.structure.record(self.state["structure"], index - first, stats.pop("structure"))
        self.step = index + 1
        row = {name: float(value) for name, value in stats.items()}
        row.update(step=self.step, phase=phase)
        if self.problem is not None:
            self.electron_step_bohr = electrons.adapted_electron_step(
                self.problem, self.electron_step_bohr, row["electron_acceptance"])
        if row["rejected"]:
            self.logger.warning("step %d: %d non-positive Jacobian determinant(s), a failed inversion or non-finite F; "
                                "the flow's update rejected%s", self.step, int(row["nonpositive_jacobians"]),
                                "" if self.problem is None or row["wavefunction_rejected"] else ", Psi's kept")
        if self.problem is not None and row["wavefunction_rejected"]:
            self.logger.warning("step %d: non-finite local energies or Psi parameters; Psi's update rejected", self.step)
        return {column: row[column] for column in self.columns}

    def summary(self) -> dict:
        config, ensemble = self.config, self.ensemble
        columns = rundir.read_stats(self.run_dir / "stats.csv")
        evaluation = np.asarray(columns["phase"]) == 1
        out = {"temperature_k": config.system.temperature_k, "rs": config.system.rs,
               "n_atoms": config.system.n_atoms, "boundary_condition": self.boundary_condition(),
               "proton_mass_me": config.system.proton_mass_me, "box_length_bohr": ensemble.box_length,
               "volume_per_atom_bohr3": ensemble.volume / ensemble.n_particles, "potential": config.potential.kind,
               "flow": config.flow.kind, "seed": config.seed, "precision": config.precision,
               "steps": config.optimisation.steps, "eval_steps": int(np.sum(evaluation)),
               "batch_size": config.sampling.batch_size}
        for name, key in SUMMARY_KEYS.items():
            estimate = reblock(np.asarray(columns[name])[evaluation])
            out[key], out[f"{key}_error"] = estimate.mean, estimate.error
        out["max_inverse_residual_bohr"] = float(np.max(columns["inverse_residual_bohr"]))
        out["nonpositive_jacobians"] = int(np.sum(columns["nonpositive_jacobians"]))
        out["rejected_steps"] = int(np.sum(columns["rejected"]))
        # a rejected evaluation row came from a folded map, a failed inversion or a non-finite F
        out["evaluation_rejected_steps"] = int(np.sum(np.asarray(columns["rejected"])[evaluation]))
        if self.problem is not None:
            system = self.problem.system
            out["twists"] = [{"twist": t.tolist(), "weight": float(w)} for t, w in zip(system.twists, system.twist_weights)]
            out["wavefunction"] = config.network.ansatz
            out["walkers_per_configuration"] = config.electrons.walkers_per_configuration
            out["wavefunction_rejected_steps"] = int(np.sum(columns["wavefunction_rejected"]))
            out["warmup_steps"] = self.warmup
            estimate = reblock(np.asarray(columns["electronic_energy"])[evaluation])
            out["electronic_energy_ha_per_atom"], out["electronic_energy_ha_per_atom_error"] = estimate.mean, estimate.error
        out["base"] = config.base.kind
        if not self.base.uniform:
            # ln Z_base enters F and S as a constant: its AIS error adds in quadrature
            out["base_log_partition"], out["base_log_partition_error"] = self.log_partition, self.log_partition_error
            shift = ensemble.temperature * self.log_partition_error / ensemble.n_particles
            for key, scale in (("free_energy_ha_per_atom", shift), ("entropy_kb_per_atom", shift / ensemble.temperature)):
                out[f"{key}_error"] = float(np.hypot(out[f"{key}_error"], scale))
        if self.chain:
            out["proton_acceptance"] = float(np.mean(columns["proton_acceptance"]))
        ideal = thermo.ideal_gas(ensemble)
        out["ideal_gas"] = ideal
        exact = self.exact_potential()
        if ensemble.n_particles == 2 and exact is not None:
            out["quadrature"] = thermo.two_particles(ensemble, exact, QUADRATURE_GRID)
            params = self.state["params"]
            log_density = lambda x: flow.log_density(params, self.shape, x, ensemble.box_length)
            latent = None
            if not self.base.uniform:
                # the exact ln Z_base of two particles, so that int p and F[p] test the flow alone
                exact_log_partition = thermo.two_particle_log_partition(
                    ensemble, self.base.energy, self.base.temperature, QUADRATURE_GRID)
                out["base_log_partition_quadrature"] = exact_log_partition
                log_density = lambda x: proton_base.log_density(
                    params, self.shape, self.base, x, ensemble.box_length, exact_log_partition)[1]
                latent = lambda z: self.base.log_weight(z, ensemble.box_length) - exact_log_partition
            inverse = lambda z: flow.inverse(params, self.shape, z, ensemble.box_length, inversion_of(self.config))[0]
            out["flow_quadrature"] = thermo.two_particle_flow(ensemble, exact, log_density, QUADRATURE_GRID, inverse, latent)
        return out

    def exact_potential(self):
        """V(X) + E_X as an exact function of the protons: the classical potential alone without
        electrons, plus electrons.slater_potential with 'slater' electrons; None for a trained Psi."""
        if self.problem is None:
            return self.potential
        if electrons.trains_wavefunction(self.config):
            return None
        slater = electrons.slater_potential(self.problem, self.ensemble.n_particles)
        return lambda x, box_length: self.potential(x, box_length) + slater(x, box_length)

    def boundary_condition(self) -> str:
        if self.problem is None:
            return CLASSICAL
        return (f"classical protons; electrons at {electrons.boundary_condition(self.config, self.problem)}, "
                "no finite-size correction")

    def final_samples(self) -> np.ndarray:
        """(B, N, 3) fractional proton configurations X ~ p at the end of the run: the latent Markov chain's
        walkers mapped through the flow, or, where the run draws independent batches (uniform base, no
        electrons), one more such batch drawn with the key fold_in(seed, total steps)."""
        ensemble, params, inversion = self.ensemble, self.state["params"], inversion_of(self.config)
        if "latent" in self.state:
            positions, _ = training.protons_of(params, self.shape, ensemble, jnp.asarray(self.state["latent"]), inversion)
        else:
            key = jax.random.fold_in(jax.random.PRNGKey(self.config.seed), self.total_steps)
            positions, _, _ = training.draw(params, self.shape, ensemble, key, self.config.sampling.batch_size, inversion)
        return np.mod(np.asarray(positions, dtype=np.float64) / ensemble.box_length, 1.0)

    def write_samples(self) -> None:
        """samples.npz in the format of qsolid.analysis.samples (cubic box, protons)."""
        fractional = self.final_samples()
        rundir.atomic_write_npz(self.run_dir / SAMPLES_FILE, protons_frac=fractional,
                                lattice_bohr=self.ensemble.box_length * np.eye(3),
                                numbers=np.ones(fractional.shape[1], dtype=np.int64))

    def finish(self) -> dict:
        summary = self.summary()
        summary.update(self.structure.write(self.run_dir, self.state["structure"]))
        self.write_samples()
        plots.training_curves(self.run_dir / "training.png", rundir.read_stats(self.run_dir / "stats.csv"))
        rundir.atomic_write_json(self.run_dir / "summary.json", summary)
        self.logger.info("summary: %s", json.dumps(summary))
        return summary


def run(config, run_dir, resume: bool = False, progress: Progress | None = None) -> dict | None:
    """Train and evaluate; returns the summary, or None if stopped by a signal (resumable)."""
    start = time.time()
    with precision.use(config.precision):
        session = Run(config, run_dir, resume=resume)
        if not train_then_evaluate(session, progress or Silent(), warmup=session.warmup):
            return None
        summary = session.finish()
    session.logger.info("session took %.1f s", time.time() - start)
    return summary
