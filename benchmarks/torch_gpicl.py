"""A faithful PyTorch version of gpicl-phase's training step, for speed comparisons only (torch is optional).

Same model as ``gpicl_phase/models/transformer.py``: token -> Linear -> + learned positions -> L x pre-LN GPT-2
block (causal multi-head attention with bias-free q/k/v and a biased output projection; tanh-GELU MLP of
width 4 N) -> LN -> Linear head. Same batch: every sequence its own task, a Gaussian projection N(0, 1/D)
and a label permutation per task, examples drawn with replacement, token t = [x_t, onehot(y_{t-1})] with
the extra 'no label' class K at t = 0. Same step: mean cross-entropy over all positions, global gradient
norm, Adam. Written the way a good PyTorch engineer would: batched ``bmm`` projections, fused
``scaled_dot_product_attention``, fused (or foreach) Adam, no Python loop over sequences.

``PerSampleLoader`` is the other style, the one public PyTorch reproductions use: a ``Dataset`` whose
``__getitem__`` builds one sequence (seeding a generator with the task id, drawing that task's matrix)
and a ``DataLoader`` that collates B of them.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    """x + Attn(LN(x)); x + MLP(LN(x))."""

    def __init__(self, n: int, heads: int, key: int):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(n), nn.LayerNorm(n)
        self.q, self.k, self.v = (nn.Linear(n, heads * key, bias=False) for _ in range(3))
        self.o = nn.Linear(heads * key, n)
        self.mlp_in, self.mlp_out = nn.Linear(n, 4 * n), nn.Linear(4 * n, n)

    def forward(self, x_BxTxN: torch.Tensor) -> torch.Tensor:
        b, t, _ = x_BxTxN.shape
        h = self.ln1(x_BxTxN)
        q, k, v = (lin(h).view(b, t, self.heads, -1).transpose(1, 2) for lin in (self.q, self.k, self.v))
        att_BxHxTxK = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x_BxTxN = x_BxTxN + self.o(att_BxHxTxK.transpose(1, 2).reshape(b, t, -1))
        return x_BxTxN + self.mlp_out(F.gelu(self.mlp_in(self.ln2(x_BxTxN)), approximate="tanh"))


class Transformer(nn.Module):
    """Logits [B, T, K] from tokens [B, T, D + K + 1]."""

    def __init__(self, input_dim: int, n: int, layers: int, heads: int, key: int, seq_len: int, classes: int):
        super().__init__()
        self.embed = nn.Linear(input_dim, n)
        self.pos = nn.Parameter(0.1 * torch.randn(seq_len, n))
        self.blocks = nn.ModuleList(Block(n, heads, key) for _ in range(layers))
        self.ln_f = nn.LayerNorm(n)
        self.head = nn.Linear(n, classes)

    def forward(self, tokens_BxTxI: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens_BxTxI) + self.pos[: tokens_BxTxI.shape[1]]
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln_f(x))


def load_jax_params(model: Transformer, params: dict) -> None:
    """Copies gpicl-phase transformer parameters (a nested dict of arrays) into ``model``, for parity checks."""
    t = lambda a: torch.from_numpy(np.array(a, dtype=np.float32))  # noqa: E731

    def lin(mod, p):
        mod.weight.data = t(p["w"]).T.contiguous()
        if "b" in p:
            mod.bias.data = t(p["b"])

    def ln(mod, p):
        mod.weight.data, mod.bias.data = t(p["scale"]), t(p["offset"])

    lin(model.embed, params["embed"])
    model.pos.data = t(params["pos"])
    for i, blk in enumerate(model.blocks):
        p = {k: ({kk: vv[i] for kk, vv in v.items()}) for k, v in params["blocks"].items()}
        ln(blk.ln1, p["ln1"]), ln(blk.ln2, p["ln2"])
        for name in ("q", "k", "v", "o", "mlp_in", "mlp_out"):
            lin(getattr(blk, name), p[name])
    ln(model.ln_f, params["ln_f"])
    lin(model.head, params["head"])


def tokens(x_BxTxD: torch.Tensor, y_BxT: torch.Tensor, classes: int) -> torch.Tensor:
    """Token t = [x_t, onehot(y_{t-1})], class K at t = 0."""
    prev = torch.cat([torch.full_like(y_BxT[:, :1], classes), y_BxT[:, :-1]], 1)
    return torch.cat([x_BxTxD, F.one_hot(prev, classes + 1).to(x_BxTxD.dtype)], -1)


class BatchMaker:
    """Vectorized batches: ``fresh`` draws B Gaussian matrices per step, ``bank`` gathers them from a tensor."""

    def __init__(self, x_NxD: np.ndarray, y_N: np.ndarray, *, batch: int, seq_len: int, classes: int,
                 num_tasks: int, bank: bool = False, seed: int = 0):
        self.x, self.y = torch.from_numpy(x_NxD), torch.from_numpy(y_N.astype(np.int64))
        self.b, self.t, self.k, self.num_tasks = batch, seq_len, classes, num_tasks
        self.d = self.x.shape[1]
        self.gen = torch.Generator().manual_seed(seed)
        self.bank = None
        if bank:
            g = torch.Generator().manual_seed(seed + 1)
            self.bank = torch.randn(num_tasks, self.d, self.d, generator=g) / math.sqrt(self.d)
            self.perms = torch.argsort(torch.rand(num_tasks, classes, generator=g), 1)

    def __call__(self) -> tuple[torch.Tensor, torch.Tensor]:
        b, t, g = self.b, self.t, self.gen
        idx = torch.randint(self.x.shape[0], (b, t), generator=g)
        if self.bank is None:
            w_BxDxD = torch.randn(b, self.d, self.d, generator=g) / math.sqrt(self.d)
            perm_BxK = torch.argsort(torch.rand(b, self.k, generator=g), 1)
        else:
            ids = torch.randint(self.num_tasks, (b,), generator=g)
            w_BxDxD, perm_BxK = self.bank[ids], self.perms[ids]
        x_BxTxD = torch.bmm(self.x[idx], w_BxDxD)
        y_BxT = perm_BxK.gather(1, self.y[idx])
        return tokens(x_BxTxD, y_BxT, self.k), y_BxT


def make_step(model: nn.Module, lr: float = 1e-3):
    """``step(tokens, y) -> loss``: forward, backward, global grad norm, Adam (fused where torch has it)."""
    params = [p for p in model.parameters()]
    try:
        opt = torch.optim.Adam(params, lr=lr, eps=1e-8, fused=True)
    except (RuntimeError, TypeError):  # older torch: no fused Adam on CPU
        opt = torch.optim.Adam(params, lr=lr, eps=1e-8, foreach=True)

    def step(tokens_BxTxI: torch.Tensor, y_BxT: torch.Tensor) -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        logits = model(tokens_BxTxI)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y_BxT.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, float("inf"))  # the norm the engine logs; inf never clips
        opt.step()
        return loss.detach()

    return step


class PerSampleDataset(torch.utils.data.Dataset):
    """One sequence per ``__getitem__``: the public reproductions' style (task id -> seeded generator)."""

    def __init__(self, x_NxD: np.ndarray, y_N: np.ndarray, *, seq_len: int, classes: int, num_tasks: int,
                 length: int = 2 ** 30, seed: int = 0):
        self.x, self.y = torch.from_numpy(x_NxD), torch.from_numpy(y_N.astype(np.int64))
        self.t, self.k, self.num_tasks, self.length, self.seed = seq_len, classes, num_tasks, length, seed
        self.d = self.x.shape[1]

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int):
        rng = np.random.default_rng((self.seed, i))
        task = int(rng.integers(self.num_tasks))
        g = torch.Generator().manual_seed(task)
        w = torch.randn(self.d, self.d, generator=g) / math.sqrt(self.d)
        perm = torch.randperm(self.k, generator=g)
        idx = torch.from_numpy(rng.integers(0, self.x.shape[0], self.t))
        x, y = self.x[idx] @ w, perm[self.y[idx]]
        return tokens(x[None], y[None], self.k)[0], y


def per_sample_loader(x_NxD, y_N, *, batch: int, seq_len: int, classes: int, num_tasks: int, workers: int = 0):
    """An endless iterator of collated batches ``(tokens [B, T, I], y [B, T])``."""
    ds = PerSampleDataset(x_NxD, y_N, seq_len=seq_len, classes=classes, num_tasks=num_tasks)
    return iter(torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=False, num_workers=workers))
