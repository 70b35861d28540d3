"""The same OpenAI-compatible server with the torch engine (`--engine torch`), really started over HTTP:
a tiny random Llama-shaped model on the CPU with the byte tokenizer (no weights can be downloaded here;
the engine's correctness against transformers is in test_torch_model / test_torch_engine). Checks the
API, the metrics, concurrent requests sharing a life-log prefix, and a warm start from disk."""

import concurrent.futures

import httpx
import pytest

from tests.test_llm_server import LLMServer

pytestmark = pytest.mark.timeout(300)
DIARY = "Here is a diary.\n" + "".join(f"Day {n}: met Person{n} at the market.\n" for n in range(1, 30))
TORCH_ARGS = ("--engine", "torch", "--random-config", "tiny", "--device", "cpu", "--attention", "dense")


def chat(server: LLMServer, user: str) -> dict:
    return server.chat(user, max_tokens=6, system=DIARY)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("torch-llm")
    running = LLMServer(directory / "kv", directory / "server.log", extra_args=TORCH_ARGS, block=16)
    yield running
    running.stop()


def test_models_streaming_and_errors(server):
    from openai import OpenAI

    assert httpx.get(server.base_url + "/models").json()["data"][0]["id"] == "tiny-random"
    client = OpenAI(base_url=server.base_url, api_key="unused")
    stream = client.chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "Hello"}], max_tokens=5, stream=True, temperature=0
    )
    chunks = list(stream)
    assert chunks[-1].choices[0].finish_reason == "stop"
    too_long = {"model": "tiny", "messages": [{"role": "user", "content": "x" * 5000}], "max_tokens": 4}
    response = httpx.post(server.base_url + "/chat/completions", json=too_long, timeout=60)
    assert response.status_code == 400 and "maximum context length" in response.json()["error"]["message"]


def test_concurrent_requests_share_the_diary_prefix(server):
    first = chat(server, "Who did I meet on day 3?")
    assert first["usage"]["prompt_tokens"] > len(DIARY)
    before = server.metrics()
    questions = [f"Who did I meet on day {n}?" for n in (4, 5, 6, 7)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda q: chat(server, q), questions))
    after = server.metrics()
    assert after["requests"] == before["requests"] + 4
    for answer in answers:  # each reuses at least the diary's whole blocks
        assert answer["usage"]["prompt_tokens_details"]["cached_tokens"] >= len(DIARY) // 16 * 16
    # the answers are the ones each question gets alone (temperature 0)
    assert [chat(server, q)["choices"][0]["message"]["content"] for q in questions] == [
        a["choices"][0]["message"]["content"] for a in answers
    ]
    assert after["restores"]["gpu"] + after["restores"]["context"] >= 4


def test_a_restart_starts_warm_from_disk(server):
    chat(server, "What happened on day 9?")
    server.stop()
    server.start()
    answer = chat(server, "What happened on day 10?")
    assert answer["usage"]["prompt_tokens_details"]["cached_tokens"] >= len(DIARY) // 16 * 16
    assert server.metrics()["restores"]["disk"] == 1
