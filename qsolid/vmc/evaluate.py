"""Inference with frozen parameters: energies with reblocked error bars.

Each evaluation step runs Metropolis sweeps and averages the local energy and
its parts over the walkers; the per-step means form a correlated time series
whose error bar comes from reblocking (qsolid.stats). For a molecule in a
box the cell dipole d gives the isolated-molecule energy

    E_isolated = E + (2 pi / 3 Omega) <d^2>,

estimated step by step as the mean of E_L + (2 pi / 3 Omega) d^2, so that its
error bar includes the correlation of the two terms.

The virial pressure P = (2 <K> + <V>) / (3 Omega) follows from the virial
theorem for Coulomb-interacting particles (V homogeneous of degree -1 under a
uniform scaling of the cell with everything in it). For quantum nuclei it is
the pressure; for clamped nuclei it is the pressure at fixed fractional
nuclear coordinates (the nuclei scaled with the cell), which is the
thermodynamic pressure when the forces on the nuclei vanish. Both hold for
the exact eigenstate; for a variational wavefunction the estimator carries
an error of first order in the wavefunction error.

A twist set trained as one network (walker groups, qsolid.vmc.groups): each
step records the mean of every group (twist) besides the weighted average
sum_t w_t X_t; each twist's energy and virial pressure are reblocked from its
own series (`per_twist`), and the averages, reported under the keys of a
single run, from the series of the weighted averages, so that their error bars
include the correlation between twists that share the parameters. The variance
is the weighted mean of the within-twist variances.

A configuration set (qsolid.vmc.configurations) records the same group series
(one group per configuration and twist): each configuration's energy, variance
and virial pressure are reblocked from the series of its twist average
(`per_configuration`), the averages under the keys of a single run are the
ensemble means, and `per_twist` (a twist set) averages every twist over the
configurations. The nuclei kept in samples.npz are one walker's per group.

Each step also measures the charge density's Fourier components on the smallest shells of the
cell's reciprocal vectors, which give the static structure factor S(k) (twist-weighted over a
twist set) and its finite-size correction of the potential energy (qsolid.structure_factor).
"""

import logging
import time

import jax
import jax.numpy as jnp
import numpy as np

from qsolid import checkpoint
from qsolid import lattice as lat
from qsolid import structure_factor
from qsolid.distributed import to_host
from qsolid.progress import Progress, Silent
from qsolid.rundir import atomic_write_npz
from qsolid.runloop import run_steps
from qsolid.stats import reblock
from qsolid.vmc.runstate import State, burn_in, sample, walkers_from
from qsolid.vmc.step import step_key
from qsolid.vmc.train import virial_pressure_ha_bohr3
from qsolid.units import ha_bohr3_to_gpa

SERIES = (
    "energy",
    "energy_sq",
    "kinetic",
    "potential",
    "kinetic_bo",
    "kinetic_nonbo",
    "dipole_sq",
    "energy_isolated",
    "virial_pressure",
    "acceptance",
    "proton_acceptance",
    "seconds",
)
GROUP_SERIES = ("group_energy", "group_energy_sq", "group_virial_pressure")
"""Per-step means of each group (twist, or configuration and twist), recorded for a twist set and for a configuration set."""
DENSITY_SERIES = ("rho_sq", "rho_re", "rho_im")
"""Per-step arrays of the structure factor (qsolid.structure_factor.step_values)."""
STRUCTURE_FACTOR_SHELLS = 4
EVALUATION_STREAM = 7
SAMPLED_WALKERS = 16
"""Walkers per evaluation step whose nuclear positions are kept in samples.npz (structure analysis)."""


def _density_measure(problem, lattice):
    """(jitted walkers -> the structure factor's step values, shells): on the cell of the evaluation."""
    modes, shell_index, shell_k = structure_factor.shells(lattice, STRUCTURE_FACTOR_SHELLS)
    system = problem.system

    def measure(walkers):
        weights = problem.groups.walker_weights(walkers.group, walkers.electrons.dtype)
        return structure_factor.step_values(
            walkers.electrons, walkers.nuclei, np.asarray(system.nuclear_charges, dtype=np.float64),
            system.quantum_nuclei, modes, shell_index, len(shell_k), weights,
        )

    return jax.jit(measure), (shell_index, shell_k)


def _measure_step(problem, state: State, key, density):
    start = time.perf_counter()
    sweeps = problem.config.evaluation.sweeps_per_step
    walkers, acceptance, proton_acceptance = sample(problem, state, state.params, key, sweeps)
    local = problem.measure(state.params, walkers, state.lattice)
    dipole_sq = jnp.sum(problem.dipoles(walkers, state.lattice) ** 2, axis=-1)
    volume = float(lat.volume(state.lattice))
    correction = 2.0 * np.pi / (3.0 * volume)
    groups, group = problem.groups, walkers.group

    def mean(x):
        return groups.mean(x, group)

    values = {
        "energy": mean(local.energy),
        "energy_sq": mean(local.energy**2),
        "kinetic": mean(local.kinetic),
        "potential": mean(local.potential),
        "kinetic_bo": mean(local.kinetic_bo),
        "kinetic_nonbo": mean(local.kinetic_nonbo),
        "dipole_sq": mean(dipole_sq),
        "energy_isolated": mean(local.energy + correction * dipole_sq),
        "virial_pressure": virial_pressure_ha_bohr3(local, state.lattice, mean),
        "acceptance": acceptance,
        "proton_acceptance": proton_acceptance,
    }
    state.walkers = walkers
    values = {k: float(v) for k, v in values.items()}
    values.update({k: np.asarray(v, dtype=np.float64) for k, v in density(walkers).items()})
    if _group_series(problem):
        values["group_energy"] = np.asarray(groups.means(local.energy, group), dtype=np.float64)
        values["group_energy_sq"] = np.asarray(groups.means(local.energy**2, group), dtype=np.float64)
        virial_sum = groups.means(2.0 * local.kinetic + local.potential, group)
        values["group_virial_pressure"] = np.asarray(virial_sum, dtype=np.float64) / (3.0 * volume)
    values["seconds"] = time.perf_counter() - start
    if problem.configurations is not None:  # one walker of every configuration and twist
        return values, to_host(walkers.nuclei[:: walkers.nuclei.shape[0] // len(groups)])
    return values, to_host(walkers.nuclei[:SAMPLED_WALKERS])


def _group_series(problem) -> bool:
    """Record each group's means: for a twist set, and for every configuration set (one configuration too)."""
    return len(problem.groups) > 1 or problem.configurations is not None


def evaluate(problem, state: State, steps: int, run_dir, progress: Progress = Silent()):
    """Run `steps` inference steps; returns (results, finished).

    An evaluation of the same checkpoint that was interrupted (or shorter) is
    continued from RUN_DIR/evaluation_checkpoint.npz. The sampled nuclear
    positions go to RUN_DIR/samples.npz for `qsolid analyze`.
    """
    checkpoint_path = run_dir / "evaluation_checkpoint.npz"
    names = SERIES + DENSITY_SERIES + (GROUP_SERIES if _group_series(problem) else ())
    series = {name: [] for name in names}
    samples = []
    if checkpoint_path.exists():
        try:
            arrays, metadata = checkpoint.load_arrays(checkpoint_path)
        except checkpoint.CorruptCheckpoint as error:
            logging.getLogger("qsolid").warning("evaluation restarts: %s", error)
            metadata = {"training_step": None}
        if metadata["training_step"] == state.step and all(f"series/{name}" in arrays for name in names):
            state.walkers = problem.shard(walkers_from(arrays, state.walkers))
            series = {name: list(arrays[f"series/{name}"][:steps]) for name in names}
            samples = list(arrays["samples"][:steps])
    if not series["energy"]:
        state = burn_in(problem, state, problem.config.sampling.burn_in_sweeps)
    density, shells = _density_measure(problem, state.lattice)

    def step(done):
        key = step_key(problem.config.seed, done, stream=EVALUATION_STREAM)
        values, nuclei = _measure_step(problem, state, key, density)
        samples.append(nuclei)
        for name in names:
            series[name].append(values[name])
        return {name: values[name] for name in SERIES}  # the progress shows scalars

    def save(_):
        tree = {"walkers": state.walkers, "series": {k: np.asarray(v) for k, v in series.items()}, "samples": np.asarray(samples)}
        checkpoint.save(checkpoint_path, tree, {"training_step": state.step})

    if not run_steps(step, len(series["energy"]), steps, save, problem.config.output.checkpoint_every, progress):
        return None, False
    save(steps)
    if not problem.system.is_jellium:  # no nuclei to sample
        _write_samples(problem, np.asarray(samples), state.lattice, run_dir / "samples.npz")
    results = summarise(problem, series)
    volume = float(lat.volume(state.lattice))
    results.update(structure_factor.summarise(*(series[n] for n in DENSITY_SERIES), *shells, problem.system.n_electrons, volume))
    return results, True


def _write_samples(problem, samples, lattice, path) -> None:
    """Nuclear configurations (n_samples, n_nuclei, 3), fractional, with the lattice (bohr) and atomic numbers."""
    atomic_write_npz(
        path,
        protons_frac=samples.reshape(-1, *samples.shape[-2:]),
        lattice_bohr=np.asarray(lattice, dtype=np.float64),
        numbers=np.ones(problem.system.n_nuclei, dtype=np.int64),
    )


def summarise(problem, series) -> dict:
    """Reblocked estimates per simulation cell and per atom (per electron for jellium, which has no atoms)."""
    system = problem.system
    n_atoms = system.n_nuclei
    energy = reblock(series["energy"])
    per, count = ("electron", system.n_electrons) if system.is_jellium else ("atom", n_atoms)
    results = {
        "n_atoms": n_atoms,
        "n_electrons": system.n_electrons,
        "boundary_condition": system.boundary_condition,
        "twists": [{"twist": [float(x) for x in t], "weight": float(w)} for t, w in zip(system.twists, system.twist_weights)],
        "evaluation_steps": len(series["energy"]),
        "energy_ha": energy.mean,
        "energy_error_ha": energy.error,
        f"energy_per_{per}_ha": energy.mean / count,
        f"energy_per_{per}_error_ha": energy.error / count,
        "energy_autocorrelation_steps": energy.autocorrelation_time,
        "variance_ha2": _variance(problem, series),
        "acceptance": float(np.mean(series["acceptance"])),
        "seconds_per_evaluation_step": float(np.median(series["seconds"])),
    }
    if problem.system.quantum_nuclei:
        results["proton_acceptance"] = float(np.mean(series["proton_acceptance"]))
    for name in ("kinetic", "potential") + (("kinetic_bo", "kinetic_nonbo") if problem.system.quantum_nuclei else ()):
        estimate = reblock(series[name])
        results[f"{name}_ha"], results[f"{name}_error_ha"] = estimate.mean, estimate.error
    virial = reblock(series["virial_pressure"])
    results["virial_pressure_gpa"] = ha_bohr3_to_gpa(virial.mean)
    results["virial_pressure_error_gpa"] = ha_bohr3_to_gpa(virial.error)
    dipole_sq = reblock(series["dipole_sq"])
    results["dipole_sq_bohr2"], results["dipole_sq_error_bohr2"] = dipole_sq.mean, dipole_sq.error
    if problem.system.is_molecule_in_box:
        isolated = reblock(series["energy_isolated"])
        results["energy_isolated_ha"], results["energy_isolated_error_ha"] = isolated.mean, isolated.error
    if problem.configurations is not None:
        results.update(per_configuration(problem, series, per, count))
    elif len(problem.groups) > 1:
        results["per_twist"] = per_twist(problem, series, per, count)
    return results


def _variance(problem, series) -> float:
    """Var E_L over the run; for a twist set the weighted mean of each twist's own variance."""
    if len(problem.groups) == 1:
        return float(np.mean(series["energy_sq"]) - np.mean(series["energy"]) ** 2)
    energy, energy_sq = np.asarray(series["group_energy"]), np.asarray(series["group_energy_sq"])
    return float(problem.groups.weights @ (np.mean(energy_sq, axis=0) - np.mean(energy, axis=0) ** 2))


def per_twist(problem, series, per: str, count: int) -> list[dict]:
    """Each twist's energy and virial pressure, reblocked from its own series (the `per_twist` entries
    of qsolid.vmc.twist_average, which the separate runs of a twist set report)."""
    system = problem.system
    energies, pressures = np.asarray(series["group_energy"]), np.asarray(series["group_virial_pressure"])
    entries = []
    for index, (twist, weight) in enumerate(zip(system.twists, problem.groups.weights)):
        energy, pressure = reblock(energies[:, index]), reblock(pressures[:, index])
        entries.append({
            "twist": [float(x) for x in twist],
            "weight": float(weight),
            "energy_ha": energy.mean,
            "energy_error_ha": energy.error,
            f"energy_per_{per}_ha": energy.mean / count,
            f"energy_per_{per}_error_ha": energy.error / count,
            "virial_pressure_gpa": ha_bohr3_to_gpa(pressure.mean),
            "virial_pressure_error_gpa": ha_bohr3_to_gpa(pressure.error),
        })
    return entries


def _mixed_entry(series, mixing, index: int, per: str, count: int) -> dict:
    """Energy, variance and virial pressure of the combination `mixing[index]` of the group series."""
    row = np.asarray(mixing)[index]
    energies = np.asarray(series["group_energy"])
    energy = reblock(energies @ row)
    pressure = reblock(np.asarray(series["group_virial_pressure"]) @ row)
    within = np.mean(np.asarray(series["group_energy_sq"]), axis=0) - np.mean(energies, axis=0) ** 2
    return {
        "energy_ha": energy.mean,
        "energy_error_ha": energy.error,
        f"energy_per_{per}_ha": energy.mean / count,
        f"energy_per_{per}_error_ha": energy.error / count,
        "variance_ha2": float(row @ within),
        "virial_pressure_gpa": ha_bohr3_to_gpa(pressure.mean),
        "virial_pressure_error_gpa": ha_bohr3_to_gpa(pressure.error),
    }


def per_configuration(problem, series, per: str, count: int) -> dict:
    """`per_configuration` (each configuration's twist-averaged numbers, reblocked from its own series) and,
    for a twist set, `per_twist` (each twist averaged over the configurations)."""
    from qsolid.vmc import configurations

    system = problem.system
    n_configurations, weights = len(problem.configurations), np.asarray(system.twist_weights)
    by_configuration = configurations.per_configuration_mixing(n_configurations, weights)
    out = {
        "configurations_file": problem.config.system.configurations,
        "n_configurations": n_configurations,
        "per_configuration": [
            {"configuration": c, "weight": 1.0 / n_configurations, **_mixed_entry(series, by_configuration, c, per, count)}
            for c in range(n_configurations)
        ],
    }
    if len(system.twists) > 1:
        by_twist = configurations.per_twist_mixing(n_configurations, len(system.twists))
        out["per_twist"] = [
            {"twist": [float(x) for x in twist], "weight": float(weight), **_mixed_entry(series, by_twist, t, per, count)}
            for t, (twist, weight) in enumerate(zip(system.twists, weights))
        ]
    return out
