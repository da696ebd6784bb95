"""Cost of one VMC step at the matched settings of the performance issue's table; prints a JSON list.

    python benchmarks/performance.py [--cases NAME ...] [--steps N] [--set KEY=VALUE ...]

Each case runs in a fresh process: build the problem, burn in, take one step
(`first_step_s`: tracing, lowering and XLA's compilation included, each also
reported on its own), then time `--steps` more (default 10)
and report the medians of their wall and CPU seconds (process CPU time, all
threads: the number to compare when other jobs share the machine). Also:
compilations after the first step (must be 0), XLA's floating-point operations
per step, a float32 matrix product's rate in the same process (the machine's
practical peak; the step's rate is quoted against it), and the process's peak
resident memory.

FLOPs: XLA's cost analysis counts a loop body once whatever its trip count
and skips LAPACK calls (the determinants' LU, KFAC's inverses: a few percent at
most). The Metropolis sweeps are loops, so the count of the compiled step is
corrected by the remaining moves of each kind, each costed as a compiled
single move: flops = F(step) + sum_kind (moves_kind - 1) F(move_kind). With
hamiltonian.walker_chunk the local energies are a loop over chunks too: the
remaining chunks are added, each costed as the local energies of one chunk.

Cases (float32, KFAC unless --set changes it, forward Laplacian, no pretraining; bcc hydrogen at
r_s = 1.31 as in the seed's bcc preset):
  bcc2-clamped, bcc8-clamped, bcc16-clamped, bcc54-clamped: 2, 8, 16, 54 atoms (8: the 2x2x1
      supercell of the cubic cell), clamped protons,
      3 layers of widths (64, 32), 16 determinants, no Jastrow, 5 electron
      moves per step; batch 256 (2 atoms) or 64.
  bcc2-quantum, bcc16-quantum: quantum protons, 2 layers (64, 16), nuclear
      width 16, 2 determinants, batch 64, 50 Gibbs sweeps of one nuclear and one
      electron move (100 wavefunction evaluations per step).
  bcc16-clamped-twists, bcc2-clamped-twists: bcc16-clamped and bcc2-clamped over the
      4x4x4 shifted Monkhorst-Pack twist set (4 irreducible twists on these cubic cells,
      whose 2x2x2 shifted grid reduces to a single twist) trained as one network
      (system.twist_mode = "shared") at the same total batch: one step over a twist set
      against a Gamma-point step (the finite-size issue asks for at most 1.3x).
  pa3-8-npt-lattice-move: the built-in main job's 8-atom H2 crystal with
      quantum protons at 130 GPa, batch 64; one step = one annealing move of
      the cell (2 re-equilibration sweeps, enthalpy of the current and the
      trial cell on the same sample).
"""

import argparse
import json
import os
import subprocess
import sys

CLAMPED_NETWORK = {
    "network.layers": 3,
    "network.one_electron_width": 64,
    "network.two_electron_width": 32,
    "network.determinants": 16,
    "network.jastrow": False,
    "sampling.sweeps_per_step": 5,
}
QUANTUM_NETWORK = {
    "system.nuclei": "quantum",
    "network.layers": 2,
    "network.one_electron_width": 64,
    "network.two_electron_width": 16,
    "network.nuclear_width": 16,
    "network.determinants": 2,
    "sampling.sampler": "gibbs",
    "sampling.sweeps_per_step": 50,
    "sampling.nuclear_moves_per_block": 1,
}
BCC = {"system.structure": "bcc", "system.rs": 1.31, "system.twists": "gamma", "network.open_shells": "fixed"}
"""Gamma, one plane wave per orbital, as the seed's code."""
TWIST_SET = {"grid": [4, 4, 4], "shift": True}
CASES = {
    "bcc2-clamped": {**BCC, **CLAMPED_NETWORK, "system.supercell": [1, 1, 1], "sampling.batch_size": 256},
    "bcc8-clamped": {**BCC, **CLAMPED_NETWORK, "system.supercell": [2, 2, 1], "sampling.batch_size": 64},
    "bcc16-clamped": {**BCC, **CLAMPED_NETWORK, "system.supercell": [2, 2, 2], "sampling.batch_size": 64},
    "bcc2-quantum": {**BCC, **QUANTUM_NETWORK, "system.supercell": [1, 1, 1], "sampling.batch_size": 64},
    "bcc16-quantum": {**BCC, **QUANTUM_NETWORK, "system.supercell": [2, 2, 2], "sampling.batch_size": 64},
    "bcc2-clamped-twists": {**BCC, **CLAMPED_NETWORK, "system.supercell": [1, 1, 1], "sampling.batch_size": 256,
                            "system.twists": TWIST_SET},
    "bcc16-clamped-twists": {**BCC, **CLAMPED_NETWORK, "system.supercell": [2, 2, 2], "sampling.batch_size": 64,
                             "system.twists": TWIST_SET},
    "pa3-8-npt-lattice-move": {"main_job": True, "sampling.batch_size": 64},
    "bcc54-clamped": {**BCC, **CLAMPED_NETWORK, "system.supercell": [3, 3, 3], "sampling.batch_size": 64},
}
COMMON = {"precision": "float32", "pretrain.steps": 0, "sampling.burn_in_sweeps": 10, "optimisation.steps": 10**6}


def matmul_peak_flops_per_s(n: int = 2048, repeats: int = 5) -> float:
    """Best rate of a jitted float32 n x n matrix product (2 n^3 flops) in this process."""
    import time

    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
    product = jax.jit(lambda x, y: x @ y)
    product(a, a).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        product(a, a).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return 2.0 * n**3 / best


def _config(name: str, steps: int, extra: dict | None = None):
    from qsolid.vmc.config import load_config, main_job_config
    from qsolid.schema import to_dict

    overrides = {**COMMON, **CASES[name], **(extra or {})}
    if overrides.pop("main_job", False):
        job = to_dict(main_job_config())
        flat = {f"{section}.{key}": value for section, values in job.items() if isinstance(values, dict)
                for key, value in values.items()}
        overrides = {
            **flat,
            **overrides,
            # Every step a lattice step with one annealing move; the warm-up is skipped.
            "npt.warmup_steps": 0,
            "npt.lattice_steps": steps + 2,
            "npt.annealing_steps_per_lattice_step": 1,
        }
    return load_config(overrides=overrides)


def _move_flops(problem, state) -> dict:
    """XLA's count for one Metropolis move of each kind the sampler makes."""
    import jax
    import jax.numpy as jnp

    from qsolid.vmc import sampling
    from qsolid.profiling import compiled_flops

    dtype = problem.dtype
    inverse = jnp.linalg.inv(jnp.asarray(state.lattice, dtype))
    kinds = {"electron": (True, False), "nuclear": (False, True), "joint": (True, True)}
    flops = {}
    for kind, (electron, nuclear) in kinds.items():
        def move(params, walkers, key, step, electron=electron, nuclear=nuclear):
            return sampling._metropolis_move(
                problem.wavefunction.log_abs_batch, params, walkers, key,
                step if electron else None, step if nuclear else None, inverse,
            )
        flops[kind] = compiled_flops(jax.jit(move), state.params, state.walkers, jax.random.PRNGKey(0), jnp.asarray(0.1, dtype))
    return flops


def _moves_per_sampling(problem, sweeps: int) -> dict:
    """Moves of each kind in `sweeps` sweeps of the problem's sampler (qsolid.vmc.sampling.metropolis_sweeps)."""
    config = problem.config.sampling
    if not problem.system.quantum_nuclei:
        return {"electron": sweeps * config.moves_per_block}
    if config.sampler == "joint":
        return {"joint": sweeps * config.moves_per_block}
    return {"electron": sweeps * config.moves_per_block,
            "nuclear": sweeps * (config.nuclear_moves_per_block or config.moves_per_block)}


def _corrected(program_flops: float, moves: dict, move_flops: dict) -> float:
    """The program's count with every move kind it contains counted `moves[kind]` times, not once."""
    return program_flops + sum((count - 1) * move_flops[kind] for kind, count in moves.items())


def _remaining_chunks_flops(problem, state) -> float:
    """With hamiltonian.walker_chunk the local energies are a loop over chunks, which XLA counts once: the
    count of the other batch / chunk - 1 chunks' local energies."""
    import jax

    from qsolid.profiling import compiled_flops

    chunk, batch = problem.walker_chunk, problem.config.sampling.batch_size
    if not chunk:
        return 0.0
    walkers = jax.tree.map(lambda x: x[:chunk], state.walkers)  # Walkers is a registered dataclass
    return (batch // chunk - 1) * compiled_flops(problem.measure, state.params, walkers, state.lattice)


def _step_flops(problem, state) -> float:
    import numpy as np

    from qsolid.vmc import train
    from qsolid.profiling import compiled_flops

    move_flops = _move_flops(problem, state)
    if train.stage_name(problem, state.step) != "lattice":
        program = compiled_flops(
            problem.optimisation_step, state.params, state.opt_state, state.walkers, state.step, 0,
            state.electron_step_bohr, state.nuclear_step_bohr, state.lattice,
        )
        return _corrected(program, _moves_per_sampling(problem, problem.config.sampling.sweeps_per_step), move_flops) + \
            _remaining_chunks_flops(problem, state)
    npt_config = problem.config.npt
    cells = np.stack([state.lattice] * (2 if npt_config.reestimate_current else 1))
    program = compiled_flops(
        problem.estimate_cells, state.params, state.walkers, np.zeros(2, np.uint32), state.electron_step_bohr,
        state.nuclear_step_bohr, state.lattice, cells,
    )
    per_estimate = _corrected(program, _moves_per_sampling(problem, npt_config.reequilibration_sweeps), move_flops)
    per_estimate += len(cells) * _remaining_chunks_flops(problem, state)  # the cells' local energies are vmapped
    # One annealing move: enthalpy_estimates estimates (plus one of the held cell at a stage's start
    # unless reestimate_current, which measures both cells in every estimate).
    return npt_config.enthalpy_estimates * per_estimate


def parse_overrides(items: list[str]) -> dict:
    """KEY=VALUE strings (dotted keys, TOML values, e.g. optimisation.optimiser="spring") -> overrides."""
    import tomllib

    pairs = (item.split("=", 1) for item in items)
    return {key: tomllib.loads(f"value = {text}")["value"] for key, text in pairs}


def measure(name: str, steps: int, extra: dict | None = None) -> dict:
    import resource
    import tempfile
    import time

    import jax
    import numpy as np

    from qsolid.vmc import runstate, train
    from qsolid.profiling import count_compilations
    from qsolid.rundir import setup_logging
    from qsolid.vmc.problem import build_problem

    start = time.perf_counter()
    config = _config(name, steps, extra)
    problem = build_problem(config)
    state = runstate.initial_state(problem)
    state = runstate.burn_in(problem, state, config.sampling.burn_in_sweeps)
    state.opt_state = runstate.init_optimiser(problem, state)
    logger = setup_logging(tempfile.mkdtemp())
    setup = time.perf_counter() - start

    def one_step():
        step = train.lattice_step if train.stage_name(problem, state.step) == "lattice" else train.optimisation_step
        return step(problem, state, logger)  # returns after the step's statistics reached the host

    with count_compilations() as first:
        start = time.perf_counter()
        one_step()
        first_step = time.perf_counter() - start
    wall, cpu = [], []
    with count_compilations() as later:
        for _ in range(steps):
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            one_step()
            wall.append(time.perf_counter() - start_wall)
            cpu.append(time.process_time() - start_cpu)
    flops = _step_flops(problem, state)
    peak = matmul_peak_flops_per_s()
    wall_median, cpu_median = float(np.median(wall)), float(np.median(cpu))
    return {
        "case": name,
        "overrides": extra or {},
        "optimiser": config.optimisation.optimiser,
        "n_atoms": problem.system.n_nuclei,
        "twists": len(problem.system.twists),
        "batch": config.sampling.batch_size,
        "walker_chunk": problem.walker_chunk,
        "devices": f"{len(jax.devices())} x {jax.devices()[0].platform}",
        "steps_timed": steps,
        "cpu_s_per_step": cpu_median,
        "wall_s_per_step": wall_median,
        "first_step_s": first_step,
        "first_step_compile_s": float(sum(first.seconds)),
        "first_step_trace_s": first.trace_seconds,
        "first_step_lower_s": first.lower_seconds,
        "setup_s": setup,
        "compiles_after_first_step": len(later),
        "compiled_after_first_step": sorted(set(later)),
        "flops_per_step": flops,
        "matmul_peak_flops_per_s": peak,
        "flops_per_s": flops / wall_median,
        "fraction_of_matmul_peak": flops / wall_median / peak,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2**30,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES), metavar="NAME")
    parser.add_argument("--steps", type=int, default=10, help="steps timed after the first (default 10)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help='a config override for every case (TOML value), e.g. --set optimisation.optimiser=\'"spring"\'',
    )
    parser.add_argument("--single", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.single:
        print(json.dumps(measure(args.single, args.steps, parse_overrides(args.set))))
        return
    results = []
    for name in args.cases:
        sets = [option for item in args.set for option in ("--set", item)]
        output = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--single", name, "--steps", str(args.steps), *sets],
            check=True, stdout=subprocess.PIPE, text=True,
        ).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
