"""The GPICL Transformer: GPT-2 style pre-LayerNorm blocks with causal attention, as in the authors' code.

token -> Linear -> + learned positional embedding (std 0.1) -> L x [x + Attn(LN(x)); x + MLP(LN(x))]
-> LN -> Linear -> logits for every position.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gpicl_phase.models.attention import causal_attention
from gpicl_phase.engine import REFERENCE, Engine
from gpicl_phase.models.layers import dense, dense_init, layer_norm, layer_norm_init



def init(cfg, key, input_dim: int) -> dict:
    """Parameters for a config with ``d_model`` N, ``num_layers`` L, ``num_heads`` H, ``key_size`` A."""
    n, h, k, layers = cfg.d_model, cfg.num_heads, cfg.key_size, cfg.num_layers
    # The authors scale block initializations by 2 / layers so the residual stream stays O(1) with depth.
    scale = 2.0 / layers
    k_embed, k_pos, k_head, k_blocks = jax.random.split(key, 4)

    def block(bkey):
        bk = jax.random.split(bkey, 6)
        return {
            "ln1": layer_norm_init(n),
            "q": dense_init(bk[0], n, h * k, scale, bias=False),
            "k": dense_init(bk[1], n, h * k, scale, bias=False),
            "v": dense_init(bk[2], n, h * k, scale, bias=False),
            "o": dense_init(bk[3], h * k, n, scale),
            "ln2": layer_norm_init(n),
            "mlp_in": dense_init(bk[4], n, 4 * n, scale),
            "mlp_out": dense_init(bk[5], 4 * n, n, scale),
        }

    # Blocks are stacked along a leading layer axis and scanned (Engine.unroll_layers).
    blocks = jax.vmap(block)(jax.random.split(k_blocks, layers))
    return {
        "embed": dense_init(k_embed, input_dim, n),
        "pos": 0.1 * jax.random.normal(k_pos, (cfg.seq_len, n)),
        "blocks": blocks,
        "ln_f": layer_norm_init(n),
        "head": dense_init(k_head, n, cfg.num_classes),
    }


def attention(p: dict, x_BxTxN: jax.Array, num_heads: int, engine: Engine = REFERENCE) -> jax.Array:
    """Causal multi-head self-attention, in the engine's compute dtype."""
    b, t, _ = x_BxTxN.shape
    dtype = compute_dtype(engine)
    split = lambda y: y.reshape(b, t, num_heads, -1)  # noqa: E731
    q_BxTxHxA, k_BxTxHxA, v_BxTxHxA = (split(dense(p[n], x_BxTxN, dtype)) for n in ("q", "k", "v"))
    out_BxTxHxA = causal_attention(q_BxTxHxA, k_BxTxHxA, v_BxTxHxA, engine.attention, engine.block_bytes)
    return dense(p["o"], out_BxTxHxA.reshape(b, t, -1), dtype)


def compute_dtype(engine: Engine):
    """The matmuls' dtype: None (as given, float32) or bfloat16."""
    return jnp.bfloat16 if engine.precision == "bfloat16" else None


def apply(cfg, params: dict, tokens_BxTxI: jax.Array, engine: Engine = REFERENCE) -> jax.Array:
    """Logits ``[B, T, K]``; the prediction at t depends on tokens 0..t only."""
    t = tokens_BxTxI.shape[1]
    dtype = compute_dtype(engine)
    # Mixed precision: matmuls in ``dtype``, the residual stream, LayerNorm and the logits in float32.
    f32 = lambda y: y.astype(jnp.float32)  # noqa: E731
    x = f32(dense(params["embed"], tokens_BxTxI, dtype)) + params["pos"][None, :t]
    norm = lambda p, y: layer_norm(p, y, barrier=engine.gradient_barrier)  # noqa: E731

    def block(x, blk):
        x = x + f32(attention(blk, norm(blk["ln1"], x), cfg.num_heads, engine))
        hidden = jax.nn.gelu(dense(blk["mlp_in"], norm(blk["ln2"], x), dtype))
        return x + f32(dense(blk["mlp_out"], hidden, dtype)), None

    x, _ = jax.lax.scan(block, x, params["blocks"], unroll=engine.unroll_layers)
    return f32(dense(params["head"], norm(params["ln_f"], x), dtype))


def state_size(cfg) -> int:
    """Memory available to the next prediction: the K/V cache, 2 x heads x key_size x layers x T."""
    return 2 * cfg.num_heads * cfg.key_size * cfg.num_layers * cfg.seq_len
