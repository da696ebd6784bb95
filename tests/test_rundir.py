"""Run-directory files: atomic writes (permissions, failures), statistics line endings, signals."""

import errno
import os
import signal
import stat

import pytest

from qsolid import checkpoint, rundir
from qsolid.vmc import command as commands
from qsolid.cli import main


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_write_gives_the_mode_of_an_ordinary_file(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        rundir.atomic_write_text(tmp_path / "a.json", "{}")
        (tmp_path / "plain.txt").write_text("x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == mode
    assert stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode) == mode


def test_failed_write_raises_the_original_error_and_leaves_no_temporary(tmp_path, monkeypatch):
    (tmp_path / "keep.json").write_text("old")

    def replace(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device", dst)

    monkeypatch.setattr(rundir.os, "replace", replace)
    with pytest.raises(OSError) as caught:
        rundir.atomic_write_text(tmp_path / "keep.json", "new")
    assert caught.value.errno == errno.ENOSPC
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.json"]
    assert (tmp_path / "keep.json").read_text() == "old"


def test_failing_clean_up_does_not_mask_the_original_error(tmp_path, monkeypatch):
    """A directory made unwritable mid-write: rename and unlink both fail; the rename's error is raised."""

    def replace(src, dst):
        raise PermissionError(errno.EACCES, "Permission denied", dst)

    def unlink(path):
        raise PermissionError(errno.EACCES, "Permission denied (clean-up)", path)

    monkeypatch.setattr(rundir.os, "replace", replace)
    monkeypatch.setattr(rundir.os, "unlink", unlink)
    with pytest.raises(PermissionError) as caught:
        rundir.atomic_write_text(tmp_path / "x.json", "new")
    assert "clean-up" not in str(caught.value) and caught.value.filename == tmp_path / "x.json"
    monkeypatch.undo()
    leftover = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(leftover) == 1
    # The next checkpoint write (prune) removes what the failed write could not.
    checkpoint.prune(tmp_path, keep=3)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_resumed_stats_file_has_one_line_ending(tmp_path):
    stats = rundir.StatsFile(tmp_path / "stats.csv", ["step", "energy_ha"])
    stats.append([{"step": 0, "energy_ha": 1.0}, {"step": 1, "energy_ha": 2.0}, {"step": 2, "energy_ha": 3.0}])
    stats.truncate_after(1)
    stats.append([{"step": 2, "energy_ha": 4.0}])
    data = (tmp_path / "stats.csv").read_bytes()
    assert b"\r" not in data
    assert data.decode().splitlines() == ["step,energy_ha", "0,1.0", "1,2.0", "2,4.0"]


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_stop_request_exit_status_follows_the_signal(signum, status):
    with rundir.StopRequest() as stop:
        os.kill(os.getpid(), signum)
        assert stop.requested
    assert rundir.StopRequest.exit_status() == status


def test_sigterm_outside_the_training_loop_exits_143_with_one_line(tmp_path):
    """SIGTERM while a command is busy outside the training/evaluation loops (here: a slow `config`)."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        import os, signal, time
        from qsolid.vmc import command as commands
        from qsolid.cli import main

        def command_config(args):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)
            return 0

        commands.command_config = command_config
        raise SystemExit(main(["config"]))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            cwd=os.path.dirname(os.path.dirname(__file__)))
    assert result.returncode == 143
    assert result.stderr == "qsolid: terminated\n"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_ends_a_stretch_with_nothing_to_save_at_once(signum):
    """Inside ended_at_once_by_signals the signal's default action ends the process without waiting
    for the interpreter (a Python handler would wait for a long native call to return); outside it,
    the handlers in place before are back."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        f"""
        import os, signal, time
        from qsolid import rundir

        def flag(signum, frame):
            print("handled", flush=True)

        signal.signal({int(signum)}, flag)
        with rundir.ended_at_once_by_signals():
            pass
        os.kill(os.getpid(), {int(signum)})  # the handler in place before: the process goes on
        with rundir.ended_at_once_by_signals():
            os.kill(os.getpid(), {int(signum)})
            time.sleep(30)
        print("not reached", flush=True)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            cwd=os.path.dirname(os.path.dirname(__file__)))
    assert result.returncode == -signum  # ended by the signal itself (a shell reports 128 + signum)
    assert result.stdout == "handled\n"


def test_permission_error_is_one_line(monkeypatch, capsys):
    """An unwritable target (here: plots/ of a run directory) is one line naming the file, exit 2."""

    def command_plot(args):
        raise PermissionError(errno.EACCES, "Permission denied", f"{args.run_dir}/plots/training.png")

    monkeypatch.setattr(commands, "command_plot", command_plot)
    assert main(["plot", "RUN"]) == 2
    assert capsys.readouterr().err == "qsolid: error: RUN/plots/training.png: permission denied\n"
