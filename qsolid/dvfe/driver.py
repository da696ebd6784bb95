"""The dvfe run: classical protons from a normalizing flow, trained and evaluated.

RUN_DIR holds config.toml, qsolid.log, stats.csv (one row per step; phase 0 =
training, 1 = evaluation; per-step batch means of F, E, S, P with their batch
standard errors), checkpoints/, summary.json, training.png, and the proton g(r)
and S(k) of the evaluation phase in structure.npz and g_of_r.png
(qsolid.dvfe.observables). The random key of step k is fold_in(seed, k), and
the final numbers are computed from the evaluation rows of stats.csv (g(r) and
S(k) from per-step rows kept in the checkpoint), so an interrupted and resumed run reports
exactly what an uninterrupted one would. The steps' batches are independent
(exact sampling), so the error bars are the standard errors of the
evaluation steps' means (reblocked all the same; the blocking finds no
correlation).

Precision is set for the duration of run() and restored afterwards.
"""

import json
import time
from pathlib import Path

import jax
import numpy as np

from qsolid import checkpoint, precision, rundir, schema
from qsolid.progress import Progress, Silent
from qsolid.runloop import train_then_evaluate
from qsolid.dvfe import flow, observables, plots, potentials, thermo, training
from qsolid.schema import ConfigError
from qsolid.stats import reblock

OBSERVABLES = ("free_energy", "energy", "entropy", "pressure_gpa")
STAT_COLUMNS = ("step", "phase") + tuple(c for name in OBSERVABLES for c in (name, f"{name}_error")) + (
    "inverse_residual_bohr", "nonpositive_jacobians", "rejected")
SUMMARY_KEYS = {"free_energy": "free_energy_ha_per_atom", "energy": "energy_ha_per_atom",
                "entropy": "entropy_kb_per_atom", "pressure_gpa": "pressure_gpa"}
BOUNDARY_CONDITION = "classical protons, no electrons"
QUADRATURE_GRID = 24


def ensemble_of(config) -> thermo.Ensemble:
    system = config.system
    return thermo.Ensemble(n_particles=system.n_atoms, box_length=thermo.box_length_bohr(system.n_atoms, system.rs),
                           temperature=thermo.kelvin_to_hartree(system.temperature_k), mass=system.proton_mass_me)


def flow_shape_of(config) -> flow.FlowShape:
    f = config.flow
    return flow.FlowShape(identity=f.kind == "identity", layers=f.layers, single_width=f.single_width,
                          pair_width=f.pair_width, harmonics=f.harmonics, radial_scales=tuple(f.radial_scales))


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
        self.total_steps = config.optimisation.steps + config.evaluation.steps
        self.stats = rundir.StatsFile(self.run_dir / "stats.csv", STAT_COLUMNS)
        params = flow.init(jax.random.PRNGKey(config.seed), self.shape)
        self.state = {"params": params, "opt_state": self.optimizer.init(params)}
        # g(r), S(k): per-evaluation-step rows in the checkpointed state (qsolid.dvfe.observables)
        self.structure = observables.ProtonStructure(self.ensemble.box_length, self.ensemble.n_particles)
        self.state["structure"] = self.structure.empty(config.evaluation.steps)
        self.step = 0
        if resume:
            path = checkpoint.latest(self.run_dir / "checkpoints")
            self.state, metadata = checkpoint.load(path, self.state)
            self.step = int(metadata["step"])
            self.stats.truncate_after(self.step)
            self.logger.info("resumed from %s at step %d", path, self.step)
        else:
            rundir.atomic_write_text(self.run_dir / "config.toml", schema.to_commented_toml(config))
            self.logger.info("new run: N = %d, L = %.6f bohr, k_B T = %.8g Ha", self.ensemble.n_particles,
                             self.ensemble.box_length, self.ensemble.temperature)
        sampling = config.sampling
        self._steps = {
            train: training.make_step(self.shape, self.ensemble, potential_spec_of(config),
                                      config.optimisation.learning_rate, sampling.batch_size,
                                      sampling.fixed_point_iterations, sampling.newton_steps, train,
                                      measure=None if train else self.structure)
            for train in (True, False)
        }

    def checkpoint(self):
        directory = self.run_dir / "checkpoints"
        checkpoint.save(checkpoint.step_path(directory, self.step), self.state, {"step": self.step})
        checkpoint.prune(directory, self.config.output.keep_checkpoints)

    def take_step(self, index: int) -> dict:
        """Training (flow update) or evaluation step `index`; the statistics row."""
        train = index < self.config.optimisation.steps
        key = jax.random.fold_in(jax.random.PRNGKey(self.config.seed), index)
        params, opt_state, stats = self._steps[train](self.state["params"], self.state["opt_state"], key)
        self.state = dict(self.state, params=params, opt_state=opt_state)
        if not train:
            self.structure.record(self.state["structure"], index - self.config.optimisation.steps, stats.pop("structure"))
        self.step = index + 1
        row = {name: float(value) for name, value in stats.items()}
        row.update(step=self.step, phase=0 if train else 1)
        if row["rejected"]:
            self.logger.warning("step %d: %d non-positive Jacobian determinant(s) or non-finite F; update "
                                "rejected", self.step, int(row["nonpositive_jacobians"]))
        return {column: row[column] for column in STAT_COLUMNS}

    def summary(self) -> dict:
        config, ensemble = self.config, self.ensemble
        columns = rundir.read_stats(self.run_dir / "stats.csv")
        evaluation = np.asarray(columns["phase"]) == 1
        out = {"temperature_k": config.system.temperature_k, "rs": config.system.rs,
               "n_atoms": config.system.n_atoms, "boundary_condition": BOUNDARY_CONDITION,
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
        ideal = thermo.ideal_gas(ensemble)
        out["ideal_gas"] = ideal
        if ensemble.n_particles == 2:
            out["quadrature"] = thermo.two_particles(ensemble, self.potential, QUADRATURE_GRID)
            params = self.state["params"]
            log_density = lambda x: flow.log_density(params, self.shape, x, ensemble.box_length)
            out["flow_quadrature"] = thermo.two_particle_flow(ensemble, self.potential, log_density, QUADRATURE_GRID)
        return out

    def finish(self) -> dict:
        summary = self.summary()
        summary.update(self.structure.write(self.run_dir, self.state["structure"]))
        plots.training_curves(self.run_dir / "training.png", rundir.read_stats(self.run_dir / "stats.csv"))
        rundir.atomic_write_json(self.run_dir / "summary.json", summary)
        self.logger.info("summary: %s", json.dumps(summary))
        return summary


def run(config, run_dir, resume: bool = False, progress: Progress | None = None) -> dict | None:
    """Train and evaluate; returns the summary, or None if stopped by a signal (resumable)."""
    start = time.time()
    with precision.use(config.precision):
        session = Run(config, run_dir, resume=resume)
        if not train_then_evaluate(session, progress or Silent()):
            return None
        summary = session.finish()
    session.logger.info("session took %.1f s", time.time() - start)
    return summary
