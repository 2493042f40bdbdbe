"""How the models are lowered: choices that change speed on a backend, not the function computed (the forms
agree to float32 rounding; tests/test_attention.py). A value passed in where programs are built, so tracing
never asks which backend it runs on."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Engine:
    """``blocked_attention``: the cache-blocked attention (``attention.py``); ``gradient_barrier``: LayerNorm's
    input gradient materialized (``layers.py``). Both pay on XLA:CPU only (BENCHMARKS.md, History)."""

    blocked_attention: bool = False
    gradient_barrier: bool = False

    @classmethod
    def for_backend(cls, backend: str) -> Engine:
        """The fastest measured choice for a JAX backend name ("cpu", "gpu", "tpu")."""
        cpu = backend == "cpu"
        return cls(blocked_attention=cpu, gradient_barrier=cpu)


REFERENCE = Engine()  # the textbook forms
