"""Sweep files are validated at the edge: every error names the file, the key and what was expected."""

import pytest

from gpicl_phase.sweep import SpecError, from_dict, load, parse_range
from gpicl_phase.sweep.plan import plan


def spec(**axes):
    return {"base": {"steps": 10, "eval_every": 5, "log_every": 5}, "axes": axes}


def test_log2_range_and_lists():
    assert parse_range("2^0..2^4") == [1, 2, 4, 8, 16]
    assert parse_range("2^2..2^8:3") == [4, 32, 256]
    s = from_dict(spec(num_tasks="2^0..2^3", seed=[0, 1], lr=[1e-3, 3e-3]))
    assert s.shape == (4, 2, 2) and s.size == 16
    cfgs = dict(s.cells())
    assert cfgs[(3, 1, 1)].num_tasks == 8 and cfgs[(3, 1, 1)].seed == 1 and cfgs[(3, 1, 1)].lr == 3e-3


@pytest.mark.parametrize("raw, fragment", [
    ({"axes": {"nope": [1]}}, "axes.nope: unknown config field"),
    ({"bogus": 1}, "bogus: unknown top-level key"),
    ({"axes": {"d_model": []}}, "axes.d_model: empty axis"),
    ({"axes": {"d_model": [16, 16]}}, "axes.d_model: duplicate value 16"),
    ({"axes": {"d_model": ["big"]}}, "axes.d_model: d_model: expected int"),
    ({"axes": {"d_model": [0]}}, "d_model: must be positive"),
    ({"base": {"batch_size": 10, "tasks_per_batch": 4}}, "base: tasks_per_batch: must be 0 or divide"),
    ({"axes": {"batch_size": [8, 10]}, "base": {"tasks_per_batch": 4}}, "batch_size=10 is invalid"),
    ({"axes": {"num_tasks": "2^3..2^1"}}, "axes.num_tasks: log2 range"),
    ({"axes": {"num_tasks": "many"}}, "axes.num_tasks: expected a list or a log2 range"),
    ({"axes": {"arch": {"a": {"model": "rnn"}}}}, "arch='a' is invalid: model: 'rnn' is not one of"),
    ({"axes": {"arch": {"a": {"d_model": 8}}, "d_model": [4]}}, "sets 'd_model', which axis 'arch'"),
    ({"base": {"lr": -1.0}}, "base: lr: must be a positive"),
])
def test_errors_name_the_key(raw, fragment):
    with pytest.raises(SpecError) as err:
        from_dict(raw, source="x.toml")
    assert str(err.value).startswith("x.toml: ") and fragment in str(err.value), str(err.value)


def test_smoke_table_and_file_errors(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[base]\nsteps = 100\neval_every = 10\n[axes]\nnum_tasks = [1, 2, 4]\n[smoke]\nbase = {steps = 10, log_every = 5, eval_every = 5}\n'
                    'axes = {num_tasks = [1]}\n')
    full, small = load(path), load(path, smoke=True)
    assert full.size == 3 and small.size == 1 and small.base.steps == 10
    assert full.to_json() != small.to_json()
    (tmp_path / "bad.toml").write_text("[base\n")
    with pytest.raises(SpecError, match="bad.toml: not valid TOML"):
        load(tmp_path / "bad.toml")
    with pytest.raises(SpecError, match="no such sweep file"):
        load(tmp_path / "missing.toml")
    (tmp_path / "nosmoke.toml").write_text("[axes]\nseed = [0]\n")
    with pytest.raises(SpecError, match=r"has no \[smoke\] table"):
        load(tmp_path / "nosmoke.toml", smoke=True)


def test_preset_axis_bundles_fields():
    s = from_dict(spec(arch={"tf": {"model": "transformer"}, "lstm": {"model": "lstm", "d_model": 64}}))
    cfgs = [c for _, c in s.cells()]
    assert [c.model for c in cfgs] == ["transformer", "lstm"] and cfgs[1].d_model == 64


def test_plan_groups_by_shape_and_packs_dynamic_axes():
    s = from_dict(spec(d_model=[8, 16], num_tasks=[1, 2, 4, 8, 16], seed=[0, 1], lr=[1e-3, 1e-2]))
    chunks = plan(s, budget_bytes=10 ** 12, max_pack=8)
    assert {c.group for c in chunks} == {0, 1}
    assert sum(len(c.indices) for c in chunks) == s.size
    assert len({i for c in chunks for i in c.indices}) == s.size, "every cell in exactly one chunk"
    for c in chunks:
        assert len({cfg.static_part() for cfg in c.configs}) == 1 and len(c.indices) <= c.size <= 8
    # The plan is a function of the spec and the pack size only.
    assert plan(s, budget_bytes=10 ** 12, max_pack=8) == chunks


def test_overrides_change_the_base_but_not_axes():
    s = from_dict(spec(num_tasks=[1, 2]), overrides={"steps": "20", "lr": "3e-4"})
    assert s.base.steps == 20 and s.base.lr == 3e-4
    with pytest.raises(SpecError, match="--set num_tasks: is an axis"):
        from_dict(spec(num_tasks=[1, 2]), source="x.toml", overrides={"num_tasks": "4"})
    with pytest.raises(SpecError, match="x.toml: base: eval_every: must divide steps=12"):
        from_dict(spec(), source="x.toml", overrides={"steps": "12"})


def test_a_config_field_added_later_at_its_default_keeps_old_stores_resumable():
    import json

    from gpicl_phase.sweep.runner import same_spec

    current = from_dict(spec(num_tasks=[1, 2])).to_json()
    old = json.loads(current)
    del old["base"]["bias_anneal_steps"]
    assert same_spec(json.dumps(old), current)
    changed = from_dict({**spec(num_tasks=[1, 2]), "base": {**spec()["base"], "bias_anneal_steps": 10.0}})
    assert not same_spec(json.dumps(old), changed.to_json())
    assert not same_spec(current, from_dict(spec(num_tasks=[1, 4])).to_json())
