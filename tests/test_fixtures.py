"""The project's vendor fixtures stand alone; where the reference folder is beside the checkout
(``../shared``, as in CI) they must still match it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "tests" / "fixtures" / "vendor" / "TEST_VECTORS.json"
REFERENCE = ROOT.parent / "shared" / "vendor" / "TEST_VECTORS.json"


def test_the_vectors_cover_every_vendor() -> None:
    vectors = json.loads(VECTORS.read_text())["vectors"]
    assert {v["vendor"] for v in vectors} == {"hubspot", "shopify", "xero", "asana"}
    assert len({v["id"] for v in vectors}) == len(vectors)


@pytest.mark.skipif(not REFERENCE.exists(), reason="../shared/vendor/TEST_VECTORS.json is not beside the checkout")
def test_the_project_copy_of_the_vectors_matches_the_reference_file() -> None:
    assert json.loads(VECTORS.read_text()) == json.loads(REFERENCE.read_text())
