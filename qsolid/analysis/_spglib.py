"""Calls into spglib that behave the same under its old and new error handling.

spglib 2.x either returns None on failure and warns that this is deprecated
(OLD_ERROR_HANDLING, the default before 3.0) or raises SpglibError. ``call``
silences the deprecation warning locally, without changing spglib's global
setting for the rest of the program, and returns None on failure in both modes.
"""

import warnings

import spglib


def call(name: str, *args, **kwargs):
    """spglib.<name>(*args, **kwargs), or None where spglib reports an error."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Set OLD_ERROR_HANDLING", category=DeprecationWarning)
        try:
            return getattr(spglib, name)(*args, **kwargs)
        except spglib.SpglibError:
            return None
