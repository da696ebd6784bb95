"""JAX's persistent compilation cache for the command line: a resumed or repeated run loads its
compiled programs from disk instead of compiling them again.

`qsolid` sets JAX_COMPILATION_CACHE_DIR before JAX is imported, to

    $QSOLID_COMPILATION_CACHE                      if set ("off" disables the cache),
    $XDG_CACHE_HOME/qsolid/jax-<machine>           otherwise (XDG_CACHE_HOME defaults to ~/.cache),

unless JAX_COMPILATION_CACHE_DIR is already set. <machine> names the architecture and a hash of
the CPU's feature flags: XLA's CPU executables are specific to them, so nodes of a cluster with
different CPUs sharing a home directory keep separate caches. JAX caches programs that took at
least JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS (1 s by default) to compile. The cache is
trusted code: keep it in a directory only you can write.

XLA's CPU loader reports two false errors per cached program ("Target machine feature
+prefer-no-gather is not supported on the host machine ... could lead to SIGILL": tuning
preferences compared as if they were instruction sets, openxla/xla issue 44565) and then runs it.
With the cache on, qsolid therefore sets TF_CPP_MIN_LOG_LEVEL=3 (XLA's C++ log: fatal only) unless
it is set already; set it to 0 to see XLA's C++ messages.

From Python, set JAX_COMPILATION_CACHE_DIR (or call `configure()`) before importing jax.
"""

import hashlib
import os
import platform
from pathlib import Path

OFF = "off"


def machine_tag() -> str:
    """<architecture>-<8 hex digits of the CPU flags> (the flags of the first CPU in /proc/cpuinfo)."""
    flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                flags = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.machine() or 'unknown'}-{hashlib.sha256(flags.encode()).hexdigest()[:8]}"


def default_directory(environ=os.environ) -> Path:
    base = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "qsolid" / f"jax-{machine_tag()}"


def configure(environ=os.environ) -> str | None:
    """Point JAX's persistent cache at qsolid's directory (module docstring); returns it, or None
    when disabled. Takes effect only if jax has not been imported yet."""
    if "JAX_COMPILATION_CACHE_DIR" in environ:
        return environ["JAX_COMPILATION_CACHE_DIR"]
    choice = environ.get("QSOLID_COMPILATION_CACHE", "")
    if choice.lower() == OFF:
        return None
    environ["JAX_COMPILATION_CACHE_DIR"] = str(Path(choice) if choice else default_directory(environ))
    environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return environ["JAX_COMPILATION_CACHE_DIR"]
