import jax
import pytest


@pytest.fixture
def float64():
    """Run a test in float64 and restore the previous precision afterwards."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", previous)
