"""docs/use-in-your-loop.md runs: each Python block is executed as written, and its Recall@1 goes up."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "use-in-your-loop.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_the_doc_has_the_three_examples():
    assert len(BLOCKS) == 3
    assert "SmartMiner(" in BLOCKS[0] and "CrossBatchMemory(" in BLOCKS[1] and "SmartBatchSampler(" in BLOCKS[2]


@pytest.mark.parametrize("number", range(3))
def test_example_runs_and_its_recall_goes_up(number: int, capsys: pytest.CaptureFixture[str]):
    namespace: dict = {"__name__": f"doc_example_{number + 1}"}
    exec(compile(BLOCKS[number], f"{DOC.name} block {number + 1}", "exec"), namespace)
    history = namespace["history"]
    assert len(history) == 4 and history[-1] > namespace["before"] + 0.05
    assert capsys.readouterr().out.count("epoch") == 4


def test_the_sampler_example_mined_and_moved_kappa():
    namespace: dict = {"__name__": "doc_example_3"}
    exec(compile(BLOCKS[2], f"{DOC.name} block 3", "exec"), namespace)
    sampler = namespace["sampler"]
    assert sampler.stats["mined"] and sampler.stats["n_mined"] > 0
    assert len(sampler.controller.history) == 3  # epochs 2-4 were mined, epoch 1 was the warm-up
    assert namespace["checkpoint"]["sampler"]["epoch"] == 4
