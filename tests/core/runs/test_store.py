"""RunStore reuse rules with a real Meter (modelled or counter, whatever this machine has)."""

from __future__ import annotations

import json

import pytest

from core.energy import Meter
from core.errors import ConfigError, DataError
from core.runs import RunStore, run_key


class Boom(RuntimeError):
    pass


def _work(calls: list[int], value: int = 7):
    def fn(artifacts):
        calls.append(1)
        (artifacts / "model.txt").write_text(str(value))
        return {"score": value, "n": sum(range(20000))}

    return fn


@pytest.fixture()
def store(tmp_path):
    return RunStore(tmp_path / "runs", meter=Meter())


KEY = run_key({"a": 1}, "fp", "v")


def test_finished_run_is_reused(store):
    calls: list[int] = []
    first = store.get_or_run(KEY, _work(calls), app="demo")
    second = store.get_or_run(KEY, _work(calls), app="demo")
    assert calls == [1]
    assert not first.reused and second.reused
    assert second.outputs == first.outputs
    assert (second.artifacts_dir / "model.txt").read_text() == "7"
    assert second.measurement.energy_j == pytest.approx(first.measurement.energy_j)
    assert store.state(KEY) == "finished"


def test_force_reruns_and_failed_force_keeps_old_result(store):
    calls: list[int] = []
    store.get_or_run(KEY, _work(calls, 1), app="demo")
    res = store.get_or_run(KEY, _work(calls, 2), app="demo", force=True)
    assert calls == [1, 1] and res.outputs["score"] == 2 and not res.reused

    def broken(artifacts):
        raise Boom("disk full")

    with pytest.raises(Boom):
        store.get_or_run(KEY, broken, app="demo", force=True)
    assert store.load(KEY).outputs["score"] == 2  # the finished run survived the failed rerun


def test_failed_run_is_never_reused(store):
    def broken(artifacts):
        (artifacts / "partial.bin").write_text("x")
        raise Boom("diverged")

    with pytest.raises(Boom):
        store.get_or_run(KEY, broken, app="demo")
    assert store.state(KEY) == "failed"
    with pytest.raises(DataError, match="failed"):
        store.load(KEY)
    calls: list[int] = []
    res = store.get_or_run(KEY, _work(calls), app="demo")
    assert calls == [1] and not res.reused
    assert not (res.artifacts_dir / "partial.bin").exists()


def test_interrupted_run_without_marker_is_rerun(store):
    calls: list[int] = []
    store.get_or_run(KEY, _work(calls), app="demo")
    (store.root / KEY / "DONE").unlink()  # as if the process died before the marker
    assert store.state(KEY) == "interrupted"
    res = store.get_or_run(KEY, _work(calls), app="demo")
    assert calls == [1, 1] and not res.reused


def test_non_dict_outputs_and_bad_keys(store):
    with pytest.raises(ConfigError, match="dict"):
        store.get_or_run(KEY, lambda a: [1, 2], app="demo")
    assert store.state(KEY) == "failed"
    with pytest.raises(ConfigError, match="run_key"):
        store.get_or_run("../etc", _work([]), app="demo")


def test_record_is_json_with_measurement(store):
    store.get_or_run(KEY, _work([]), app="demo")
    record = json.loads((store.root / KEY / "record.json").read_text())
    assert record["measurement"]["method"] in {"counter", "power_sampled", "modelled"}
    assert record["measurement"]["energy_j"] >= 0
