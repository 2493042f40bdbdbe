"""The store's base config, typed: `config_from_attrs(attrs)` is the `RunConfig` every run of the sweep started
from (`store.read_config(path)` reads the attributes and calls it).

The sweep writes ``attrs["base_config"]`` as `RunConfig.to_json()`. Stores outlive versions of RunConfig, so
reading is tolerant where that is safe: a field the store lacks (written before the field existed) takes its
default, which is what such a run used; a field RunConfig no longer has (or not yet, in a store from a newer
gpicl-phase) is ignored. What cannot be read as a valid RunConfig (no attribute, not JSON, a value of the
wrong type or out of range) raises StoreError naming the store and the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gpicl_phase.config import FIELD_NAMES, ConfigError, RunConfig, coerce
from gpicl_phase.store.schema import StoreError


def config_from_attrs(attrs: Mapping[str, Any], where: str = "the store") -> RunConfig:
    """The base config from a store's attributes (``store_attrs(path)`` or an opened Dataset's ``attrs``)."""
    text = attrs.get("base_config")
    if text is None:
        raise StoreError(f"{where} has no base_config attribute (it was not written by a sweep)")
    try:
        values = json.loads(text) if isinstance(text, str) else text
    except ValueError as err:
        raise StoreError(f"{where}: base_config is not JSON ({err})") from None
    if not isinstance(values, Mapping):
        raise StoreError(f"{where}: base_config is a JSON {type(values).__name__}, not an object of config fields")
    known = {k: v for k, v in values.items() if k in FIELD_NAMES}
    try:
        return RunConfig(**coerce(known))
    except ConfigError as err:
        raise StoreError(f"{where}: base_config is not a valid run config: {err}") from None
