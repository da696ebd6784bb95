"""Runs over several processes (qsolid.distributed): start-up flags, and the same numbers as one process.

The slow test runs the tiny bcc-2 float64 job of tests/vmc/test_train.py four ways on this CPU:
  A  1 process with 2 (emulated) devices, uninterrupted: the reference;
  B  2 processes with 1 device each (localhost coordinator), stopped by SIGTERM sent to process 1
     only, then resumed in 1 process with 2 devices;
  C  A's step-3 checkpoint resumed in 2 processes.
The devices and the walkers on each are the same in all of them, and random keys depend only on
(seed, step), so every statistics row and the evaluation must agree to the last bit.
"""

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tomli_w

from qsolid import cli, rundir
from tests.devices import cpu_devices_environment

ROOT = Path(__file__).resolve().parents[1]

TINY = {
    "seed": 3,
    "precision": "float64",
    "system": {"structure": "bcc", "lattice_constant_bohr": 3.77945227},
    "network": {"one_electron_width": 8, "two_electron_width": 4, "layers": 1, "determinants": 1},
    "sampling": {"batch_size": 8, "burn_in_sweeps": 5, "sweeps_per_step": 2, "adapt_every": 2, "resample_after_update": True},
    "optimisation": {"steps": 40},
    "pretrain": {"steps": 0},
    "evaluation": {"steps": 4},
    "output": {"checkpoint_every": 3},
}
TIMEOUT_S = 900


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--num-processes", "2"], "--coordinator, --num-processes and --process-id: give all three"),
        (["--coordinator", "node0", "--num-processes", "2", "--process-id", "0"], "--coordinator: expected HOST:PORT"),
        (["--coordinator", "node0:1", "--num-processes", "two", "--process-id", "0"], "--num-processes: must be a whole number"),
        (["--coordinator", "node0:1", "--num-processes", "2", "--process-id", "2"], "--process-id: must be in 0 .. 1, got 2"),
        (["--coordinator", "node0:1", "--num-processes", "0", "--process-id", "0"], "--num-processes: must be >= 1"),
        (["--distributed", "--coordinator", "node0:1", "--num-processes", "2", "--process-id", "0"], "--distributed: reads the cluster"),
    ],
)
def test_bad_process_flags_are_one_line_exit_2(tmp_path, capsys, flags, message):
    config = tmp_path / "tiny.toml"
    config.write_text(tomli_w.dumps(TINY))
    out = tmp_path / "run"
    assert cli.main(["run", str(config), "--out", str(out), *flags]) == cli.EXIT_INVALID_INPUT
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message in error, error
    assert not out.exists()


def test_several_slurm_tasks_without_distributed_are_refused(tmp_path, capsys, monkeypatch):
    """`srun -n 4 qsolid run ...` without --distributed would be 4 runs writing one directory."""
    monkeypatch.setenv("SLURM_NTASKS", "4")
    monkeypatch.setenv("SLURM_STEP_ID", "0")
    config = tmp_path / "tiny.toml"
    config.write_text(tomli_w.dumps(TINY))
    assert cli.main(["run", str(config), "--out", str(tmp_path / "run")]) == cli.EXIT_INVALID_INPUT
    assert "SLURM started 4 tasks; add --distributed" in capsys.readouterr().err


def test_distributed_without_a_cluster_is_one_line_exit_2(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(tomli_w.dumps(TINY))
    env = {key: value for key, value in _environment(1).items() if not key.startswith(("SLURM_", "OMPI_", "JAX_COORDINATOR"))}
    result = subprocess.run(_qsolid(config, "--out", tmp_path / "run", "--distributed"), env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == cli.EXIT_INVALID_INPUT
    assert result.stderr.startswith("qsolid: error: distributed: no cluster in the environment") and result.stderr.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_importing_qsolid_starts_no_distributed_runtime():
    script = (
        "import importlib, pkgutil, jax, qsolid\n"
        "for info in pkgutil.walk_packages(qsolid.__path__, 'qsolid.'):\n"
        "    try: importlib.import_module(info.name)\n"
        "    except ModuleNotFoundError as error: assert error.name.split('.')[0] != 'qsolid'\n"
        "from jax._src import xla_bridge\n"  # test-only peek: has any backend been created?
        "print(jax.distributed.is_initialized(), xla_bridge.backends_are_initialized())\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT)
    assert result.stdout.split() == ["False", "False"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def _environment(devices: int) -> dict:
    return {**cpu_devices_environment(devices), "PYTHONPATH": str(ROOT)}


def _qsolid(*args) -> list:
    return [sys.executable, "-m", "qsolid.cli", "run", *map(str, args)]


def _one_process(*args):
    """`qsolid run ARGS` in one process with 2 devices."""
    subprocess.run(_qsolid(*args), check=True, env=_environment(2), cwd=ROOT, capture_output=True, timeout=TIMEOUT_S)


def _two_processes(*args, stop_when=None):
    """`qsolid run ARGS` in 2 processes of 1 device each; with `stop_when(run_dir)`, SIGTERM goes
    to process 1 alone once it returns True. Returns the exit statuses."""
    port = _free_port()
    processes = [
        subprocess.Popen(
            _qsolid(*args, "--coordinator", f"localhost:{port}", "--num-processes", 2, "--process-id", index),
            env=_environment(1), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for index in (0, 1)
    ]
    try:
        if stop_when is not None:
            while not stop_when() and processes[1].poll() is None:
                time.sleep(0.02)
            processes[1].send_signal(signal.SIGTERM)
        outputs = [process.communicate(timeout=TIMEOUT_S)[0] for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    return [process.returncode for process in processes], outputs


def _stats(run_dir: Path) -> np.ndarray:
    stats = rundir.read_stats(run_dir / "stats.csv")
    return np.array([stats[name] for name in ("step", "energy_ha", "variance_ha2", "kinetic_ha", "acceptance", "electron_step_bohr")])


def _evaluation(run_dir: Path) -> dict:
    results = json.loads((run_dir / "evaluation.json").read_text())
    return {key: value for key, value in results.items() if "seconds" not in key}


@pytest.mark.slow
def test_two_processes_give_the_numbers_of_one_and_checkpoints_cross_process_counts(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(tomli_w.dumps(TINY))
    reference = tmp_path / "one_process"
    _one_process(config, "--out", reference)

    # B: process 1 receives SIGTERM during training; both stop after the same step.
    stopped = tmp_path / "two_processes"
    stats_file = stopped / "stats.csv"
    status, outputs = _two_processes(
        config, "--out", stopped, stop_when=lambda: stats_file.exists() and len(stats_file.read_text().splitlines()) > 3
    )
    assert status[1] == 128 + signal.SIGTERM, outputs[1]
    assert status[0] == 130, outputs[0]  # stopped at the request of another process
    assert "process 1 of 2: stopped" in outputs[1]
    step = int(_stats(stopped)[0, -1]) + 1
    assert 3 <= step < TINY["optimisation"]["steps"]
    assert (stopped / "checkpoints" / f"step_{step:08d}.npz").exists()
    assert (stopped / "qsolid.log").read_text().count("qsolid run in") == 1  # process 1 wrote nothing
    np.testing.assert_array_equal(_stats(stopped), _stats(reference)[:, :step])
    _one_process("--resume", stopped)
    np.testing.assert_array_equal(_stats(stopped), _stats(reference))
    assert _evaluation(stopped) == _evaluation(reference)

    # C: a checkpoint written by one process continues in two.
    resumed = tmp_path / "resumed_on_two"
    shutil.copytree(reference, resumed)
    *_, earlier, last = sorted((resumed / "checkpoints").glob("step_*.npz"))
    last.unlink()  # the run continues from `earlier`
    (resumed / "evaluation_checkpoint.npz").unlink()
    assert int(earlier.stem[5:]) < TINY["optimisation"]["steps"]
    status, outputs = _two_processes("--resume", resumed)
    assert status == [0, 0], outputs
    assert "process 1 of 2: finished" in outputs[1]
    np.testing.assert_array_equal(_stats(resumed), _stats(reference))
    assert _evaluation(resumed) == _evaluation(reference)
    assert json.loads((resumed / "summary.json").read_text())["energy_ha"] == _evaluation(reference)["energy_ha"]
