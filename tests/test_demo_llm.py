"""`make run`'s demo against the real embedded LLM server, the part CI can afford: the demo protocol asks for
the LLM's work (the llm-authored pin and a model), and the demo trainee's context is prepared without errors
within the context the server reports (a smaller one than the demo's 20K-token life log, so CI does not spend
minutes on it; the platform keeps the most recent entries that fit)."""

import pytest
from django.core.management import call_command

from chat.context import prefix_forget
from chat.models import LLMContext
from chat.prefill import llm_context_prefill
from chat.selectors import authoring_wanted, llm_prefix_get
from inference.prompt import estimate_tokens
from research.demo import DEMO_LOGINS
from studies.models import Participant

llama_cpp = pytest.importorskip("llama_cpp", reason="the LLM server needs llama-cpp-python (make install)")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200), pytest.mark.django_db]


@pytest.fixture
def llm_server(tmp_path):
    from tests.test_llm_server import LLMServer

    server = LLMServer(tmp_path / "kv", tmp_path / "llm.log")  # LLM_SERVER_N_CTX=4096
    yield server
    server.stop()


def test_the_demo_trainee_s_context_is_prepared_on_the_real_server_within_the_context_it_reports(llm_server, settings):
    settings.LLM_BASE_URL = llm_server.base_url  # LLM_CONTEXT_TOKENS stays 32768: the server's 4096 must win
    settings.LLM_PREFILL_ENABLED = False  # no worker here: the test prepares the context as the task does
    call_command("load_demo")
    participant = Participant.objects.get(user__username=DEMO_LOGINS["trainee"])
    prefix_forget(participant.pk)  # the cache may hold another database's participant of the same id
    assert authoring_wanted(participant_id=participant.pk)  # the demo pins llm-authored and names the model
    (system,) = llm_prefix_get(participant.pk)  # [system prompt][life log], cut to what the server holds
    assert system["content"].count("\n[") > 5 and estimate_tokens(system["content"]) < 4096

    assert llm_context_prefill(participant_id=participant.pk) == "ready"
    context = LLMContext.objects.get(participant=participant)
    assert (context.state, context.error, context.context_tokens) == ("ready", "", 4096)
    assert 1000 < context.prefix_tokens <= 4096 - settings.LLM_TURN_RESERVE_TOKENS  # the server's own count
    assert llm_context_prefill(participant_id=participant.pk) == "ready"  # and it is not sent again
    assert llm_server.metrics()["requests"] == 1
