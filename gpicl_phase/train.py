"""A whole meta-training run as one pure, jittable function: ``make_train(cfg) -> train(data, hp, key=...)``.

Every loop is a ``lax.scan``, so ``jit(vmap(train, in_axes=(None, 0)))`` trains many runs at once (the sweep
engine packs runs that differ only in dynamic config fields this way). Meta-tests run inside the program.

Shape letters (docs/DESIGN.md): B batch, T positions, S meta-test streams, E evaluations, L logged windows.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gpicl_phase import models, tasks
from gpicl_phase.config import DYNAMIC_FIELDS, RunConfig
from gpicl_phase.tasks import TaskData


class Hyper(NamedTuple):
    """The dynamic (traced) part of a config; each leaf is a scalar, or a vector when packed."""

    seed: jax.Array
    num_tasks: jax.Array
    lr: jax.Array
    adam_b1: jax.Array
    adam_b2: jax.Array
    adam_eps: jax.Array
    clip_norm: jax.Array
    bias: jax.Array
    bias_anneal_steps: jax.Array


assert Hyper._fields == DYNAMIC_FIELDS, "Hyper must mirror the dynamic fields of RunConfig"


class Metrics(NamedTuple):
    """What one run records; a leading run axis is added when packed."""

    train_loss: jax.Array  # [L] mean loss per window of log_every steps (NaN after divergence)
    grad_norm: jax.Array  # [L]
    eval_acc: jax.Array  # [E, S, T] per-position meta-test accuracy
    eval_loss: jax.Array  # [E, S, T]
    diverged_step: jax.Array  # [] first step with a non-finite loss or gradient, -1 if none


def hyper(cfgs: list[RunConfig] | RunConfig) -> Hyper:
    """Dynamic fields as numpy arrays: scalars for one config, vectors (run axis first) for a list."""
    many = isinstance(cfgs, (list, tuple))
    cfgs = list(cfgs) if many else [cfgs]
    ints = {"seed": np.uint32, "num_tasks": np.int32}
    cols = {f: np.asarray([getattr(c, f) for c in cfgs], ints.get(f, np.float32)) for f in Hyper._fields}
    return Hyper(**{k: v if many else v[0] for k, v in cols.items()})


def run_key(seed) -> jax.Array:
    """The key of a run: a function of its seed alone, never of execution order."""
    return jax.random.key(seed)


def _adam(hp: Hyper) -> optax.GradientTransformation:
    return optax.chain(optax.scale_by_adam(b1=hp.adam_b1, b2=hp.adam_b2, eps=hp.adam_eps),
                       optax.scale_by_learning_rate(hp.lr))


def bias_at(hp: Hyper, step: jax.Array) -> jax.Array:
    """The bias fraction in force at ``step``: constant, or annealed linearly to 0 (a curriculum)."""
    frac = jnp.clip(1.0 - step / jnp.maximum(hp.bias_anneal_steps, 1.0), 0.0, 1.0)
    return jnp.where(hp.bias_anneal_steps > 0, hp.bias * frac, hp.bias)


def _global_norm(tree) -> jax.Array:
    return jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in jax.tree_util.tree_leaves(tree)))


def _clip(grads, norm, clip_norm):
    # A traced clip value: 0 disables, so both cases share one compiled program.
    factor = jnp.where(clip_norm > 0, jnp.minimum(1.0, clip_norm / (norm + 1e-12)), 1.0)
    return jax.tree_util.tree_map(lambda g: g * factor, grads)


class Carry(NamedTuple):
    """Everything a run carries from one chunk of ``eval_every`` steps to the next."""

    params: dict
    opt_state: tuple
    diverged_step: jax.Array  # [] int32, -1 while finite
    data_key: jax.Array  # the batches of step i come from fold_in(data_key, i)


class ChunkOut(NamedTuple):
    """What one chunk records: its log windows and the meta-test at its end."""

    train_loss: jax.Array  # [eval_every // log_every]
    grad_norm: jax.Array
    eval_acc: jax.Array  # [S, T]
    eval_loss: jax.Array


class Stages(NamedTuple):
    """A run cut at its meta-tests: ``start(data, hp, key) -> (carry, (acc0, loss0))`` then, for c = 0..n-1,
    ``chunk(data, hp, carry, c) -> (carry, ChunkOut)``. ``make_train`` scans the chunks inside one program;
    the sweep engine loops them from the host (progress, checkpoints) and gets the same numbers. There, start is
    ``init`` and then ``chunk`` at c = -1 (the meta-test alone), so the evaluation is compiled once per group."""

    start: object
    chunk: object
    n_chunks: int
    init: object  # init(hp, key) -> carry


def task_root(task_seed: int) -> jax.Array:
    """The root key of the training and unseen tasks: a function of ``task_seed`` alone."""
    return jax.random.fold_in(jax.random.key(task_seed), 0)


def make_stages(cfg: RunConfig, engine: models.Engine | None = None) -> Stages:
    """The pure pieces of a run for this config's static part. ``engine``: how the model is lowered (default:
    the fastest measured for the backend JAX runs on, decided here, before anything is traced)."""
    engine = models.Engine.for_backend(jax.default_backend()) if engine is None else engine
    root = task_root(cfg.task_seed)
    eval_root = jax.random.fold_in(jax.random.key(cfg.task_seed), 1)
    windows = cfg.eval_every // cfg.log_every

    def loss_fn(params, tokens_BxTxI, y_BxT):
        logits = models.apply(cfg, params, tokens_BxTxI, engine)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y_BxT).mean()

    def evaluate(params, data: TaskData, num_tasks):
        """Per-position accuracy and loss ``[S, T]`` on every meta-test stream, in one forward pass."""
        n, d, k = cfg.eval_batch, data.test_x.shape[-1], cfg.num_classes
        seen_ids = tasks.draw_ids(jax.random.fold_in(eval_root, 0), n, num_tasks)
        unseen = tasks.unseen_ids(n)
        # Each task is drawn once per meta-test: the unseen tasks serve every dataset's unseen stream.
        seen_tasks = tasks.make_tasks(root, seen_ids, seen_ids, d, k)
        unseen_tasks = tasks.make_tasks(root, unseen, unseen, d, k)

        def batch(i, x, y, made):
            x, y = tasks.eval_sample(jax.random.fold_in(eval_root, i + 1), x, y, n, cfg.seq_len, made)
            return tasks.tokens(x, y, k), y

        streams = [batch(0, data.test_x, data.test_y, seen_tasks), batch(1, data.test_x, data.test_y, unseen_tasks)]
        streams += [batch(2 + j, x, y, unseen_tasks) for j, (x, y) in enumerate(data.evals)]
        streams.append(batch(2 + len(data.evals), data.test_x, data.test_y, None))
        if cfg.eval_biased:  # the fixed task of train_batch's bias; keys of the streams above stay as they were
            fixed = tasks.make_tasks(root, jnp.zeros(1, jnp.int32), jnp.zeros(1, jnp.int32), d, k)
            proj = jnp.broadcast_to(fixed[0], (n, d, d)) if cfg.bias_mode == "task" else unseen_tasks[0]
            streams.append(batch(3 + len(data.evals), data.test_x, data.test_y,
                                 (proj, jnp.broadcast_to(fixed[1], (n, k)))))
        tokens_BxTxI = jnp.concatenate([t for t, _ in streams])
        y_BxT = jnp.concatenate([y for _, y in streams])
        logits = models.apply(cfg, params, tokens_BxTxI, engine)
        ce_BxT = optax.softmax_cross_entropy_with_integer_labels(logits, y_BxT)
        acc_BxT = (logits.argmax(-1) == y_BxT).astype(jnp.float32)
        per_stream = lambda v: v.reshape(len(streams), n, cfg.seq_len).mean(1)  # noqa: E731
        return per_stream(acc_BxT), per_stream(ce_BxT)

    def init(hp: Hyper, key: jax.Array) -> Carry:
        init_key, data_key = jax.random.split(key)
        params = models.init(cfg, init_key)
        return Carry(params, _adam(hp).init(params), jnp.asarray(-1, jnp.int32), data_key)

    def start(data: TaskData, hp: Hyper, key: jax.Array):
        carry = init(hp, key)  # inside make_train's one program: evaluate directly, not a second training step
        return carry, evaluate(carry.params, data, hp.num_tasks)

    def chunk(data: TaskData, hp: Hyper, carry: Carry, c) -> tuple[Carry, ChunkOut]:
        opt = _adam(hp)

        def step(state, i):
            params, opt_state, diverged_step = state
            tokens_BxTxI, y_BxT = tasks.train_batch(
                jax.random.fold_in(carry.data_key, i), data, root, num_tasks=hp.num_tasks,
                bias=bias_at(hp, i), batch_size=cfg.batch_size, seq_len=cfg.seq_len,
                tasks_per_batch=cfg.tasks_per_batch, num_classes=cfg.num_classes, bias_mode=cfg.bias_mode)
            loss, grads = jax.value_and_grad(loss_fn)(params, tokens_BxTxI, y_BxT)
            norm = _global_norm(grads)
            finite = jnp.isfinite(loss) & jnp.isfinite(norm)
            updates, new_opt_state = opt.update(_clip(grads, norm, hp.clip_norm), opt_state, params)
            new_params = optax.apply_updates(params, updates)
            # A diverged run keeps its last finite parameters and stops updating; it never crashes the pack.
            live = finite & (diverged_step < 0)
            keep = lambda new, old: jax.tree_util.tree_map(  # noqa: E731
                lambda a, b: jnp.where(live, a, b), new, old)
            diverged_step = jnp.where((diverged_step < 0) & ~finite, i, diverged_step)
            out_loss = jnp.where(diverged_step < 0, loss, jnp.nan)
            out_norm = jnp.where(diverged_step < 0, norm, jnp.nan)
            return (keep(new_params, params), keep(new_opt_state, opt_state), diverged_step), (out_loss, out_norm)

        def train_steps(state):
            return jax.lax.scan(step, state, c * cfg.eval_every + jnp.arange(cfg.eval_every))

        def no_steps(state):
            return state, (jnp.full(cfg.eval_every, jnp.nan), jnp.full(cfg.eval_every, jnp.nan))

        # c = -1 is the meta-test before training: the same program, so a run compiles one big program, not two
        # (start's meta-test was a second compile of the evaluation, about half a cold sweep's compile time).
        state = (carry.params, carry.opt_state, carry.diverged_step)
        state, (loss, norm) = jax.lax.cond(c >= 0, train_steps, no_steps, state)
        acc, eval_loss = evaluate(state[0], data, hp.num_tasks)
        window_mean = lambda v: v.reshape(windows, cfg.log_every).mean(-1)  # noqa: E731
        return Carry(*state, carry.data_key), ChunkOut(window_mean(loss), window_mean(norm), acc, eval_loss)

    return Stages(start, chunk, cfg.steps // cfg.eval_every, init)


def assemble(first, outs: ChunkOut, diverged_step) -> Metrics:
    """Metrics from the start's meta-test and the chunks' outputs stacked along a chunk axis (axis -2 or -4
    of the per-chunk arrays: works with and without a leading run axis)."""
    acc0, loss0 = first
    xp = jnp if isinstance(acc0, jax.Array) else np
    flat = lambda v: v.reshape(*v.shape[:-2], -1)  # noqa: E731  (chunks, windows) -> steps
    return Metrics(
        train_loss=flat(outs.train_loss), grad_norm=flat(outs.grad_norm),
        eval_acc=xp.concatenate([acc0[..., None, :, :], outs.eval_acc], axis=-3),
        eval_loss=xp.concatenate([loss0[..., None, :, :], outs.eval_loss], axis=-3),
        diverged_step=diverged_step)


def make_train(cfg: RunConfig, engine: models.Engine | None = None):
    """Returns ``train(data, hp, *, key) -> Metrics``: the whole run, chunks scanned, as one program."""
    stages = make_stages(cfg, engine)

    def train(data: TaskData, hp: Hyper, *, key: jax.Array) -> Metrics:
        carry, first = stages.start(data, hp, key)
        carry, outs = jax.lax.scan(lambda cr, c: stages.chunk(data, hp, cr, c), carry, jnp.arange(stages.n_chunks))
        return assemble(first, outs, carry.diverged_step)

    return train


def task_data(cfg: RunConfig) -> TaskData:
    """Loads and preprocesses the datasets a config names (cached), as device arrays.

    With ``num_classes`` below a dataset's class count, only its first ``num_classes`` classes are kept:
    fewer labels to infer in context make in-context learning reachable at small scale.
    """
    from gpicl_phase import data as datasets

    def load(name):
        ds = datasets.load(name, image_size=cfg.image_size, channels=cfg.channels)
        if ds.num_classes < cfg.num_classes:
            raise ValueError(f"dataset {ds.name!r} has {ds.num_classes} classes but num_classes="
                             f"{cfg.num_classes}")
        keep = lambda x, y: (x[y < cfg.num_classes], y[y < cfg.num_classes])  # noqa: E731
        return keep(ds.train_x, ds.train_y), keep(ds.test_x, ds.test_y)

    (tx, ty), (sx, sy) = load(cfg.dataset)
    evals = tuple(load(name)[1] for name in cfg.eval_datasets)
    arr = jnp.asarray
    return TaskData(arr(tx), arr(ty), arr(sx), arr(sy), tuple((arr(x), arr(y)) for x, y in evals))


@functools.lru_cache(maxsize=32)
def compiled(static: RunConfig, engine: models.Engine | None = None):
    """``jit(train)`` for a config's static part and engine, cached so dynamic changes never recompile."""
    return jax.jit(make_train(static, engine))


def run(cfg: RunConfig, data: TaskData | None = None, engine: models.Engine | None = None) -> Metrics:
    """One run, jitted: the convenience entry point for tests and notebooks."""
    data = task_data(cfg) if data is None else data
    return compiled(cfg.static_part(), engine)(data, hyper(cfg), key=run_key(cfg.seed))
