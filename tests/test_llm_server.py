"""Our OpenAI-compatible server, really started over HTTP with the real (small) packaged model on the CPU:
the openai client streaming, prefix reuse from the live context, RAM and disk (after a restart), corrupt
store files, concurrent requests and disconnects, and the progress a long prompt reports while it is read."""

import asyncio
import concurrent.futures
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, ChildProcess, free_port, wait_until

llama_cpp = pytest.importorskip("llama_cpp", reason="the LLM server needs llama-cpp-python (make install)")
pytestmark = pytest.mark.timeout(600)
SYSTEM = "You are a helpful assistant. Here is a diary:\n" + "\n".join(
    f"Day {n}: walked to the market, bought {n} apples and met a friend called Person{n}." for n in range(1, 40)
)


class LLMServer(ChildProcess):
    def __init__(self, store_dir: Path, log_path: Path, extra_args: tuple[str, ...] = (), block: int = 64):
        self.port, self.store_dir, self.log_path = free_port(), store_dir, log_path
        self.extra_args, self.block = list(extra_args), block
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.start()

    def start(self) -> None:
        self.log = open(self.log_path, "a")  # noqa: SIM115 - closed in stop()
        env = dict(os.environ, LLM_KV_DIR=str(self.store_dir), LLM_SERVER_N_CTX="4096", LLM_KV_BLOCK=str(self.block))
        command = [sys.executable, "-m", "inference.server", "--port", str(self.port), *self.extra_args]
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(self._healthy, timeout=240, message="the LLM server")

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError("LLM server exited:\n" + self.log_path.read_text())
        try:
            return httpx.get(self.base_url.removesuffix("/v1") + "/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def metrics(self) -> dict:
        return httpx.get(self.base_url.removesuffix("/v1") + "/metrics", timeout=5).json()

    def chat(self, user: str, max_tokens: int = 12, system: str = SYSTEM) -> dict:
        body = {"model": "any", "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
                "max_tokens": max_tokens, "temperature": 0}  # fmt: skip
        response = httpx.post(self.base_url + "/chat/completions", json=body, timeout=300)
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("llm")
    running = LLMServer(directory / "kv", directory / "server.log")
    yield running
    running.stop()


def test_models_health_and_openai_client_streaming(server):
    from openai import OpenAI

    model = httpx.get(server.base_url + "/models").json()["data"][0]
    assert model["object"] == "model" and model["max_model_len"] == 4096  # LLM_SERVER_N_CTX, vLLM's field name
    client = OpenAI(base_url=server.base_url, api_key="unused")
    stream = client.chat.completions.create(
        model="any", messages=[{"role": "user", "content": "Say hello in three words."}], max_tokens=12, stream=True
    )
    pieces = [chunk.choices[0].delta.content or "" for chunk in stream]
    assert len([p for p in pieces if p]) >= 2 and "".join(pieces).strip()
    completion = client.completions.create(model="any", prompt="The capital of France is", max_tokens=4, temperature=0)
    assert completion.choices[0].text.strip()


def test_bad_requests_get_clear_errors(server):
    assert httpx.post(server.base_url + "/chat/completions", content=b"{nope", timeout=10).status_code == 400
    response = httpx.post(server.base_url + "/chat/completions", json={"messages": "hi"}, timeout=10)
    assert response.status_code == 400 and "messages" in response.json()["error"]["message"]
    hello = [{"role": "user", "content": "hi"}]
    for bad in ({"max_tokens": "lots"}, {"max_tokens": -3}, {"temperature": 9}):
        response = httpx.post(server.base_url + "/chat/completions", json={"messages": hello, **bad}, timeout=10)
        assert response.status_code == 400, bad
    too_long = {"messages": [{"role": "user", "content": "word " * 5000}], "max_tokens": 4}
    response = httpx.post(server.base_url + "/chat/completions", json=too_long, timeout=60)
    error = response.json()["error"]
    assert response.status_code == 400 and error["code"] == "context_length_exceeded"
    assert "maximum context length is 4096 tokens" in error["message"]
    assert server.chat("Say OK.", max_tokens=2)["choices"]  # still serving


def test_response_format_json_schema_constrains_the_reply(server):
    schema = {
        "type": "object",
        "properties": {
            "evidence": {"const": [3, 7]},
            "answer": {"enum": ["Person3", "Person7"]},
            "question": {"type": "string", "maxLength": 60},
        },
        "required": ["evidence", "answer", "question"],
    }
    body = {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Write a quiz question."}],
            "max_tokens": 60, "temperature": 0.7,
            "response_format": {"type": "json_schema", "json_schema": {"name": "quiz", "schema": schema}}}  # fmt: skip
    for _ in range(2):  # sampled, not greedy: the grammar, not luck, keeps it valid
        reply = httpx.post(server.base_url + "/chat/completions", json=body, timeout=300).json()
        parsed = json.loads(reply["choices"][0]["message"]["content"])
        assert parsed["evidence"] == [3, 7] and parsed["answer"] in {"Person3", "Person7"}
        assert isinstance(parsed["question"], str) and len(parsed["question"]) <= 60
    bad = {**body, "response_format": {"type": "json_schema", "json_schema": {"schema": "nope"}}}
    assert httpx.post(server.base_url + "/chat/completions", json=bad, timeout=10).status_code == 400
    # A pattern whose grammar llama.cpp's parser refuses (`\.` survives the converter as an unknown escape): a
    # NULL sampler would crash the server at the first token; it is the client's 400 and the server serves on.
    unparsable = {"type": "object", "properties": {"q": {"type": "string", "pattern": "^a\\.5$"}}, "required": ["q"]}
    refused = {**body, "response_format": {"type": "json_schema", "json_schema": {"schema": unparsable}}}
    answer = httpx.post(server.base_url + "/chat/completions", json=refused, timeout=30)
    assert answer.status_code == 400 and "does not parse" in answer.text
    assert server.chat("Say OK.", max_tokens=2)["choices"]


def test_a_shared_prefix_is_reused_and_gives_the_same_answer(server):
    cold = server.chat("How many apples on day 7?")
    server.chat("Who did I meet on day 3?")  # another turn over the same prefix
    again = server.chat("How many apples on day 7?")
    cached = again["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert cached >= 64 and cached >= again["usage"]["prompt_tokens"] - 80
    assert again["choices"][0]["message"]["content"] == cold["choices"][0]["message"]["content"]
    server.chat("Unrelated.", system="A different system prompt entirely.")  # the live context moves away
    from_ram = server.chat("How many apples on day 7?")
    assert from_ram["choices"][0]["message"]["content"] == cold["choices"][0]["message"]["content"]
    server.chat("Unrelated.", system="A different system prompt entirely.")
    new_question = server.chat("Which day did I meet Person20?")  # same prefix, another question
    shared = new_question["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert shared >= 64 and shared < new_question["usage"]["prompt_tokens"] - 5
    assert server.metrics()["restores"]["ram"] >= 2


def test_a_restart_starts_warm_from_disk_and_corrupt_files_are_ignored(server):
    reference = server.chat("Which friend did I meet on day 12?")
    server.stop()
    server.start()
    warm = server.chat("Which friend did I meet on day 12?")
    assert warm["usage"]["prompt_tokens_details"]["cached_tokens"] >= 64
    assert server.metrics()["restores"]["disk"] == 1
    assert warm["choices"][0]["message"]["content"] == reference["choices"][0]["message"]["content"]
    server.stop()
    for path in server.store_dir.glob("*.kv"):
        data = bytearray(path.read_bytes())
        data[-1] ^= 0xFF
        path.write_bytes(bytes(data))
    server.start()
    recomputed = server.chat("Which friend did I meet on day 12?")
    assert recomputed["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
    assert recomputed["choices"][0]["message"]["content"] == reference["choices"][0]["message"]["content"]


def test_concurrent_requests_are_served_one_by_one_never_interleaved(server):
    questions = [f"How many apples on day {n}?" for n in (2, 5, 9)]
    alone = [server.chat(q)["choices"][0]["message"]["content"] for q in questions]
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        together = list(pool.map(lambda q: server.chat(q)["choices"][0]["message"]["content"], questions))
    assert together == alone


def test_a_disconnected_client_frees_the_engine(server):
    body = {"messages": [{"role": "user", "content": "Count from one to five hundred."}], "max_tokens": 400,
            "stream": True, "temperature": 0}  # fmt: skip
    before = server.metrics()["generated_tokens"]
    with httpx.stream("POST", server.base_url + "/chat/completions", json=body, timeout=60) as response:
        for line in response.iter_lines():
            if line.startswith("data:"):
                break  # the client goes away after the first token
    started = time.monotonic()
    server.chat("Say OK.", max_tokens=3)
    assert time.monotonic() - started < 60
    assert server.metrics()["generated_tokens"] - before < 200  # the abandoned reply stopped early


def test_a_long_prompt_reports_its_progress_so_a_prefill_waits_on_progress_not_a_deadline(server):
    from inference.client import ClientSettings, LLMClient

    client = LLMClient(ClientSettings(base_url=server.base_url, model="any"))
    prefix = [{"role": "system", "content": SYSTEM.replace("apples", "plums")}]  # ~1,200 tokens, none cached
    heard: list[tuple[int, int]] = []
    reply = client.prefill([*prefix, {"role": "user", "content": "Reply with OK."}], stall_s=120,
                           on_progress=lambda read, total: heard.append((read, total)))  # fmt: skip
    reads = [read for read, _ in heard]
    assert len(heard) >= 4 and reads == sorted(reads)  # a line after each batch of the prompt it read
    assert {total for _, total in heard} == {reply.prompt_tokens} and reads[-1] == reply.prompt_tokens  # usage


def test_a_caller_that_hangs_up_cancels_its_non_streamed_request(server):
    body = {"messages": [{"role": "user", "content": "Count from one to five hundred."}], "max_tokens": 400,
            "temperature": 0}  # fmt: skip
    before = server.metrics()["generated_tokens"]

    def hang_up() -> str:
        try:
            httpx.post(server.base_url + "/chat/completions", json=body, timeout=1.5)
        except httpx.TimeoutException:
            return "timed out"
        return "answered"

    with concurrent.futures.ThreadPoolExecutor(3) as pool:  # one generating, two queued behind it
        assert list(pool.map(lambda _: hang_up(), range(3))) == ["timed out"] * 3
    server.chat("Say OK.", max_tokens=3)
    after = server.metrics()
    assert after["generated_tokens"] - before < 200 and after["queued"] == 0  # abandoned work stopped


@pytest.mark.django_db(transaction=True)
@pytest.mark.anyio
async def test_the_platform_falls_back_to_templates_when_the_server_dies_mid_reply(world, settings, tmp_path):
    from channels.db import database_sync_to_async

    from chat.llm import llm_client
    from chat.models import ChatMessage
    from chat.services import training_session_start
    from tests.chat_helpers import give_life_log
    from tests.test_chat_consumer import connect, receive_until

    await database_sync_to_async(give_life_log)(world.participant_a)  # ~3,000 tokens: seconds of prefill
    dying = LLMServer(tmp_path / "kv", tmp_path / "server.log")
    settings.LLM_BASE_URL, settings.LLM_PREFILL_ENABLED = dying.base_url, False
    settings.CHAT_LLM_FIRST_TOKEN_S = None  # no first-token budget: here the server dies while the reply waits
    llm_client().breaker.succeeded()
    session = await database_sync_to_async(training_session_start)(participant=world.participant_a, puzzles=1)
    tab = await connect(world.trainee_a, session.pk)
    await tab.send_json_to({"type": "hello", "after_seq": 0})
    await receive_until(tab, "state")
    await asyncio.sleep(1.5)  # the request is in, the server is busy with the long prompt
    assert dying.metrics()["requests"] == 0  # not answered yet
    dying.crash()
    events = await receive_until(tab, "notice", timeout=120)
    done = [e for e in events if e["type"] == "done"][-1]
    stored = await database_sync_to_async(ChatMessage.objects.get)(session=session, seq=done["seq"])
    assert done["text"] == stored.template_text == stored.text and stored.status == "complete"
    assert "resting" in events[-1]["text"]
    await tab.disconnect()
    llm_client().breaker.succeeded()


@pytest.mark.django_db
def test_the_platform_budgets_by_the_servers_context_and_says_when_a_prefix_cannot_fit(server, world, settings,
                                                                                      client):  # fmt: skip
    from datetime import UTC, datetime, timedelta

    from asgiref.sync import async_to_sync
    from django.utils.html import escape

    from chat.llm import llm_client, llm_context_tokens
    from chat.models import LLMContext
    from chat.phrasing import phrase
    from chat.prefill import llm_context_mark_stale, llm_context_prefill
    from chat.selectors import phrase_request_get, session_state
    from chat.services import training_session_start
    from lifelog.models import LifeLogEntry

    settings.LLM_BASE_URL, settings.LLM_CONTEXT_TOKENS = server.base_url, 32768  # more than the server's 4,096
    settings.LLM_TURN_RESERVE_TOKENS = 3600  # leaves a few hundred tokens of life log: a short cold prefill
    llm_client().breaker.succeeded()
    participant = world.participant_a
    start = datetime(2025, 1, 1, 9, tzinfo=UTC)
    LifeLogEntry.objects.bulk_create(
        LifeLogEntry(participant=participant, occurred_at=start + timedelta(days=n), title=f"Walk number {n}",
                     description=f"Walked to the market with Joan and bought {n} apples and a loaf of bread.",
                     place_name="Market Square", people=["Joan"], content_hash=f"{n:064d}")
        for n in range(150)
    )  # ~5,000 tokens: more than the server holds, so only the newest entries may be sent  # fmt: skip
    assert llm_context_tokens(participant.pk) == 4096  # asked of the server, not taken from the settings
    assert llm_context_prefill(participant_id=participant.pk) == "ready"
    context = LLMContext.objects.get(participant=participant)
    assert context.context_tokens == 4096 and 0 < context.prefix_tokens < 1000

    # A life log the character estimate undercounts (about a token per character, not 3) cannot fit: a
    # clear state with the numbers, not an error to retry.
    settings.LLM_TURN_RESERVE_TOKENS = 1000
    LifeLogEntry.objects.filter(participant=participant).update(description="記憶の練習を毎日しました。" * 30)
    llm_context_mark_stale(participant_id=participant.pk)
    assert llm_context_prefill(participant_id=participant.pk) == "too_long"  # returned, not raised: no retry
    context.refresh_from_db()
    assert context.state == "too_long" and context.context_tokens == 4096 and context.prefix_tokens > 4096
    assert context.error == f"too long for the model's context: {context.prefix_tokens:,} of 4,096 tokens"
    assert llm_context_prefill(participant_id=participant.pk) == "too_long"  # the same prefix is not sent again
    client.force_login(world.researcher_a)
    page = client.get(f"/research/participants/{participant.public_code}/").content.decode()
    assert f"Assistant context: {escape(context.error)}" in page
    assert escape(context.error) in client.get("/research/studies/study-a/").content.decode()  # the dashboard
    # The trainee is not asked to wait for it, and replies are the templates, without asking the server.
    session = training_session_start(participant=participant, puzzles=1, group_keys=["life-recall"])
    assert session_state(session)["context"] is None
    opening = session.messages.get(status="streaming")
    request = phrase_request_get(message_id=opening.pk)
    final, outcome = async_to_sync(phrase)(request, _ignore, llm_client())
    assert not request.fits and (final, outcome) == (opening.template_text, "too_long")


async def _ignore(piece: str) -> None:
    pass


@pytest.fixture
def anyio_backend():
    return "asyncio"


def test_purge_forgets_one_users_prefixes_in_every_tier(server):
    def ask(user: str, system: str) -> dict:
        body = {"messages": [{"role": "system", "content": system}, {"role": "user", "content": "Who on day 3?"}],
                "max_tokens": 2, "temperature": 0, "user": user}  # fmt: skip
        response = httpx.post(server.base_url + "/chat/completions", json=body, timeout=300)
        response.raise_for_status()
        return response.json()["usage"]["prompt_tokens_details"]["cached_tokens"]

    other = SYSTEM.replace("Person", "Friend")
    files = lambda: set(server.store_dir.glob("*.kv"))  # noqa: E731
    before = files()
    ask("participant-2", other)
    kept = files() - before
    ask("participant-1", SYSTEM.replace("apples", "pears"))
    written = files() - before - kept
    assert kept and written
    purged = httpx.post(server.base_url + "/purge", json={"user": "participant-1"}, timeout=60).json()["purged"]
    assert purged >= len(written) and not written & files() and kept <= files()
    assert ask("participant-1", SYSTEM.replace("apples", "pears")) == 0  # RAM, disk and live context forgot it
    assert ask("participant-2", other) > 0  # another user's prefix is still warm
    assert httpx.post(server.base_url + "/purge", json={}, timeout=10).status_code == 400
