"""Sequence models behind one interface: ``init(cfg, key, input_dim)``, ``apply(cfg, params, tokens, engine)``.

Every model maps tokens ``[B, T, N_x + K + 1]`` to logits ``[B, T, K]`` and reports its parameter count
and its state size (memory available to the next prediction; formulas in docs/models.md).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax

from gpicl_phase.engine import REFERENCE, Engine
from gpicl_phase.models import maml, oplstm, recurrent, sgd, transformer, vsml
from gpicl_phase.models.layers import param_count


class Model(NamedTuple):
    """The functions of one model kind; every call of a model goes through its entry in ``MODELS``."""

    init: Callable
    apply: Callable
    state_size: Callable


def _one_lowering(apply_fn: Callable) -> Callable:
    """``apply(cfg, params, tokens, engine)`` of a model with a single way to lower (it ignores the engine)."""
    return lambda cfg, params, tokens_BxTxI, engine: apply_fn(cfg, params, tokens_BxTxI)


MODELS = {
    "transformer": Model(transformer.init, transformer.apply, transformer.state_size),
    "lstm": Model(recurrent.lstm_init, _one_lowering(recurrent.lstm_apply), recurrent.lstm_state_size),
    "mlp": Model(recurrent.mlp_init, _one_lowering(recurrent.mlp_apply), recurrent.mlp_state_size),
    "oplstm": Model(oplstm.init, _one_lowering(oplstm.apply), oplstm.state_size),
    "sgd": Model(sgd.init, _one_lowering(sgd.apply), sgd.state_size),
    "maml": Model(maml.init, _one_lowering(maml.apply), maml.state_size),
    "vsml": Model(vsml.init, _one_lowering(vsml.apply), vsml.state_size),
}


def get(kind: str) -> Model:
    """The model of this kind; a clear error names the known kinds."""
    if kind not in MODELS:
        raise ValueError(f"unknown model {kind!r}; known: {', '.join(MODELS)}")
    return MODELS[kind]


def token_dim(cfg) -> int:
    """Width of a token: the projected input plus a one-hot previous label with a 'no label' class."""
    return cfg.input_dim + cfg.num_classes + 1


def init(cfg, key) -> dict:
    """Initial parameters of ``cfg.model``."""
    return get(cfg.model).init(cfg, key, token_dim(cfg))


def apply(cfg, params, tokens_BxTxI: jax.Array, engine: Engine = REFERENCE) -> jax.Array:
    """Logits ``[B, T, K]``; ``engine``: how to lower them (only the Transformer has choices)."""
    return get(cfg.model).apply(cfg, params, tokens_BxTxI, engine)


def count_params(cfg) -> int:
    """Parameter count without allocating parameters (shapes only)."""
    shapes = jax.eval_shape(lambda k: init(cfg, k), jax.random.key(0))
    return param_count(shapes)


def state_size(cfg) -> int:
    """State size by the documented formula of ``cfg.model``."""
    return get(cfg.model).state_size(cfg)
