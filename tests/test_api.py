"""The Python API: cheap import, evaluate with a name / class / instance (also a class defined in
`__main__`, as in a notebook), load_benchmark from a datasets.Dataset, score."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

import vidbench
from vidbench.contracts import DifferencePrediction, Method, MethodConfig, MethodOutput
from vidbench.errors import UserError


class AlwaysB(Method):
    name = "always-b"
    modes = ("closed",)

    def closed(self, task, llm):
        return MethodOutput({k: DifferencePrediction(s, "b") for k, s in task.statements.items()})


class Choice(MethodConfig):
    answer: str = "a"


class Constant(Method):
    name = "constant"
    modes = ("closed",)
    Config = Choice

    def closed(self, task, llm):
        answer = self.config.answer
        return MethodOutput(
            {k: DifferencePrediction(s, answer) for k, s in task.statements.items()}
        )


def test_import_is_cheap_and_lists_the_api():
    code = (
        "import sys, vidbench; "
        "print(sorted(m for m in ('numpy', 'vidbench.api', 'datasets') if m in sys.modules)); "
        "print('evaluate' in dir(vidbench), 'load_benchmark' in dir(vidbench))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "True True"]


def test_evaluate_stays_the_function_after_the_submodule_is_imported():
    import vidbench.evaluate  # noqa: F401  (the eval loop's module)
    from vidbench.evaluate import EvalOptions

    assert callable(vidbench.evaluate) and EvalOptions is not None


def test_evaluate_a_class_an_instance_and_a_name_agree_with_the_truth(tmp_path):
    bench = vidbench.load_benchmark("demo", split="easy")
    labels = [lab for s in bench.samples for lab in s.scored_labels().values()]
    share_b = labels.count("b") / len(labels)

    by_class = vidbench.evaluate(method=AlwaysB, dataset="demo", split="easy", runs_dir=tmp_path)
    assert by_class.metrics.splits["easy"].accuracy == pytest.approx(share_b)
    assert (by_class.run_dir / "predictions.jsonl").is_file()
    assert len(by_class.records) == len(bench.samples)

    instance = Constant(Choice(answer="b"))
    by_instance = vidbench.evaluate(method=instance, dataset=bench, runs_dir=tmp_path)
    assert by_instance.accuracy == pytest.approx(share_b)

    with_options = vidbench.evaluate(Constant, bench, runs_dir=tmp_path, answer="a")
    assert with_options.accuracy == pytest.approx(1 - share_b)

    by_name = vidbench.evaluate("constant-a", "demo", split="easy", runs_dir=tmp_path)
    assert by_name.accuracy == pytest.approx(1 - share_b)
    assert str(by_name.run_dir) in by_name._repr_markdown_()


def test_bad_method_options_are_a_user_error(tmp_path):
    with pytest.raises(UserError, match="bad options for method 'constant'"):
        vidbench.evaluate(Constant, "demo", runs_dir=tmp_path, anwser="a")


class OpenOnly(Method):
    name = "open-only"  # declares both modes (the default) but implements only open

    def open(self, task, llm):
        return MethodOutput({})


def test_a_mode_the_class_does_not_implement_is_refused_up_front(tmp_path):
    with pytest.raises(UserError, match="'open-only'.*does not implement closed mode") as err:
        vidbench.evaluate(OpenOnly, "demo", runs_dir=tmp_path)
    assert "def closed(self, task, llm)" in str(err.value.fix)
    assert not any(tmp_path.rglob("predictions.jsonl"))


def test_score_a_dict_a_run_and_a_file(tmp_path):
    bench = vidbench.load_benchmark("demo", split="hard")
    truth = {s.key: dict(s.scored_labels()) for s in bench.samples}
    metrics = vidbench.score(truth, dataset="demo", split="hard")
    assert metrics.splits["hard"].accuracy == 1.0

    run = vidbench.evaluate("random", "demo", runs_dir=tmp_path)
    assert vidbench.score(run).average == pytest.approx(run.metrics.average)
    path = tmp_path / "preds.json"
    path.write_text(json.dumps({k: {d: "a" for d in v} for k, v in truth.items()}))
    assert vidbench.score(str(path), split="hard").splits["hard"].n == sum(
        len(v) for v in truth.values()
    )
    with pytest.raises(UserError, match="problem"):
        vidbench.score({"nope": {}}, dataset="demo", split="hard")


def test_load_benchmark_accepts_a_datasets_dataset(tmp_path):
    import datasets

    demo = vidbench.load_benchmark("demo")
    ds = datasets.load_dataset(str(demo.source.folder), split="test")
    bench = vidbench.load_benchmark(ds, split="medium", video_root=demo.source.video_root)
    assert [s.key for s in bench.samples] == [s.key for s in demo.samples if s.split == "medium"]
    assert bench.source.revision.startswith("in-memory:")
    run = vidbench.evaluate(
        "random", ds, video_root=demo.source.video_root, runs_dir=tmp_path, limit=3
    )
    assert run.manifest.dataset.kind == "datasets"
    assert len(run.records) == 3


def test_a_method_class_defined_in_main_works_like_a_notebook_cell(tmp_path):
    script = textwrap.dedent(
        """
        import vidbench
        from vidbench import DifferencePrediction, Method, MethodOutput

        class Mine(Method):          # lives in __main__, as a notebook cell's class does
            name = "mine"
            modes = ("closed",)

            def closed(self, task, llm):
                return MethodOutput(
                    {k: DifferencePrediction(s, "a") for k, s in task.statements.items()}
                )

        run = vidbench.evaluate(method=Mine, dataset="demo", split="easy", runs_dir="runs")
        print(run.metrics.splits["easy"].n, run.manifest.method.name)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ},
    )
    assert out.returncode == 0, out.stderr
    n, name = out.stdout.split()
    assert int(n) > 0 and name == "mine"


def test_resume_from_python_runs_only_what_is_missing(tmp_path):
    run = vidbench.evaluate(AlwaysB, "demo", runs_dir=tmp_path)
    log = run.run_dir / "predictions.jsonl"
    lines = log.read_text().splitlines()
    log.write_text("\n".join(lines[:-3]) + "\n")  # three samples lost
    calls = []

    class Counting(AlwaysB):
        def closed(self, task, llm):
            calls.append(task.info.key)
            return super().closed(task, llm)

    finished = vidbench.evaluate(Counting, "demo", resume=run.run_dir)
    assert len(calls) == 3 and len(finished.records) == len(lines)
    assert finished.run_dir == run.run_dir and finished.accuracy == run.accuracy
