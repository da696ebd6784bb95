"""The NCT run: build the phonon problem, train, evaluate, report.

RUN_DIR holds config.toml, qsolid.log, stats.csv (one row per step; phase 0
= training, 1 = evaluation), checkpoints/, summary.json, phonons.json and
the PNG plots. Final numbers are reblocked from the evaluation rows of
stats.csv, so an interrupted and resumed run reports exactly what an
uninterrupted one would. At constant pressure the cell is strained every
`relax_every` training steps from the stress averaged over them, and the
Hessian and modes are recomputed for the new cell (the flow and occupation
parameters carry over, mode by mode). With `average_cells` the last update
sets the cell to the mean of the cells reached in the second half of the
relaxation (Polyak averaging): each update follows one noisy stress window,
the mean of n of them has 1/sqrt(n) of that noise.
"""

import json
import time
from pathlib import Path

import jax
import numpy as np

from qsolid import checkpoint, precision, rundir, schema, units
from qsolid.enthalpy import enthalpy
from qsolid.nct import config as nct_config
from qsolid.nct import harmonic, observables, phonons, plots, systems, training
from qsolid.nct.hamiltonian import Vibrations
from qsolid.progress import Progress, Silent
from qsolid.runloop import train_then_evaluate
from qsolid.schema import ConfigError
from qsolid.stats import reblock

STAT_COLUMNS = (
    "step", "phase", "free_energy", "free_energy_error", "energy", "energy_error", "kinetic", "kinetic_error",
    "potential", "potential_error", "entropy", "entropy_error", "entropy_exact", "acceptance", "step_size",
    "rejected",
)
CRYSTAL_COLUMNS = ("max_displacement_angstrom", "volume_per_atom_angstrom3")
PRESSURE_COLUMNS = ("pressure_gpa", "stress_xx_gpa", "stress_yy_gpa", "stress_zz_gpa")


def build_vibrations(config, lattice_bohr=None) -> Vibrations:
    """Reference structure, surface, Hessian and normal modes for the config (and a strained cell)."""
    if config.system.kind == "crystal":
        reference = systems.crystal_reference(config.system, lattice_bohr)
        surface = systems.crystal_surface(config.system, reference)
        step_bohr = config.system.hessian_step_angstrom / units.BOHR_ANGSTROM
    else:
        reference = systems.model_reference(config.system)
        surface = systems.model_surface(config.system)
        step_bohr = phonons.DEFAULT_STEP_BOHR
    try:
        modes = phonons.normal_modes(phonons.hessian(surface, reference, step_bohr), reference)
    except phonons.UnstableModes as error:
        raise ConfigError(f"system: the reference structure is not a minimum of the surface ({error})") from None
    energy = float(surface.energy(jax.numpy.asarray(reference.positions), reference.lattice))
    return Vibrations(surface=surface, reference=reference, modes=modes, reference_energy=energy)


def harmonic_baseline(vibrations, temperature: float, levels: int) -> dict:
    omega = vibrations.frequencies
    return {
        "harmonic_free_energy": vibrations.reference_energy + harmonic.free_energy(omega, temperature),
        "harmonic_free_energy_level_cutoff": vibrations.reference_energy + harmonic.free_energy_levels(omega, temperature, levels),
        "harmonic_energy": vibrations.reference_energy + harmonic.energy(omega, temperature),
        "zero_point_energy_harmonic": harmonic.zero_point_energy(omega),
        "harmonic_entropy_kb": harmonic.entropy(omega, temperature),
    }


class AveragedWindows:
    """Stress windows of the second half of a relaxation (Polyak-Ruppert averaging).

    The final cell is one relaxation step from the mean of the cells at which
    the windows were measured, with their mean stress: in the linear regime
    that is the root of Pi(cell) = P* estimated from every averaged window,
    and the scatter of the window pressures gives its standard error.
    """

    def __init__(self, lattices=(), stresses=()):
        self.lattices, self.stresses = [np.asarray(c) for c in lattices], [np.asarray(p) for p in stresses]

    @property
    def count(self) -> int:
        return len(self.lattices)

    def add(self, lattice, stress_diagonal_gpa):
        self.lattices.append(np.asarray(lattice))
        self.stresses.append(np.asarray(stress_diagonal_gpa))

    def means(self):
        """(mean measured cell, mean stress diagonal in GPa)."""
        return np.mean(self.lattices, axis=0), np.mean(self.stresses, axis=0)

    def pressure_gpa(self):
        """Mean window pressure tr(Pi)/3 and its standard error from the windows' scatter."""
        pressures = np.mean(self.stresses, axis=1)
        error = np.std(pressures, ddof=1) / np.sqrt(len(pressures)) if len(pressures) > 1 else float("nan")
        return float(np.mean(pressures)), float(error)

    def to_metadata(self) -> dict:
        return {"lattices": [c.tolist() for c in self.lattices], "stresses": [p.tolist() for p in self.stresses]}

    @classmethod
    def from_metadata(cls, data):
        return cls(**data) if data else cls()


class Run:
    """A run directory bound to a config: owns the vibrations, state and jitted steps."""

    def __init__(self, config, run_dir, resume: bool = False):
        self.config = config
        self.run_dir = Path(run_dir)
        if not resume and (self.run_dir / "checkpoints").exists():
            raise ConfigError(f"out: {self.run_dir} already holds a run; use --resume to continue it")
        if resume and checkpoint.latest(self.run_dir / "checkpoints") is None:
            raise ConfigError(f"resume: no checkpoint in {self.run_dir / 'checkpoints'}")
        try:
            training.walker_sharding(config.sampling.batch_size)
        except ValueError as error:
            raise ConfigError(f"sampling.batch_size: {error}") from None
        if resume:
            refuse_changed_config(config, self.run_dir)
        self.crystal = config.system.kind == "crystal"
        self._set_lattice(None)  # builds the surface: model, calculator and element are checked before any write
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.logger = rundir.setup_logging(self.run_dir)
        self.optimizer = training.make_optimizer(config)
        self.measure_pressure_train = config.constant_pressure
        self.total_steps = config.optimisation.steps + config.evaluation.steps
        columns = STAT_COLUMNS + (CRYSTAL_COLUMNS if self.crystal else ())
        columns += PRESSURE_COLUMNS if self.crystal and (config.evaluation.measure_pressure or config.constant_pressure) else ()
        self.stats = rundir.StatsFile(self.run_dir / "stats.csv", columns)
        self.rdf_edges = self._rdf_edges()
        fresh = training.init_state(config, self.vibrations, self.optimizer, jax.random.PRNGKey(config.seed),
                                    config.evaluation.rdf_bins, burn_in=not resume)
        self.step = 0
        self.averaged = AveragedWindows()
        if resume:
            path = checkpoint.latest(self.run_dir / "checkpoints")
            fresh, metadata = checkpoint.load(path, fresh)
            fresh = training.place(fresh, config.sampling.batch_size)
            self.step = int(metadata["step"])
            self.averaged = AveragedWindows.from_metadata(metadata.get("averaged_windows"))
            self.stats.truncate_after(self.step)
            if self.crystal and not np.allclose(np.asarray(fresh["lattice"]), self.vibrations.reference.lattice, rtol=0, atol=0):
                self._set_lattice(np.asarray(fresh["lattice"]))
            self.logger.info("resumed from %s at step %d", path, self.step)
        else:
            rundir.atomic_write_text(self.run_dir / "config.toml", schema.to_commented_toml(config))
            self.logger.info("new run, %d modes, harmonic frequencies %s", self.vibrations.modes.count,
                             np.array2string(self.vibrations.frequencies, precision=6))
        self.state = fresh

    def _set_lattice(self, lattice_bohr):
        self.vibrations = build_vibrations(self.config, lattice_bohr)
        self._steps = {}

    def _rdf_edges(self):
        if not self.crystal:
            return None
        r_max = observables.minimum_image_radius(self.vibrations.reference.lattice)
        return np.linspace(0.0, r_max, self.config.evaluation.rdf_bins + 1)

    def _step_function(self, train: bool):
        if train not in self._steps:
            measure = self.crystal and (self.config.evaluation.measure_pressure if not train else self.measure_pressure_train)
            self._steps[train] = training.make_step(
                self.config, self.vibrations, self.optimizer, train, measure, None if train else self.rdf_edges, self.state
            )
        return self._steps[train]

    def _lattice_update_steps(self) -> np.ndarray:
        """Training steps at which the cell is updated."""
        pressure = self.config.npt
        last = min(pressure.relax_until_step or self.config.optimisation.steps, self.config.optimisation.steps - 1)
        return np.arange(pressure.relax_every, last + 1, pressure.relax_every)

    def _relax_lattice(self):
        pressure = self.config.npt
        window = np.asarray(self.state["pressure_window"]) / pressure.relax_every
        lattice = pressure_lattice(self.vibrations.reference.lattice, np.diag(window), pressure)
        self.logger.info("cell update: stress diag %s GPa -> a,b,c = %s bohr", np.diag(window), np.diag(lattice))
        updates = self._lattice_update_steps()
        if pressure.average_cells and self.step > updates[-1] / 2:
            self.averaged.add(self.vibrations.reference.lattice, np.diag(window))
            if self.step == updates[-1]:
                lattice = pressure_lattice(*self.averaged.means(), pressure)
                mean_gpa, error_gpa = self.averaged.pressure_gpa()
                self.logger.info("final cell: one step from the mean of the last %d measured cells, at mean stress "
                                 "%.5f +- %.5f GPa -> a,b,c = %s bohr", self.averaged.count, mean_gpa, error_gpa,
                                 np.diag(lattice))
        self._set_lattice(lattice)
        self.state = training.place(dict(self.state, lattice=lattice, pressure_window=np.zeros((3, 3))), self.config.sampling.batch_size)

    def checkpoint(self):
        directory = self.run_dir / "checkpoints"
        metadata = {"step": self.step, "averaged_windows": self.averaged.to_metadata(),
                    "config": schema.to_dict(self.config)}
        checkpoint.save(checkpoint.step_path(directory, self.step), self.state, metadata)
        checkpoint.prune(directory, self.config.output.keep_checkpoints)

    def _row(self, stats, phase):
        row = {key: float(value) for key, value in stats.items()}
        row.update(step=self.step, phase=phase)
        if self.crystal:
            row["volume_per_atom_angstrom3"] = self.volume_per_atom_angstrom3()
        return {column: row.get(column, float("nan")) for column in self.stats.columns}

    def volume_per_atom_angstrom3(self) -> float:
        reference = self.vibrations.reference
        return abs(np.linalg.det(reference.lattice)) * units.BOHR_ANGSTROM**3 / len(reference.positions)

    def take_step(self, index: int) -> dict:
        """Training or evaluation step `index` (with a cell update first where one is due); its statistics row."""
        train = index < self.config.optimisation.steps
        if self.config.constant_pressure and index in self._lattice_update_steps():
            self._relax_lattice()
        self.state, stats = self._step_function(train)(self.state)
        self.step = index + 1
        if stats["rejected"]:
            self.logger.warning("step %d: non-finite estimate, update rejected", self.step)
        return self._row(stats, 0 if train else 1)

    def summary(self) -> dict:
        config, vibrations = self.config, self.vibrations
        report = systems.report_units(config, len(vibrations.reference.positions))
        columns = rundir.read_stats(self.run_dir / "stats.csv")
        evaluation = np.asarray(columns["phase"]) == 1
        out = {"energy_unit": report.energy_unit, "per": report.per, "steps": config.optimisation.steps,
               "evaluation_steps": int(np.sum(evaluation)), "modes": vibrations.modes.count,
               "batch_size": config.sampling.batch_size, "seed": config.seed, "levels": config.ansatz.levels,
               "flow_depth": config.ansatz.flow_depth, "level_mixing": config.ansatz.level_mixing}
        n_sites = len(vibrations.reference.positions)
        entropy_scale = 1.0 / n_sites if self.crystal else 1.0
        for name in ("free_energy", "energy", "kinetic", "potential", "entropy"):
            estimate = reblock(np.asarray(columns[name])[evaluation])
            scale, key = (entropy_scale, "entropy_kb") if name == "entropy" else (report.scale, name)
            out[key] = estimate.mean * scale
            out[f"{key}_error"] = estimate.error * scale
        out["entropy_kb_exact_product"] = float(np.asarray(columns["entropy_exact"])[evaluation][-1]) * entropy_scale
        for key, value in harmonic_baseline(vibrations, config.temperature, config.ansatz.levels).items():
            out[key] = value * (entropy_scale if key.endswith("_kb") else report.scale)
        out["reference_energy"] = vibrations.reference_energy * report.scale
        out["anharmonic_correction"] = out["free_energy"] - out["harmonic_free_energy"]
        out["rejected_steps"] = int(np.nansum(columns["rejected"]))
        if self.crystal:
            out["temperature_k"] = config.system.temperature_k
            out["volume_per_atom_angstrom3"] = self.volume_per_atom_angstrom3()
            out["lattice_angstrom"] = (vibrations.reference.lattice * units.BOHR_ANGSTROM).tolist()
            out["atoms"] = n_sites
            # the reported estimates come from the evaluation: its walkers decide whether the topology held
            displacement = np.asarray(columns["max_displacement_angstrom"])
            out["max_displacement_angstrom"] = float(np.nanmax(displacement[evaluation]))
            out["max_displacement_angstrom_training"] = float(np.nanmax(displacement))
            if config.system.potential == "deepmd":
                out["skin_angstrom"] = config.system.skin_angstrom
                out["neighbour_topology_exact"] = bool(out["max_displacement_angstrom"] < 0.5 * config.system.skin_angstrom)
            if "pressure_gpa" in columns:
                for name in PRESSURE_COLUMNS:
                    estimate = reblock(np.asarray(columns[name])[evaluation])
                    out[name] = estimate.mean
                    out[f"{name}_error"] = estimate.error
            if config.constant_pressure:
                out["target_pressure_gpa"] = config.npt.pressure_gpa
                if self.averaged.count:
                    mean_gpa, error_gpa = self.averaged.pressure_gpa()
                    out["relaxation_windows_averaged"] = self.averaged.count
                    out["relaxation_pressure_gpa"], out["relaxation_pressure_gpa_error"] = mean_gpa, error_gpa
                pressure = units.gpa_to_ha_bohr3(config.npt.pressure_gpa) * report.scale  # report's energy unit / bohr^3
                out["gibbs_free_energy"] = enthalpy(out["free_energy"], abs(np.linalg.det(vibrations.reference.lattice)), pressure)
                out["gibbs_free_energy_error"] = out["free_energy_error"]
        else:
            out["beta"] = config.system.beta
        return out

    def excitations(self) -> dict:
        config, vibrations = self.config, self.vibrations
        report = systems.report_units(config, len(vibrations.reference.positions))
        key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 7)
        w, error, e0, e0_error = observables.excitation_energies(
            self.state["params"], vibrations, key, config.evaluation.excitation_walkers,
            max(config.sampling.burn_in_sweeps, config.sampling.sweeps_per_step), config.ansatz.levels)
        per_site = len(vibrations.reference.positions) if self.crystal else 1
        frequency_scale = units.HARTREE_EV * 1000.0 if self.crystal else 1.0
        return {
            "frequency_unit": "meV" if self.crystal else "dimensionless",
            "harmonic_frequencies": (vibrations.frequencies * frequency_scale).tolist(),
            "anharmonic_frequencies": (w * frequency_scale).tolist(),
            "anharmonic_frequencies_error": (error * frequency_scale).tolist(),
            "zero_point_energy_anharmonic": 0.5 * float(np.sum(w)) * frequency_scale / per_site,
            "zero_point_energy_anharmonic_error": 0.5 * float(np.sqrt(np.sum(error**2))) * frequency_scale / per_site,
            "ground_state_energy": e0 * report.scale,
            "ground_state_energy_error": e0_error * report.scale,
        }

    def finish(self) -> dict:
        summary = self.summary()
        if self.config.evaluation.excitation_walkers > 0:
            phonon_data = self.excitations()
            rundir.atomic_write_json(self.run_dir / "phonons.json", phonon_data)
            summary["zero_point_energy_anharmonic"] = phonon_data["zero_point_energy_anharmonic"]
            summary["zero_point_energy_anharmonic_error"] = phonon_data["zero_point_energy_anharmonic_error"]
            summary["ground_state_energy"] = phonon_data["ground_state_energy"]
            summary["ground_state_energy_error"] = phonon_data["ground_state_energy_error"]
            plots.density_of_states(self.run_dir / "phonon_dos.png", phonon_data,
                                    len(self.vibrations.reference.positions) if self.crystal else 1)
        if self.crystal:
            edges = self.rdf_edges * units.BOHR_ANGSTROM
            configurations = summary["evaluation_steps"] * self.config.sampling.batch_size
            g = observables.radial_distribution(np.asarray(self.state["rdf_counts"]), edges, summary["atoms"],
                                                summary["volume_per_atom_angstrom3"] * summary["atoms"], configurations)
            centres = 0.5 * (edges[1:] + edges[:-1])
            rundir.atomic_write_json(self.run_dir / "rdf.json", {"r_angstrom": centres.tolist(), "g": g.tolist()})
            plots.radial_distribution(self.run_dir / "rdf.png", centres, g)
        plots.training_curves(self.run_dir / "training.png", rundir.read_stats(self.run_dir / "stats.csv"),
                              summary, systems.report_units(self.config, len(self.vibrations.reference.positions)).scale)
        rundir.atomic_write_json(self.run_dir / "summary.json", summary)
        self.logger.info("summary: %s", json.dumps(summary))
        return summary


def refuse_changed_config(config, run_dir: Path) -> None:
    """A resumed run continues with the settings it started with: refuse a CONFIG that differs from the one
    recorded in the newest checkpoint, or a RUN_DIR/config.toml edited since (one line naming the fields)."""
    _, metadata = checkpoint.load_arrays(checkpoint.latest(run_dir / "checkpoints"))
    recorded = metadata.get("config")
    written = run_dir / "config.toml"
    try:
        on_disk = schema.to_dict(nct_config.from_dict(schema.load_toml(written)))
    except ConfigError as error:
        raise ConfigError(f"resume: {written} was edited and no longer reads ({error})") from None
    recorded = on_disk if recorded is None else recorded  # checkpoints written before the config was recorded
    changed = schema.changed_fields(recorded, schema.to_dict(config))
    if changed:
        raise ConfigError(f"resume: CONFIG differs from the run in {run_dir} in {', '.join(changed)}; "
                          "resume with the run's settings, or start a new --out")
    changed = schema.changed_fields(recorded, on_disk)
    if changed:
        raise ConfigError(f"resume: {written} was edited after the run started ({', '.join(changed)}); "
                          "restore it, or start a new --out")


def pressure_lattice(lattice, pressure_diagonal_gpa, npt):
    from qsolid.nct.pressure import strained_lattice

    return strained_lattice(lattice, pressure_diagonal_gpa, npt.pressure_gpa, npt.strain_per_gpa, npt.lattice_mode)


def run(config, run_dir, resume: bool = False, progress: Progress | None = None) -> dict | None:
    """Train and evaluate in config.precision (restored afterwards); returns the summary, or None if
    stopped by a signal (resumable)."""
    start = time.time()
    with precision.use(config.precision):
        session = Run(config, run_dir, resume=resume)
        session.logger.info("precision %s (jax_enable_x64 = %s for this run)", config.precision,
                            jax.config.jax_enable_x64)
        if not train_then_evaluate(session, progress or Silent()):
            return None
        summary = session.finish()
    session.logger.info("session took %.1f s", time.time() - start)
    return summary
