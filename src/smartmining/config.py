"""params.yaml: profiles of parameters, their inheritance, overrides and validation.

params.yaml holds ``profile`` (the selected profile's name) and ``profiles`` (name -> parameters). A profile
may name a ``base`` profile; it is deep-merged over it. The resolved profile is validated against
``schemas/profile.schema.yaml``: unknown keys, wrong types and out-of-range values stop with a message that
names the key.
"""

from __future__ import annotations

import copy
import functools
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from smartmining.errors import SmartMiningError
from smartmining.settings import with_defaults

TOP_LEVEL_KEYS = {"profile", "profiles"}


@functools.cache
def profile_schema() -> dict[str, Any]:
    text = resources.files("smartmining").joinpath("schemas/profile.schema.yaml").read_text()
    return yaml.safe_load(text)


def read_yaml(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise SmartMiningError(f"{path}: no such file (expected a params.yaml)")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SmartMiningError(f"{path}: not valid YAML: {exc}") from None


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Dictionaries merge key by key; any other value in ``over`` replaces the base's."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def resolve_profile(params: dict[str, Any], name: str, source: str = "params.yaml") -> dict[str, Any]:
    """The named profile with its chain of ``base`` profiles merged under it."""
    profiles = params["profiles"]
    chain: list[str] = []
    current: str | None = name
    while current is not None:
        if current not in profiles:
            where = f"profile {name!r}" if not chain else f"'base' of profile {chain[-1]!r}"
            raise SmartMiningError(
                f"{source}: {where} names unknown profile {current!r}; known profiles: {', '.join(profiles)}"
            )
        if current in chain:
            raise SmartMiningError(f"{source}: profiles form a cycle through 'base': {' -> '.join(chain + [current])}")
        chain.append(current)
        current = profiles[current].get("base")
    resolved: dict[str, Any] = {}
    for link in reversed(chain):
        resolved = deep_merge(resolved, profiles[link])
    resolved.pop("base", None)
    return resolved


def parse_override(text: str) -> tuple[list[str], Any]:
    """``train.epochs=3`` -> (["train", "epochs"], 3); the value is read as YAML."""
    if "=" not in text:
        raise SmartMiningError(f"override {text!r}: expected KEY.PATH=VALUE, e.g. train.epochs=3")
    key, value = text.split("=", 1)
    return key.strip().split("."), yaml.safe_load(value)


def apply_overrides(profile: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    out = copy.deepcopy(profile)
    for text in overrides:
        path, value = parse_override(text)
        node = out
        for part in path[:-1]:
            if not isinstance(node.get(part), dict):
                raise SmartMiningError(f"override {text!r}: {'.'.join(path[:-1])} is not a section of the profile")
            node = node[part]
        node[path[-1]] = value
    return out


def validate_profile(profile: dict[str, Any], where: str) -> None:
    validator = jsonschema.Draft202012Validator(profile_schema())
    errors = sorted(validator.iter_errors(profile), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  {'.'.join(str(p) for p in e.absolute_path) or '(top level)'}: {e.message}" for e in errors[:10]]
        raise SmartMiningError(f"{where}: invalid parameters:\n" + "\n".join(lines))
    from smartmining.controller_laws import check_section  # the laws own what a valid configuration is

    try:
        check_section(profile["controller"])
    except SmartMiningError as exc:
        raise SmartMiningError(f"{where}: controller.{exc}") from None
    model, transform = profile["model"], profile["transform"]
    if model.get("in_channels") not in (None, transform.get("channels")):
        raise SmartMiningError(
            f"{where}: model.in_channels = {model['in_channels']} differs from transform.channels = "
            f"{transform.get('channels')}; set one of them (the model follows transform.channels when in_channels is unset)"
        )


def load_params(
    path: str | Path, profile: str | None = None, overrides: list[str] | tuple[str, ...] = ()
) -> dict[str, Any]:
    """Read params.yaml and return the resolved, validated profile (its name under ``profile``)."""
    raw = read_yaml(path)
    source = str(path)
    if not isinstance(raw, dict):
        raise SmartMiningError(f"{source}: expected a mapping with keys 'profile' and 'profiles'")
    unknown = set(raw) - TOP_LEVEL_KEYS
    if unknown:
        raise SmartMiningError(f"{source}: unknown top-level key(s) {sorted(unknown)}; expected 'profile' and 'profiles'")
    if not isinstance(raw.get("profiles"), dict) or not raw["profiles"]:
        raise SmartMiningError(f"{source}: 'profiles' must map profile names to their parameters")
    name = profile or raw.get("profile")
    if not isinstance(name, str):
        raise SmartMiningError(f"{source}: 'profile' must name one of: {', '.join(raw['profiles'])}")
    resolved = with_defaults(apply_overrides(resolve_profile(raw, name, source), list(overrides)))
    resolved["profile"] = name
    validate_profile(resolved, f"{source} (profile {name!r})")
    from smartmining.tuning import check_tuning  # the tuning module owns what an equal budget is

    try:
        check_tuning(resolved)
    except SmartMiningError as exc:
        raise SmartMiningError(f"{source} (profile {name!r}): {exc}") from None
    return resolved
