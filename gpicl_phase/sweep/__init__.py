"""The sweep engine: sweep files -> validated specs -> packed chunks -> a Zarr store, locally or on Dask."""

from gpicl_phase.sweep.spec import Axis, SpecError, SweepSpec, from_dict, load, parse_range

__all__ = ["Axis", "SpecError", "SweepSpec", "from_dict", "load", "parse_range"]
