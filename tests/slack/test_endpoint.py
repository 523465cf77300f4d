"""The endpoint Slack calls: signatures, approvers, and clicks that change nothing."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
from starlette.testclient import TestClient

from tests.slack.conftest import APPROVER, SECRET, FakeResume, waiting_stage
from waterfall import rollout as core
from waterfall.errors import ConfigError, StoreError
from waterfall.runtime import Runtime
from waterfall.slack.approvals import ApprovalDesk
from waterfall.slack.endpoint import ROLLBACK_COMMAND, SlackEndpoint
from waterfall.slack.messages import APPROVE_ACTION, REJECT_ACTION
from waterfall.slack.mock import (
    MockSlackApi,
    button_click,
    signed_headers,
    slash_command,
)
from waterfall.store import repository as repo

MESSAGE_TS = "1700000000.000001"
# Starlette's in-process test client still runs on httpx; the flow tests call
# the endpoint over real HTTP instead.
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with")


@pytest.fixture
def resume() -> FakeResume:
    return FakeResume()


@pytest.fixture
def client(runtime: Runtime, resume: FakeResume) -> TestClient:
    desk = ApprovalDesk(runtime, [APPROVER], resume)
    return TestClient(SlackEndpoint(SECRET, desk).app())


def click(
    client: TestClient,
    runtime: Runtime,
    body: bytes,
    secret: str = SECRET,
    age_s: int = 0,
    path: str = "/slack/interactions",
) -> int:
    timestamp = int(runtime.clock.now().timestamp()) - age_s
    response = client.post(
        path, content=body, headers=signed_headers(secret, body, timestamp)
    )
    return response.status_code


def approve_body(stage_id: int, user: str = APPROVER) -> bytes:
    return button_click(APPROVE_ACTION, str(stage_id), user, MESSAGE_TS, "alice")


def ephemerals(slack: MockSlackApi) -> list[dict]:
    return [call.arguments for call in slack.calls("chat.postEphemeral")]


class TestSignature:
    def test_valid_click_resumes_the_run_with_typed_input(
        self, client: TestClient, runtime: Runtime, resume: FakeResume
    ) -> None:
        stage = waiting_stage(runtime, "run-7")
        assert click(client, runtime, approve_body(stage.id)) == 200
        assert resume.answers == [
            (
                "run-7",
                {
                    "decision": "approve",
                    "approver": "alice (Slack UALICE)",
                    "comment": "decided in Slack",
                },
            )
        ]

    @pytest.mark.parametrize(
        ("secret", "age_s"), [("guess", 0), (SECRET, 301), (SECRET, -301)]
    )
    def test_bad_signature_or_age_is_rejected(
        self,
        client: TestClient,
        runtime: Runtime,
        resume: FakeResume,
        secret: str,
        age_s: int,
    ) -> None:
        stage = waiting_stage(runtime)
        body = approve_body(stage.id)
        assert click(client, runtime, body, secret=secret, age_s=age_s) == 401
        assert resume.answers == []

    def test_timestamp_within_five_minutes_is_accepted(
        self, client: TestClient, runtime: Runtime, resume: FakeResume
    ) -> None:
        stage = waiting_stage(runtime)
        assert click(client, runtime, approve_body(stage.id), age_s=299) == 200
        assert len(resume.answers) == 1

    def test_body_changed_after_signing_is_refused(
        self, client: TestClient, runtime: Runtime, resume: FakeResume
    ) -> None:
        stage = waiting_stage(runtime)
        body = approve_body(stage.id)
        headers = signed_headers(SECRET, body, int(runtime.clock.now().timestamp()))
        tampered = body.replace(b"approve", b"reject_")
        response = client.post("/slack/interactions", content=tampered, headers=headers)
        assert response.status_code == 401
        assert resume.answers == []

    def test_non_numeric_timestamp_is_refused(self, client: TestClient) -> None:
        headers = {"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=00"}
        response = client.post(
            "/slack/interactions", content=b"payload=%7B%7D", headers=headers
        )
        assert response.status_code == 401

    def test_signed_but_malformed_payload_is_a_bad_request(
        self, client: TestClient, runtime: Runtime
    ) -> None:
        assert click(client, runtime, b"payload=not-json") == 400


class TestClicksThatChangeNothing:
    def test_user_not_on_the_list_gets_an_explanation(
        self,
        client: TestClient,
        runtime: Runtime,
        resume: FakeResume,
        slack: MockSlackApi,
    ) -> None:
        stage = waiting_stage(runtime)
        assert click(client, runtime, approve_body(stage.id, user="UMALLORY")) == 200
        assert resume.answers == []
        [note] = ephemerals(slack)
        assert note["user"] == "UMALLORY"
        assert "not on the approver list" in note["text"]
        assert core.get_stage(runtime.store, stage.id).status == "awaiting_approval"

    def test_second_click_on_a_decided_step(
        self,
        client: TestClient,
        runtime: Runtime,
        resume: FakeResume,
        slack: MockSlackApi,
    ) -> None:
        stage = waiting_stage(runtime)
        click(client, runtime, approve_body(stage.id))
        core.record_decision(
            runtime.store,
            stage.id,
            "approved",
            "approve",
            "alice",
            "",
            runtime.clock.now(),
        )
        reject = button_click(
            REJECT_ACTION, str(stage.id), APPROVER, MESSAGE_TS, "alice"
        )
        assert click(client, runtime, reject) == 200
        assert len(resume.answers) == 1
        assert "already approved by alice" in ephemerals(slack)[-1]["text"]
        assert core.get_stage(runtime.store, stage.id).status == "approved"

    def test_double_click_before_the_flow_records_it(
        self,
        client: TestClient,
        runtime: Runtime,
        resume: FakeResume,
        slack: MockSlackApi,
    ) -> None:
        stage = waiting_stage(runtime)
        click(client, runtime, approve_body(stage.id))
        click(client, runtime, approve_body(stage.id))
        assert len(resume.answers) == 1
        assert "decided a moment ago" in ephemerals(slack)[-1]["text"]

    def test_click_after_the_timeout(
        self,
        client: TestClient,
        runtime: Runtime,
        resume: FakeResume,
        slack: MockSlackApi,
    ) -> None:
        stage = waiting_stage(runtime)
        core.record_decision(
            runtime.store,
            stage.id,
            "approval_timed_out",
            "none",
            "nobody",
            "",
            runtime.clock.now(),
        )
        click(client, runtime, approve_body(stage.id))
        assert resume.answers == []
        assert "expired" in ephemerals(slack)[-1]["text"]

    def test_click_after_a_rollback(
        self,
        client: TestClient,
        runtime: Runtime,
        resume: FakeResume,
        slack: MockSlackApi,
    ) -> None:
        stage = waiting_stage(runtime)
        core.rollback(
            runtime.store,
            runtime.plan.rollout_name,
            "oncall",
            "bounces",
            runtime.clock.now(),
        )
        click(client, runtime, approve_body(stage.id))
        assert resume.answers == []
        assert "rolled back by oncall" in ephemerals(slack)[-1]["text"]
        with runtime.store.session() as session:
            assert repo.get_percentage(session, runtime.plan.rollout_name) == 0

    def test_click_on_an_unknown_stage(
        self,
        client: TestClient,
        runtime: Runtime,
        resume: FakeResume,
        slack: MockSlackApi,
    ) -> None:
        click(client, runtime, approve_body(9999))
        assert resume.answers == []
        assert "does not belong" in ephemerals(slack)[-1]["text"]


class TestHostileClicks:
    def test_step_of_another_rollout(
        self,
        client: TestClient,
        runtime: Runtime,
        resume: FakeResume,
        slack: MockSlackApi,
    ) -> None:
        other = runtime.plan.model_copy(update={"rollout_name": "another-rollout"})
        now = runtime.clock.now()
        stage = core.begin_step(runtime.store, other, 10, now, "test", False)
        core.await_decision(runtime.store, stage.id, "run-9")
        click(client, runtime, approve_body(stage.id))
        assert resume.answers == []
        assert "does not belong" in ephemerals(slack)[-1]["text"]

    def test_click_on_another_message(
        self, client: TestClient, runtime: Runtime, resume: FakeResume
    ) -> None:
        stage = waiting_stage(runtime)
        core.attach_message(runtime.store, stage.id, "C1", "1700000000.999999")
        click(client, runtime, approve_body(stage.id))
        assert resume.answers == []

    @pytest.mark.parametrize("value", ["\u0661", "\u00b2", "1" * 30, "-1", "1.5"])
    def test_odd_button_values(
        self, client: TestClient, runtime: Runtime, resume: FakeResume, value: str
    ) -> None:
        waiting_stage(runtime)
        body = button_click(APPROVE_ACTION, value, APPROVER, MESSAGE_TS, "alice")
        assert click(client, runtime, body) == 200
        assert resume.answers == []

    def test_oversized_body_is_refused_unread(
        self, client: TestClient, runtime: Runtime
    ) -> None:
        assert click(client, runtime, b"payload=" + b"x" * 2_000_000) == 413

    def test_failure_while_handling_still_replies(
        self, runtime: Runtime, slack: MockSlackApi
    ) -> None:
        def unreachable(*_args: object) -> None:
            raise httpx.ConnectError("connection refused")

        desk = ApprovalDesk(runtime, [APPROVER], unreachable)
        client = TestClient(SlackEndpoint(SECRET, desk).app())
        stage = waiting_stage(runtime)
        assert click(client, runtime, approve_body(stage.id)) == 200
        assert "could not be processed" in ephemerals(slack)[-1]["text"]
        assert core.get_stage(runtime.store, stage.id).status == "awaiting_approval"


class TestAcceptedClick:
    def test_buttons_give_way_to_the_decision(
        self, client: TestClient, runtime: Runtime, slack: MockSlackApi
    ) -> None:
        stage = waiting_stage(runtime)
        click(client, runtime, approve_body(stage.id))
        [update] = slack.calls("chat.update")
        assert update.arguments["ts"] == MESSAGE_TS
        blocks = update.arguments["blocks"]
        assert all(block["type"] != "actions" for block in blocks)
        assert "*Approved* by alice (Slack UALICE)" in json.dumps(blocks)


class TestRollbackCommand:
    def command(
        self, client: TestClient, runtime: Runtime, text: str, user: str = APPROVER
    ):
        body = slash_command(ROLLBACK_COMMAND, text, user)
        headers = signed_headers(SECRET, body, int(runtime.clock.now().timestamp()))
        return client.post("/slack/commands", content=body, headers=headers)

    def test_approver_rolls_back_at_once(
        self, client: TestClient, runtime: Runtime, slack: MockSlackApi
    ) -> None:
        stage = waiting_stage(runtime)
        response = self.command(client, runtime, "bounce rate doubled")
        assert response.json()["response_type"] == "in_channel"
        with runtime.store.session() as session:
            assert repo.get_percentage(session, runtime.plan.rollout_name) == 0
        assert core.get_stage(runtime.store, stage.id).status == "rolled_back"
        notice = json.dumps(slack.calls("chat.postMessage")[-1].arguments["blocks"])
        assert "bounce rate doubled" in notice

    def test_others_change_nothing(self, client: TestClient, runtime: Runtime) -> None:
        waiting_stage(runtime)
        response = self.command(client, runtime, "why not", user="UMALLORY")
        assert response.json()["response_type"] == "ephemeral"
        with runtime.store.session() as session:
            assert repo.get_percentage(session, runtime.plan.rollout_name) == 10

    def test_reason_is_required(self, client: TestClient, runtime: Runtime) -> None:
        waiting_stage(runtime)
        response = self.command(client, runtime, "  ")
        assert "reason is missing" in response.json()["text"]
        with runtime.store.session() as session:
            assert repo.get_percentage(session, runtime.plan.rollout_name) == 10

    def test_store_failure_is_explained(
        self, client: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def failing(*_args: object, **_kwargs: object) -> None:
            raise StoreError("the store is down")

        monkeypatch.setattr("waterfall.slack.endpoint.roll_back_everything", failing)
        response = self.command(client, runtime, "bounces")
        assert response.status_code == 200
        assert response.json()["response_type"] == "ephemeral"
        assert "waterfall rollout rollback" in response.json()["text"]

    def test_stale_command_is_refused(
        self, client: TestClient, runtime: Runtime
    ) -> None:
        waiting_stage(runtime)
        body = slash_command(ROLLBACK_COMMAND, "x", APPROVER)
        old = int((runtime.clock.now() - timedelta(minutes=6)).timestamp())
        response = client.post(
            "/slack/commands", content=body, headers=signed_headers(SECRET, body, old)
        )
        assert response.status_code == 401


class TestServeCommand:
    def test_missing_signing_secret_is_named(self, monkeypatch, tmp_path) -> None:
        from click.testing import CliRunner

        from waterfall.cli import main

        monkeypatch.setenv("WATERFALL_DATABASE_URL", f"sqlite:///{tmp_path / 'w.db'}")
        monkeypatch.delenv("WATERFALL_SLACK_SIGNING_SECRET", raising=False)
        CliRunner().invoke(main, ["init"])
        result = CliRunner().invoke(main, ["slack", "serve"])
        assert isinstance(result.exception, ConfigError)
        assert "WATERFALL_SLACK_SIGNING_SECRET" in str(result.exception)
