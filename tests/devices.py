"""The environment of a test subprocess that runs on `count` emulated CPU devices.

The device-count flag is added to the session's XLA_FLAGS (tests/conftest.py), not put in their place, so
the subprocess compiles as the test process does and their numbers can be compared bit for bit.
"""

import os


def cpu_devices_environment(count: int) -> dict:
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={count}".strip()
    return {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": flags}
