"""The run directory: resolved config, log, statistics, summary, checkpoints.

Layout of RUN_DIR:
  config.toml        the resolved config (every field, defaults filled in)
  qsolid.log         the log of every session of the run
  stats.csv          one row per step (machine-readable training curves)
  checkpoints/       atomic ``step_XXXXXXXX.npz`` files (see qsolid.checkpoint)
  summary.json       final numbers, written at the end of the run

Files are written atomically (temporary file in the same directory, then
rename), so a run killed at any moment never leaves a half-written file and
never overwrites an earlier result with a broken one.

In a multi-process run (qsolid.distributed) only process 0 writes: on the others the
functions here that write (atomic writes, the statistics file, the log, clean-ups) do nothing.
"""

import contextlib
import csv
import io
import json
import logging
import os
import signal
import tempfile
from pathlib import Path

import numpy as np


class RunFailed(RuntimeError):
    """A run cannot go on (its last good checkpoint stays): the CLI prints the reason on one line, exit status 1."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temporary_file(path, suffix: str = ".tmp"):
    """(fd, name) of a new hidden file beside `path` (``.NAME.XXXX.tmp``), with the permissions
    an ordinary file would get (0666 less the umask) rather than mkstemp's 0600."""
    path = Path(path)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.fchmod(handle, 0o666 & ~_umask())
    return handle, tmp


def writes() -> bool:
    """False in the processes of a multi-process run other than process 0 (they write nothing)."""
    from qsolid.distributed import is_primary  # jax is loaded only once a run starts

    return is_primary()


def atomic_write_bytes(path, data: bytes) -> None:
    """Write `data` to `path` atomically (temp file + fsync + rename); nothing if not `writes()`.

    On failure the temporary file is removed if the directory still allows it, and the
    original error is raised (a failing clean-up never masks it).
    """
    if not writes():
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = temporary_file(path)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def remove_temporaries(directory) -> None:
    """Delete temporary files (``.*.tmp``) left in `directory` by writes that could not clean up."""
    directory = Path(directory)
    if not writes():
        return
    for tmp in directory.glob(".*.tmp") if directory.is_dir() else ():
        with contextlib.suppress(OSError):
            tmp.unlink()


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_npz(path, **arrays) -> None:
    """np.savez of `arrays` to `path`, atomically (atomic_write_bytes)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def atomic_write_json(path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path):
    with open(path) as file:
        return json.load(file)


def setup_logging(run_dir, name: str = "qsolid") -> logging.Logger:
    """Logger writing to RUN_DIR/qsolid.log (appending across resumed sessions); silent if not `writes()`."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    handler = logging.FileHandler(Path(run_dir) / "qsolid.log") if writes() else logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    return logger


class StatsFile:
    """Append-only CSV of per-step statistics; truncated to a step on resume.

    Rows after the resumed checkpoint's step are dropped so that an interrupted
    and resumed run has exactly the rows of an uninterrupted one.
    """

    def __init__(self, path, columns):
        self.path = Path(path)
        self.columns = list(columns)

    def truncate_after(self, step: int) -> None:
        if not self.path.exists() or not writes():
            return
        with open(self.path, newline="") as file:
            rows = [row for row in csv.DictReader(file) if int(row["step"]) <= step]
        text = ",".join(self.columns) + "\n"
        text += "".join(",".join(row.get(c) or "nan" for c in self.columns) + "\n" for row in rows)
        atomic_write_text(self.path, text)

    def append(self, rows) -> None:
        if not writes():
            return
        new = not self.path.exists()
        with open(self.path, "a", newline="") as file:
            # "\n" like truncate_after, so a resumed file never mixes line endings.
            writer = csv.DictWriter(file, fieldnames=self.columns, lineterminator="\n")
            if new:
                writer.writeheader()
            for row in rows:
                writer.writerow({c: _format(row[c]) for c in self.columns})
            file.flush()


def _format(value):
    return repr(float(value)) if isinstance(value, float) or hasattr(value, "dtype") else value


def read_stats(path) -> dict:
    """Columns of a stats CSV as lists: floats for numeric columns, strings otherwise.

    A file that is not a table (binary, ragged rows) is a ConfigError naming it; a header
    without rows gives {}.
    """
    from qsolid.schema import ConfigError

    try:
        with open(path, newline="") as file:
            reader = csv.DictReader(file)
            rows = list(reader)
            header = reader.fieldnames or []
    except (UnicodeDecodeError, csv.Error) as error:
        raise ConfigError(f"stats.csv: {path} is not a CSV table ({type(error).__name__})") from None
    for number, row in enumerate(rows, start=2):
        if None in row or None in row.values():
            raise ConfigError(f"stats.csv: {path} line {number} does not have the {len(header)} columns of its header")
    if not rows:
        return {}
    return {key: _column([row[key] for row in rows]) for key in rows[0]}


def _column(values):
    try:
        return [float(v) for v in values]
    except ValueError:
        return values


def _exit_terminated(signum, frame):
    # os._exit, not an exception: an exception raised here can land in a callback that swallows it
    # (JAX's garbage-collection hook) and the process would carry on. Every file is written
    # atomically, so nothing is left half-written.
    os.write(2, b"qsolid: terminated\n")
    os._exit(128 + signal.SIGTERM)


@contextlib.contextmanager
def exit_on_sigterm():
    """While active, SIGTERM prints one line and exits with status 143 whatever the process is doing
    (set-up, Hartree-Fock, pretraining); the training and evaluation loops override this with a
    StopRequest, which saves a checkpoint first."""
    previous = signal.signal(signal.SIGTERM, _exit_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def ended_at_once_by_signals():
    """While active, SIGINT and SIGTERM end the process at once (the operating system's default action),
    even inside one long native call such as PySCF's integrals, where a Python handler would wait for the
    call to return (minutes for a twisted 16-atom cell). For stretches with nothing to save: every file
    is written atomically, and a resume starts the stretch again."""
    previous = {signum: signal.signal(signum, signal.SIG_DFL) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class StopRequest:
    """Turns SIGINT/SIGTERM into a flag the driver polls between steps.

    The driver then writes a checkpoint and exits cleanly; a second signal
    falls back to the previous behaviour (immediate interruption). The signal
    received is kept in StopRequest.signum for the process's exit status.
    """

    signum = None

    def __init__(self):
        self.requested = False
        self._previous = {}

    @classmethod
    def exit_status(cls) -> int:
        """128 + the number of the signal that stopped the run: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + int(cls.signum or signal.SIGINT)

    def _handle(self, signum, frame):
        self.requested = True
        StopRequest.signum = signum
        signal.signal(signum, self._previous[signum])

    def __enter__(self):
        StopRequest.signum = None
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.getsignal(signum)
            signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        return False
