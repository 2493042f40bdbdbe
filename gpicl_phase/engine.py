"""How the models are lowered: choices of speed and precision on a backend, one frozen value.

An ``Engine`` is resolved once at the edge (``Engine.for_backend``, or from a store that recorded it), passed to
``train.make_stages`` and part of every compiled program's cache key, so tracing never asks which backend it
runs on and a changed option never reuses a stale program. Every attention form and the gradient barrier
compute the same function to float32 rounding (tests/test_attention.py, tests/test_models.py); ``bfloat16``
changes the numbers within the band tests/test_precision.py states.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

ATTENTION = ("reference", "blocked", "xla", "cudnn")
PRECISION = ("float32", "bfloat16")


def _f(default, help: str, choices: tuple | None = None):
    meta = {"help": help} | ({"choices": choices} if choices else {})
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Engine:
    """Lowering options of the models (only the Transformer has choices; the others ignore them)."""

    attention: str = _f("reference", "attention form (default: the backend's measured choice): reference "
                        "(logits, mask, softmax), blocked (a few "
                        "sequences at a time, for CPU caches), xla or cudnn (jax.nn.dot_product_attention; cudnn "
                        "falls back to xla where cuDNN refuses the call)", ATTENTION)
    precision: str = _f("float32", "matmul precision (default: the backend's measured choice); bfloat16: matmul "
                        "inputs in bfloat16, while parameters, optimizer state, LayerNorm, softmax statistics "
                        "and the loss stay float32", PRECISION)
    unroll_layers: bool = _f(True, "layers as straight-line code instead of a rolled loop (faster steps, longer "
                             "compiles)")
    gradient_barrier: bool = _f(False, "LayerNorm's input gradient in a buffer of its own (pays on XLA:CPU)")
    block_bytes: int = _f(2_600_000, "blocked attention: bytes of one block's T x T array (about one L2 cache)")

    def __post_init__(self) -> None:
        if self.attention not in ATTENTION:
            raise ValueError(f"engine attention must be one of {', '.join(ATTENTION)}, got {self.attention!r}")
        if self.precision not in PRECISION:
            raise ValueError(f"engine precision must be one of {', '.join(PRECISION)}, got {self.precision!r}")
        if not isinstance(self.block_bytes, int) or self.block_bytes <= 0:
            raise ValueError(f"engine block_bytes must be a positive integer, got {self.block_bytes!r}")

    @classmethod
    def for_backend(cls, backend: str) -> Engine:
        """The measured choice for a JAX backend name ("cpu", "gpu", "cuda", "rocm", "tpu"): on CPU the
        blocked attention and the LayerNorm barrier (BENCHMARKS.md, History); on GPUs bfloat16 matmuls with
        cuDNN's fused attention; elsewhere the textbook forms."""
        if backend == "cpu":
            return cls(attention="blocked", gradient_barrier=True)
        if backend in ("gpu", "cuda", "rocm"):
            return cls(attention="cudnn", precision="bfloat16")
        return cls()

    @classmethod
    def flags(cls) -> tuple:
        """The fields a command line sets (the rest are tuning knobs for benchmarks)."""
        return tuple(f for f in dataclasses.fields(cls) if f.name in ("attention", "precision"))

    def replace(self, **changes) -> Engine:
        """This engine with some options changed; None values are ignored (flags not given)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Engine:
        """An engine a store recorded; options it does not know (a newer version's) are refused by name."""
        values = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"engine options {', '.join(unknown)} are unknown to this version of gpicl-phase")
        return cls(**values)


REFERENCE = Engine()  # the textbook forms in float32
