"""SEntFiN read directly by the evaluation (single-entity headlines, fixed hash halves)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sentinel.classify.data import DataError, read_labelled, sentfin_half

DATASETS = Path(os.environ.get("SENTINEL_DATASETS_DIR",
                               Path(__file__).resolve().parents[2].parent / "shared" / "datasets"))
SAMPLE = '''S No.,Title,Decisions,Words
1,SpiceJet to issue 6.4 crore warrants to promoters,"{""SpiceJet"": ""neutral""}",8
2,JSW Steel Q4 net profit up 29.88%,"{""JSW Steel"": ""positive""}",6
3,"Tata up, Infosys down","{""Tata"": ""positive"", ""Infosys"": ""negative""}",4
4,Tirupati Inks tanks 16 pc in debut trade,"{""Tirupati Inks"": ""negative""}",7
'''


def test_single_entity_headlines_with_their_half(tmp_path) -> None:
    path = tmp_path / "SEntFiN-sample.csv"
    path.write_text(SAMPLE)
    data = read_labelled(path, "sentiment")
    assert data.texts == ["SpiceJet to issue 6.4 crore warrants to promoters",
                          "JSW Steel Q4 net profit up 29.88%",
                          "Tirupati Inks tanks 16 pc in debut trade"]
    assert data.labels == ["neutral", "positive", "negative"]
    assert data.groups == [sentfin_half(t) for t in data.texts]
    assert set(data.groups) <= {"selection", "holdout"}


def test_a_broken_decisions_cell_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text('S No.,Title,Decisions,Words\n1,Some headline,"{not json",2\n')
    with pytest.raises(DataError, match="line 2: Decisions is not a JSON object"):
        read_labelled(path, "sentiment")


@pytest.mark.skipif(not (DATASETS / "sentfin").is_dir(), reason="shared datasets not present")
def test_the_shared_file_gives_the_documented_counts_and_fixed_halves() -> None:
    data = read_labelled(DATASETS / "sentfin" / "SEntFiN-v1.0.csv", "sentiment")
    assert len(data) == 7903
    assert {label: data.labels.count(label) for label in set(data.labels)} == {
        "positive": 2838, "neutral": 2689, "negative": 2376}
    assert data.groups.count("selection") == 3955 and data.groups.count("holdout") == 3948
