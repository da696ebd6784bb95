"""Gibbs block sampler (Alg. 3) vs joint Metropolis (Alg. 4) at equal cost; prints JSON.

Takes the wavefunction of a quantum-nuclei run (its latest checkpoint) and, for
each sampler, adapts the step widths on its walkers, then records the local
energy of every walker at `--measurements` points separated by a fixed number
of log|Psi| evaluations per walker (the cost unit: a Gibbs sweep is a nuclear
move then an electron move, 2 evaluations; a joint move of both is 1, so the
joint chain gets twice the sweeps). Reported per sampler: electron and proton
acceptance, adapted step widths, and the integrated autocorrelation time of the
local energy (Sokal window, averaged over walkers) in measurements and in
log|Psi| evaluations, which is the cost of one independent energy sample.

    python benchmarks/sampler_mixing.py RUN_DIR [--measurements 200] [--evaluations 8]
"""

import argparse
import json
from pathlib import Path

COST_PER_SWEEP = {"gibbs": 2, "joint": 1}


def adapted_state(problem, state, rounds: int, sweeps: int):
    """Step widths adapted to their target acceptances on the run's walkers (no measurement)."""
    from qsolid.vmc import runstate, train

    for index in range(rounds):
        key = train.step_key(problem.config.seed, index, stream=7)
        state.walkers, electron, nuclear = runstate.sample(problem, state, state.params, key, sweeps)
        train.adapt_steps(problem, state, float(electron), float(nuclear))
    return state


def mixing(run_dir: Path, sampler: str, measurements: int, evaluations: int, adapt_rounds: int) -> dict:
    import jax
    import numpy as np

    from qsolid import checkpoint
    from qsolid.vmc import runstate, train
    from qsolid.vmc.config import load_config
    from qsolid.stats import integrated_autocorrelation_time
    from qsolid.vmc.problem import build_problem

    config = load_config(run_dir / "config.toml", overrides={"sampling.sampler": sampler})
    problem = build_problem(config)
    state = runstate.load_checkpoint(problem, checkpoint.latest(run_dir / "checkpoints"), with_optimiser=False)
    sweeps = max(1, evaluations // COST_PER_SWEEP[sampler])
    state = adapted_state(problem, state, adapt_rounds, sweeps)
    energies, electron_rates, nuclear_rates = [], [], []
    for index in range(measurements):
        key = train.step_key(config.seed, index, stream=8)
        state.walkers, electron, nuclear = runstate.sample(problem, state, state.params, key, sweeps)
        energies.append(np.asarray(problem.measure(state.params, state.walkers, state.lattice).energy))
        electron_rates.append(float(electron))
        nuclear_rates.append(float(nuclear))
    chains = np.asarray(energies).T  # (walkers, measurements)
    tau = integrated_autocorrelation_time(chains)
    cost = sweeps * COST_PER_SWEEP[sampler]
    return {
        "sampler": sampler,
        "n_atoms": problem.system.n_nuclei,
        "walkers": chains.shape[0],
        "measurements": measurements,
        "log_psi_evaluations_between_measurements": cost,
        "electron_acceptance": float(np.mean(electron_rates)),
        "proton_acceptance": float(np.mean(nuclear_rates)),
        "electron_step_bohr": state.electron_step_bohr,
        "nuclear_step_bohr": state.nuclear_step_bohr,
        "energy_mean_ha": float(np.mean(chains)),
        "autocorrelation_time_measurements": tau,
        "autocorrelation_time_log_psi_evaluations": tau * cost,
        "devices": f"{len(jax.devices())} x {jax.devices()[0].platform}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--measurements", type=int, default=200)
    parser.add_argument("--evaluations", type=int, default=8, help="log|Psi| evaluations per walker between measurements")
    parser.add_argument("--adapt-rounds", type=int, default=30)
    args = parser.parse_args()
    results = {
        sampler: mixing(args.run_dir, sampler, args.measurements, args.evaluations, args.adapt_rounds)
        for sampler in ("gibbs", "joint")
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
