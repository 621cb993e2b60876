from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params.yaml"


@pytest.fixture(scope="session")
def smoke_profile() -> dict:
    from smartmining.config import load_params

    return load_params(PARAMS, "smoke")


@pytest.fixture(scope="session")
def smoke_data(tmp_path_factory: pytest.TempPathFactory, smoke_profile: dict) -> Path:
    """The smoke profile's glyphs, rendered once per test session."""
    from smartmining.data.registry import prepare_dataset

    root = tmp_path_factory.mktemp("glyphs-smoke")
    prepare_dataset("glyphs", root, **smoke_profile["data"]["glyphs"])
    return root
