"""The measured reference results load, carry what a notebook prints, and fail loudly."""

import json

import pytest

from cnnkit import reference


def test_every_stored_result_has_the_required_fields_and_a_sentence():
    for item in reference.results():
        assert item.key.count("/") == 1
        assert isinstance(item.value, int | float)
        sentence = item.describe()
        assert item.metric in sentence and item.machine in sentence and item.data in sentence


def test_result_names_known_keys_when_missing():
    with pytest.raises(KeyError, match="no reference result '99_nothing/cpu'"):
        reference.result("99_nothing/cpu")


def test_a_file_lacking_a_required_field_is_refused(tmp_path, monkeypatch):
    (tmp_path / "00_demo.json").write_text(json.dumps({"cpu": {"value": 0.5, "metric": "acc"}}))
    monkeypatch.setattr(reference, "_HERE", tmp_path)
    reference._table.cache_clear()
    try:
        with pytest.raises(
            ValueError, match=r"'00_demo/cpu' in 00_demo.json lacks \['data', 'machine'\]"
        ):
            reference.results()
    finally:
        monkeypatch.undo()
        reference._table.cache_clear()


def test_describe_reads_like_a_label(tmp_path, monkeypatch):
    fields = {
        "value": 0.724,
        "metric": "test accuracy",
        "data": "real CIFAR-10",
        "machine": "2 cores",
        "model": "mini_vgg",
        "epochs": 8,
        "seconds": 560.4,
        "measured": "2026-11-23",
    }
    (tmp_path / "06_demo.json").write_text(json.dumps({"cpu": fields}))
    monkeypatch.setattr(reference, "_HERE", tmp_path)
    reference._table.cache_clear()
    try:
        text = reference.result("06_demo/cpu").describe()
    finally:
        monkeypatch.undo()
        reference._table.cache_clear()
    assert text == (
        "0.724 test accuracy (mini_vgg; real CIFAR-10; 8 epochs; 560 s of training; on 2 cores; "
        "measured 2026-11-23)"
    )
