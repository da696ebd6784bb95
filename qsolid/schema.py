"""Typed, documented configuration sections read from TOML.

A section is a frozen dataclass whose fields carry a ``doc`` string in their
metadata. :func:`parse` turns a TOML table into such a dataclass, rejecting
unknown keys (with a "did you mean" hint) and values of the wrong type, then
calls the section's ``check()`` for range checks. Every problem is a
:class:`ConfigError` whose message names the field by its dotted path, so the
CLI can print it on one line and exit with status 2 before anything runs.
"""

import dataclasses
import difflib
import math
import types
import typing


class ConfigError(ValueError):
    """An invalid configuration value; the message starts with the field path."""


class _NotFinite(ConfigError):
    """A float that is NaN or infinite: reported as such even inside a union type."""


def option(default, doc: str, allow_inf: bool = False):
    """A config field with a default and the one-line documentation `qsolid config` prints.

    Float values must be finite (TOML accepts ``inf`` and ``nan``, which would pass every
    ``>= 0`` check and fail deep inside a run); `allow_inf` admits +-inf for a field whose
    meaning gives it a sense (e.g. beta = inf, the ground state). NaN is never accepted.
    """
    metadata = {"doc": doc, "allow_inf": allow_inf}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def section(doc: str, default_factory):
    """A nested config section."""
    return dataclasses.field(default_factory=default_factory, metadata={"doc": doc})


@dataclasses.dataclass(frozen=True)
class OutputConfig:
    """[output] of every engine: how often a run checkpoints and how many checkpoints it keeps."""

    checkpoint_every: int = option(50, "Steps between checkpoints (also written on Ctrl-C/SIGTERM).")
    keep_checkpoints: int = option(3, "Number of most recent checkpoints kept.")

    def check(self):
        require(self.checkpoint_every >= 1, "checkpoint_every", "must be >= 1")
        require(self.keep_checkpoints >= 1, "keep_checkpoints", "must be >= 1")


def require(condition: bool, field: str, message: str) -> None:
    """Raise ConfigError('field: message') unless condition holds."""
    if not condition:
        raise ConfigError(f"{field}: {message}")


def _type_name(kind) -> str:
    origin = typing.get_origin(kind)
    if origin is typing.Literal:
        return " or ".join(repr(v) for v in typing.get_args(kind))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(option_type) for option_type in typing.get_args(kind))
    if origin in (tuple, list):
        return f"list of {_type_name(typing.get_args(kind)[0])}"
    if origin is dict:
        return f"table of {_type_name(typing.get_args(kind)[1])}"
    return getattr(kind, "__name__", str(kind))


def _convert(value, kind, path: str, allow_inf: bool = False):
    origin = typing.get_origin(kind)
    wrong = ConfigError(f"{path}: expected {_type_name(kind)}, got {value!r}")
    if origin is typing.Literal:
        if value not in typing.get_args(kind):
            raise wrong
        return value
    if origin in (typing.Union, types.UnionType):
        for option_type in typing.get_args(kind):
            try:
                return _convert(value, option_type, path, allow_inf)
            except _NotFinite:
                raise
            except ConfigError:
                continue
        raise wrong
    if origin is tuple:
        args = typing.get_args(kind)
        if not isinstance(value, (list, tuple)):
            raise wrong
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{path}[{i}]", allow_inf) for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{path}: expected {len(args)} values, got {len(value)}")
        return tuple(_convert(v, a, f"{path}[{i}]", allow_inf) for i, (v, a) in enumerate(zip(value, args)))
    if origin is dict:
        key_type, value_type = typing.get_args(kind)
        if not isinstance(value, dict):
            raise wrong
        return {str(k): _convert(v, value_type, f"{path}.{k}", allow_inf) for k, v in value.items()}
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a table [{path}], got {value!r}")
        return parse(kind, value, path)
    if kind is bool:
        if not isinstance(value, bool):
            raise wrong
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong
        value = float(value)
        if math.isnan(value) or (math.isinf(value) and not allow_inf):
            raise _NotFinite(f"{path}: must be a finite number, got {value}")
        return value
    if kind is str:
        if not isinstance(value, str):
            raise wrong
        return value
    raise TypeError(f"unsupported config type {kind} at {path}")


def parse(cls, data: dict, path: str = ""):
    """Build the dataclass `cls` from a TOML table, validating keys, types and ranges."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    prefix = f"{path}." if path else ""
    moved = getattr(cls, "MOVED", {})
    for key in data:
        if key in moved:
            raise ConfigError(f"{prefix}{key}: moved to '{moved[key]}'; use that key")
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
            raise ConfigError(f"{prefix}{key}: unknown key{hint}")
    allow_inf = {f.name: f.metadata.get("allow_inf", False) for f in dataclasses.fields(cls)}
    values = {
        name: _convert(data[name], hints[name], prefix + name, allow_inf[name]) for name in names if name in data
    }
    instance = cls(**values)
    check = getattr(instance, "check", None)
    if check is not None:
        try:
            check()
        except ConfigError as error:
            raise ConfigError(f"{prefix}{error}") from None
    return instance


def _toml_value(value) -> str:
    import tomli_w

    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return tomli_w.dumps({"v": value}).strip()[len("v = "):]


def _as_plain(value):
    if isinstance(value, tuple):
        return [_as_plain(v) for v in value]
    return value


def to_commented_toml(config, path: str = "") -> str:
    """The config as TOML, each field preceded by its documentation as a comment."""
    lines, tables = [], []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        doc = f.metadata.get("doc", "")
        if dataclasses.is_dataclass(value):
            tables.append((f.name, doc, value))
            continue
        for doc_line in doc.splitlines():
            lines.append(f"# {doc_line}")
        lines.append(f"{f.name} = {_toml_value(_as_plain(value))}")
    text = "\n".join(lines)
    for name, doc, value in tables:
        full = f"{path}.{name}" if path else name
        header = "".join(f"# {d}\n" for d in doc.splitlines())
        text += f"\n\n{header}[{full}]\n" + to_commented_toml(value, full)
    return text.strip("\n") + "\n"


def to_dict(config) -> dict:
    """Plain nested dict (lists instead of tuples), ready for tomli_w or json."""
    out = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        out[f.name] = to_dict(value) if dataclasses.is_dataclass(value) else _as_plain(value)
    return out


def load_toml(path) -> dict:
    import tomllib

    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config: file not found: {path}") from None
    except OSError as error:
        raise ConfigError(f"config: cannot read {path} ({error.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config: {path} is not a text file (TOML must be UTF-8)") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config: {path} is not valid TOML ({error})") from None


def _flat(value, path: str, out: dict) -> dict:
    if dataclasses.is_dataclass(value):
        value = to_dict(value)
    if isinstance(value, dict):
        for key, item in value.items():
            _flat(item, f"{path}.{key}" if path else str(key), out)
    else:
        out[path] = _as_plain(value)
    return out


def changed_fields(old_config, new_config) -> list[str]:
    """Dotted names of the fields whose values differ between two configs (or plain nested dicts),
    sorted; a field present in only one of them counts as changed."""
    old, new = _flat(old_config, "", {}), _flat(new_config, "", {})
    return sorted(key for key in old.keys() | new.keys() if old.get(key, ()) != new.get(key, ()))


EXTENSIBLE_ON_RESUME = ("optimisation.steps", "evaluation.steps")
"""The rule for resuming a run directory: its config is frozen when the run starts, and a resume
may change nothing but the run length, i.e. these fields may grow (never shrink), and only through
an explicit command-line flag (e.g. `qsolid run --resume RUN_DIR --steps N`), never by editing
RUN_DIR/config.toml. Anything else (learning rate, network shape, seed, ...) would make the
checkpoints, statistics and summary of one run describe two different calculations."""


def check_resume(old_config, new_config, extensible=EXTENSIBLE_ON_RESUME) -> None:
    """Raise ConfigError naming every changed field that the resume rule does not allow
    (see EXTENSIBLE_ON_RESUME): `old_config` is the one the run started with, `new_config`
    the one it would continue with."""
    old, new = _flat(old_config, "", {}), _flat(new_config, "", {})
    changed = changed_fields(old, new)
    shrunk = [k for k in changed if k in extensible and k in old and k in new and new[k] < old[k]]
    refused = [k for k in changed if k not in extensible] + shrunk
    if shrunk:
        raise ConfigError(
            f"{', '.join(refused)}: cannot decrease on resume ("
            + ", ".join(f"{k} {old[k]} -> {new[k]}" for k in shrunk)
            + "); a resume may only extend a run"
        )
    if refused:
        raise ConfigError(
            f"{', '.join(refused)}: changed since the run started; a resume may only extend "
            f"{' / '.join(extensible)} (start a new run with --out for anything else)"
        )
