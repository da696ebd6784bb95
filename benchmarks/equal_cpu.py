"""One arm of an equal-CPU comparison: train a config for a fixed CPU budget, then evaluate; prints JSON.

    python benchmarks/equal_cpu.py CONFIG --out RUN_DIR --train-cpu-seconds S --eval-steps N [--set KEY=VALUE ...]

The config (with the --set overrides, TOML values, e.g. --set sampling.batch_size=64) is written to
RUN_DIR.toml and run by `qsolid run RUN_DIR.toml --out RUN_DIR` in a child process. The training budget
is the child's CPU time (user + system, all threads) counted from its first training step (written to
stats.csv, so Hartree-Fock, pretraining, burn-in and the compilation of the step are outside it); when it
is spent the child gets SIGTERM, writes its checkpoint and stops, exactly as a run stopped by hand. That
wavefunction is then evaluated (`qsolid evaluate RUN_DIR --steps N`). Reported: the parameter count the
run logged, the training steps taken, CPU-s per training step (the budget over the steps it bought),
the CPU-s of each phase, the load average before and after, and evaluation.json's energy and variance.
Training CPU-s per step is the comparable cost; on a shared machine wall times are not.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import psutil
import tomli_w

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import performance  # noqa: E402

POLL_SECONDS = 1.0
QSOLID = [sys.executable, "-m", "qsolid.cli"]


def write_config(source: Path, overrides: list[str], target: Path) -> None:
    """The TOML file `source` with KEY=VALUE overrides (dotted keys, TOML values) written to `target`."""
    data = tomllib.loads(source.read_text())
    for dotted, value in performance.parse_overrides(overrides).items():
        *parents, leaf = dotted.split(".")
        table = data
        for parent in parents:
            table = table.setdefault(parent, {})
        table[leaf] = value
    target.write_text(f"# {source} with {' '.join(overrides) or 'no overrides'} (benchmarks/equal_cpu.py)\n" + tomli_w.dumps(data))


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system + times.children_user + times.children_system


def stats_rows(run_dir: Path) -> int:
    path = run_dir / "stats.csv"
    return max(0, len(path.read_text().splitlines()) - 1) if path.exists() else 0


def train_for(config: Path, run_dir: Path, budget: float) -> dict:
    """Run until `budget` CPU-s after the first training step, then SIGTERM; CPU-s by phase."""
    child = subprocess.Popen([*QSOLID, "run", str(config), "--out", str(run_dir)], stdout=subprocess.DEVNULL)
    process = psutil.Process(child.pid)
    start_cpu = None
    first_rows = last_rows = used = 0
    while child.poll() is None:
        time.sleep(POLL_SECONDS)
        try:
            used = cpu_seconds(process)
        except psutil.NoSuchProcess:
            break
        rows = last_rows = stats_rows(run_dir)
        if start_cpu is None and rows >= 1:
            start_cpu, first_rows = used, rows
        if start_cpu is not None and used - start_cpu >= budget:
            child.send_signal(signal.SIGTERM)
            break
    child.wait()
    training = used - start_cpu if start_cpu is not None else 0.0
    return {
        "training_steps": stats_rows(run_dir),
        "setup_cpu_s": start_cpu,
        "training_cpu_s": training,
        "training_cpu_s_per_step": training / max(1, last_rows - first_rows),
        "exit_status": child.returncode,
    }


def evaluate(run_dir: Path, steps: int) -> dict:
    before = os.times()
    subprocess.run([*QSOLID, "evaluate", str(run_dir), "--steps", str(steps)], stdout=subprocess.DEVNULL, check=True)
    after = os.times()
    cpu = after.children_user + after.children_system - before.children_user - before.children_system
    results = json.loads((run_dir / "evaluation.json").read_text())
    scalars = {key: value for key, value in results.items() if isinstance(value, (int, float, str))}
    return {"evaluation_steps": steps, "evaluation_cpu_s": cpu, "evaluation": scalars}


def parameter_count(run_dir: Path) -> int | None:
    match = re.search(r"wavefunction '\w+': (\d+) parameters", (run_dir / "qsolid.log").read_text())
    return int(match.group(1)) if match else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--train-cpu-seconds", type=float, required=True)
    parser.add_argument("--eval-steps", type=int, required=True)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    args = parser.parse_args()
    config = args.out.with_suffix(".toml")
    write_config(args.config, args.overrides, config)
    load_before = os.getloadavg()
    report = {"config": str(args.config), "overrides": args.overrides, "budget_cpu_s": args.train_cpu_seconds}
    report.update(train_for(config, args.out, args.train_cpu_seconds))
    report["parameters"] = parameter_count(args.out)
    report.update(evaluate(args.out, args.eval_steps))
    report["load_average_before"], report["load_average_after"] = load_before, os.getloadavg()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
