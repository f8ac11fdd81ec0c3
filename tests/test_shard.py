"""`vidbench eval --shard I/N` and `vidbench merge`: disjoint complete shards, a merged run that
scores exactly as the run done at once, and every refusal (other configuration, missing, twice,
overlapping); open mode merges without calling the judge again."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli_helpers import run_cli
from tests.test_eval_llm import answer_everything


def _eval(capsys, tmp_path: Path, *args: str) -> Path:
    res = run_cli(capsys, "eval", "--no-progress", "--runs-dir", str(tmp_path), *args)
    assert res.code == 0, res.err
    return Path(res.out.rsplit("run folder: ", 1)[1].split()[0])


def _keys(run: Path) -> list[str]:
    return [
        json.loads(x)["sample_key"] for x in (run / "predictions.jsonl").read_text().splitlines()
    ]


def _metrics(run: Path) -> dict:
    m = json.loads((run / "metrics.json").read_text())
    return {k: m[k] for k in ("splits", "average", "average_bootstrap", "pooled", "by_action")}


def test_shards_are_disjoint_complete_and_merge_to_the_whole_run(capsys, tmp_path):
    full = _eval(capsys, tmp_path / "full", "--method", "random")
    shards = [_eval(capsys, tmp_path, "--method", "random", "--shard", f"{i}/3") for i in (1, 2, 3)]
    assert all(f"shard{i}of3" in s.name for i, s in zip((1, 2, 3), shards))
    keys = [_keys(s) for s in shards]
    assert sorted(k for ks in keys for k in ks) == sorted(_keys(full))
    assert max(map(len, keys)) - min(map(len, keys)) <= 1
    assert sorted(keys[0]) == sorted(
        _keys(_eval(capsys, tmp_path, "--method", "random", "--shard", "1/3"))
    )

    res = run_cli(capsys, "merge", *map(str, reversed(shards)), "--out", str(tmp_path / "m"))
    assert res.code == 0, res.err
    merged = tmp_path / "m"
    assert _metrics(merged) == _metrics(full)
    config = json.loads((merged / "config.json").read_text())
    assert config["selection"]["shard"] is None
    manifest = json.loads((merged / "manifest.json").read_text())
    assert manifest["dataset"]["n_samples"] == len(_keys(full))
    assert len((merged / "merged_from.txt").read_text().splitlines()) == 3

    # The merged folder is a run like any other: resume finds nothing to do.
    res = run_cli(capsys, "eval", "--no-progress", "--resume", str(merged))
    assert res.code == 0, res.err
    assert _metrics(merged) == _metrics(full)


def test_merge_refuses_what_is_not_one_whole_run(capsys, tmp_path):
    one, two = (_eval(capsys, tmp_path, "--method", "random", "--shard", f"{i}/2") for i in (1, 2))
    other = _eval(capsys, tmp_path, "--method", "random", "-M", "seed=1", "--shard", "2/2")
    whole = _eval(capsys, tmp_path, "--method", "random")

    cases = [
        ([one], "shard(s) 2/2 missing"),
        ([one, one], "given twice"),
        ([one, other], "another configuration"),
        ([one, whole], "is not a shard"),
    ]
    for runs_, message in cases:
        res = run_cli(capsys, "merge", *map(str, runs_), "--runs-dir", str(tmp_path / "m"))
        assert res.code == 2 and message in res.err, (message, res.err)

    # A record copied into the other shard: the shards overlap.
    stolen = (one / "predictions.jsonl").read_text().splitlines()[0]
    with open(two / "predictions.jsonl", "a") as fh:
        fh.write(stolen + "\n")
    res = run_cli(capsys, "merge", str(one), str(two), "--runs-dir", str(tmp_path / "m"))
    assert res.code == 2 and "in two shards" in res.err
    assert not (tmp_path / "m").exists()  # nothing written on refusal

    res = run_cli(capsys, "eval", "--shard", "3/2")
    assert res.code == 2 and "--shard" in res.err


def test_open_shards_merge_without_judging_again(capsys, tmp_path, openai_server):
    openai_server.respond_with(answer_everything)
    judge = ["--judge", "openai/test-judge", "--judge-api-base", openai_server.base_url]
    judge += ["--judge-protocol", "single"]  # what the scripted judge answers
    args = ["--method", "random", "--mode", "open", *judge]
    full = _eval(capsys, tmp_path / "full", *args)
    shards = [_eval(capsys, tmp_path, *args, "--shard", f"{i}/2") for i in (1, 2)]
    openai_server.respond_with(lambda body: "the judge must not be called")
    before = len(openai_server.requests)
    res = run_cli(capsys, "merge", *map(str, shards), "--out", str(tmp_path / "m"))
    assert res.code == 0, res.err
    assert len(openai_server.requests) == before
    assert _metrics(tmp_path / "m") == _metrics(full)
    assert (tmp_path / "m" / "judgements.jsonl").is_file()
