"""What both engines and both KV stores share: the byte-capped LRU, crash-safe writes, the file header,
the shared-prefix measure and the decode loop. No Django, no model."""

import subprocess
import sys

import pytest

from inference.generation import DecodeSteps, Metrics, SharedPrefixTokens, decode
from inference.kvfiles import ByteLRU, FileHeader, atomic_write, index_files, prepare_directory
from tests.conftest import ROOT


def test_byte_lru_evicts_the_least_recent_and_refuses_what_cannot_fit():
    lru = ByteLRU(cap=10)
    assert lru.put("a", 1, 4) == [] and lru.put("b", 2, 4) == []
    lru.get("a")  # now the most recent
    assert lru.put("c", 3, 4) == ["b"] and "a" in lru and lru.used == 8
    assert lru.put("huge", 4, 11) == [] and "huge" not in lru
    lru.put("a", 5, 2)  # replacing a key re-counts its size
    assert (lru.used, lru.get("a"), len(lru)) == (6, 5, 2)


def test_file_header_refuses_other_formats_models_and_short_data():
    header = FileHeader(b"TESTKV01", 3, "Q")
    data = header.pack(b"m" * 32, 42)
    assert header.fields(data, b"m" * 32) == (42,)
    assert header.fields(data, b"n" * 32) is None  # another model's file
    assert FileHeader(b"TESTKV01", 4, "Q").fields(data, b"m" * 32) is None  # another version
    assert header.fields(data[:-1], b"m" * 32) is None


def test_atomic_write_replaces_whole_files_and_leftovers_are_cleared(tmp_path):
    target = tmp_path / "block.kv"
    assert atomic_write(target, [b"abc", bytearray(b"de")]) == 5 and target.read_bytes() == b"abcde"
    (tmp_path / "other.123.456.tmp").write_bytes(b"half")
    prepare_directory(tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["block.kv"]


def test_a_disk_index_keeps_the_newest_files_under_the_cap(tmp_path):
    import os

    for age, name in enumerate(["old", "mid", "new"]):
        path = tmp_path / f"{name}.kv"
        path.write_bytes(b"x" * 10)
        os.utime(path, (age, age))
    lru = ByteLRU(cap=20)
    index_files(tmp_path, ".kv", lru)
    assert list(lru.items) == ["mid", "new"] and not (tmp_path / "old.kv").exists()


def test_the_shared_prefix_is_tokenized_once_per_text():
    calls = []

    def tokenize(text: str) -> list[int]:
        calls.append(text)
        return [ord(c) for c in text]

    shared = SharedPrefixTokens(tokenize, capacity=2)
    prompt = tokenize("system+log|turn")
    calls.clear()
    assert shared(prompt, "system+log|") == len("system+log|")
    assert shared(prompt, "system+log|") == len("system+log|") and calls == ["system+log|"]
    assert shared(prompt, "") == 0 and calls == ["system+log|"]


def test_decode_stops_at_a_stop_string_an_end_token_or_a_full_context():
    def run(tokens: list[int], stop: list[str], room: int = 99, max_tokens: int = 10) -> tuple[str, Metrics]:
        stream, fed, firsts = iter(tokens), [], []
        steps = DecodeSteps(
            sample=lambda: next(stream),
            feed=lambda token: fed.append(token) or len(fed) < room,
            is_end=lambda token: token == 0,
            detokenize=lambda ids: "".join(chr(i) for i in ids),
            on_first_token=lambda: firsts.append(1),
        )
        metrics = Metrics()
        text = "".join(decode(steps, max_tokens=max_tokens, stop=stop, cancelled=lambda: False, metrics=metrics,
                              started=0.0))  # fmt: skip
        assert firsts == [1] and len(metrics.ttft_s) == 1
        return text, metrics

    assert run([ord(c) for c in "hello"] + [0], [])[0] == "hello"
    assert run([ord(c) for c in "ab\nUSER: x"], ["\nUSER:"])[0] == "ab"  # no part of the stop string leaks
    assert run([ord(c) for c in "ab\nUS"] + [0], ["\nUSER:"])[0] == "ab\nUS"  # a held-back tail still ends it
    text, metrics = run([ord(c) for c in "abcdef"], [], room=3)
    assert text == "abc" and metrics.generated_tokens == 3


@pytest.mark.timeout(120)
def test_the_inference_package_loads_without_django():
    code = (
        "import sys, inference.client, inference.generation, inference.kvstore, inference.prompt, "
        "inference.server.app, inference.torch_engine.engine; "
        "print(any(name == 'django' or name.startswith('django.') for name in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.timeout(300)
def test_without_a_gpu_or_the_interpreter_only_kernel_tests_are_skipped(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DJANGO_SETTINGS_MODULE": "reme.settings.local"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
               "tests/test_llm_routing.py", "kernels/tests/test_vs_index.py"]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary and " skipped" in summary, result.stdout[-2000:]
    assert "needs a GPU or TRITON_INTERPRET=1" in result.stdout
