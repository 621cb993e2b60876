"""Replication (report/replication.py), stamps (stamp.py), per-seed baselines, the report's parameters and the
README's links."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from report_logs import make_cfg, write_logs

from smartmining.config import load_params
from smartmining.errors import SmartMiningError
from smartmining.report import build_report, replication, runs, stamp
from smartmining.report.explore import baseline_values

REPO = Path(__file__).resolve().parents[1]


def doc(**verdicts: str) -> dict:
    return {"stamp": {"commit": "abc", "cpu": "CPU X", "date": "2025-01-01"},
            "readings": [{"id": k.replace("_", "/"), "verdict": v} for k, v in verdicts.items()], "claims": []}


def test_classify_every_kind_of_change() -> None:
    ref = doc(a="a_better", b="a_better", c="equivalent", d="inconclusive", e="supported", f="a_better", g="b_better")
    now = doc(a="a_better", b="b_better", c="a_better", d="b_better", e="contradicted", f="inconclusive", h="equivalent")
    kinds = {c.id: c.kind for c in replication.compare(now, ref)}
    assert kinds == {"a": "held", "b": "contradicted", "c": "shifted", "d": "gained", "e": "contradicted",
                     "f": "lost", "g": "gone", "h": "new"}
    lines = replication.section(replication.compare(now, ref), "the reference", now, ref)
    errors = [line for line in lines if "ERROR" in line]
    assert len(errors) == 2 and "`b` was `a_better` in the reference and is `b_better` here" in errors[0]
    text = "\n".join(lines)
    assert "Lost (decided, now inconclusive): `f` a_better → inconclusive." in text and "ERROR: `f`" not in text
    assert "commit `abc`, CPU CPU X, 2025-01-01" in text
    console = replication.console(replication.compare(now, ref), "the reference", ref)
    assert console[0].startswith("replication against the reference") and "2 contradicted" in console[0]
    assert "ERROR: b: a_better -> b_better (contradicted)" in console


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def make_repo(tmp: Path) -> Path:
    repo = tmp / "repo"
    (repo / "results" / "p").mkdir(parents=True)
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "t@t")
    git(repo, "config", "user.name", "t")
    (repo / "code.py").write_text("x = 1\n")
    (repo / "results" / "p" / "readings.json").write_text(json.dumps(doc(a="a_better")))
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "init")
    return repo


def test_the_reference_is_the_committed_readings_then_the_file_on_disk(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    out = repo / "results" / "p"
    (out / "readings.json").write_text(json.dumps(doc(a="b_better")))  # overwritten, not committed
    data, source = replication.load_reference(out)
    assert data["readings"][0]["verdict"] == "a_better" and "(HEAD)" in source
    outside = tmp_path / "plain"
    outside.mkdir()
    (outside / "readings.json").write_text(json.dumps(doc(a="equivalent")))
    data, source = replication.load_reference(outside)
    assert data["readings"][0]["verdict"] == "equivalent" and "as it was before this run" in source
    assert replication.load_reference(tmp_path / "nowhere")[0] is None
    assert replication.load_reference(outside, enabled=False) == (None, "none (--no-reference)")
    data, source = replication.load_reference(tmp_path / "nowhere", outside / "readings.json")
    assert source == str(outside / "readings.json")
    with pytest.raises(SmartMiningError, match=r"missing\.json: no such file \(expected the reference readings\.json"):
        replication.load_reference(outside, outside / "missing.json")
    (outside / "bad.json").write_text('{"readings": 3}')
    with pytest.raises(SmartMiningError, match=r'bad\.json: expected a JSON object with a "readings" list'):
        replication.load_reference(outside, outside / "bad.json")


def test_commit_is_dirty_only_for_changes_outside_results(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    head = git(repo, "rev-parse", "HEAD").strip()
    assert stamp.git_commit(repo / "results" / "p") == head
    (repo / "results" / "p" / "readings.json").write_text("{}")  # the pipeline rewrites its committed results
    assert stamp.git_commit(repo) == head
    (repo / "code.py").write_text("x = 2\n")
    assert stamp.git_commit(repo) == head + "-dirty"
    assert stamp.git_commit(tmp_path) == "unknown"
    made = stamp.make_stamp(repo)
    assert set(made) == {"commit", "code_digest", "cpu", "date"} and made["cpu"] and len(made["code_digest"]) == 16


def test_a_rerun_compares_with_the_previous_readings_and_flags_a_contradiction(tmp_path: Path) -> None:
    cfg = make_cfg(["glyphs"], ["random", "smart", "smart+global", "smart+global+adaptive"], [0, 1, 2], sweeps=False)
    runs_dir, out_dir, data_root = write_logs(tmp_path, cfg)
    first = build_report(cfg, runs_dir, out_dir, data_root, deviations=tmp_path / "absent.md").read_text()
    assert "*No reference readings: nothing to compare.*" in first
    data = json.loads((out_dir / "readings.json").read_text())
    c4 = next(r for r in data["readings"] if r["id"] == "glyphs/primary/C4")
    assert c4["verdict"] == "a_better"  # fewer epochs in every seed
    c4["verdict"] = "b_better"  # a reference that said the opposite
    data["stamp"]["commit"] = "feedface"
    (tmp_path / "ref.json").write_text(json.dumps(data))
    lines: list[str] = []
    text = build_report(cfg, runs_dir, out_dir, data_root, deviations=tmp_path / "absent.md",
                        reference=tmp_path / "ref.json", echo=lines.append).read_text()
    assert "- **ERROR: `glyphs/primary/C4` was `b_better` in the reference and is `a_better` here**" in text
    assert "Reference run: commit `feedface`" in text and any(line.startswith("ERROR: glyphs/primary/C4") for line in lines)
    again = build_report(cfg, runs_dir, out_dir, data_root, deviations=tmp_path / "absent.md").read_text()
    assert "ERROR" not in again and "contradicted" not in again.split("## Replication")[1].split("##")[0]
    assert re.search(r"Readings and claims compared by id: \d+ held\.", again)


def test_baselines_per_seed_and_the_old_shared_layout(tmp_path: Path) -> None:
    for s, v in ((0, 0.30), (1, 0.32)):
        (tmp_path / "pretrained" / "d" / f"seed{s}").mkdir(parents=True)
        (tmp_path / "pretrained" / "d" / f"seed{s}" / "metrics.json").write_text(json.dumps({"recall@1": v}))
    (tmp_path / "untrained" / "d").mkdir(parents=True)
    (tmp_path / "untrained" / "d" / "metrics.json").write_text(json.dumps({"recall@1": 0.1}))
    base = runs.read_baselines(tmp_path, ["d"])
    pre = base[base["run"] == "pretrained"]
    assert pre["seed"].tolist() == [0, 1] and pre["source"].tolist() == ["pretrained/seed0", "pretrained/seed1"]
    assert baseline_values(base, "d", [0, 1, 2]) == {0: 0.30, 1: 0.32}  # per seed: its own seed only
    assert baseline_values(base, "d", [0, 1, 2], "untrained") == {0: 0.1, 1: 0.1, 2: 0.1}  # shared: every seed


def test_report_parameters_have_defaults_and_are_validated() -> None:
    cfg = load_params(REPO / "params.yaml", "smoke")
    assert cfg["report"] == {"alpha": 0.05, "margin_points": 2, "margin_epochs": 1, "gain_fraction": 0.95}
    with pytest.raises(SmartMiningError, match="margin_points"):
        load_params(REPO / "params.yaml", "smoke", ["report.margin_points=-1"])
    with pytest.raises(SmartMiningError, match="report"):
        load_params(REPO / "params.yaml", "smoke", ["report.margin=2"])


def test_every_relative_link_of_the_readme_is_a_tracked_file() -> None:
    tracked = set(git(REPO, "ls-files").splitlines())
    text = (REPO / "README.md").read_text(encoding="utf-8")
    links = [link.split("#")[0] for link in re.findall(r"\]\(([^)\s]+)\)", text)]
    relative = [link for link in links if link and not re.match(r"[a-z]+:", link)]
    assert relative, "the README links no file"
    untracked = [link for link in relative if Path(link).as_posix() not in tracked
                 and not any(t.startswith(Path(link).as_posix().rstrip("/") + "/") for t in tracked)]
    assert not untracked, f"README links files a clone does not have: {untracked}"
