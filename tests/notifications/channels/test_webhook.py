"""Generic webhook: the documented document, the signature receivers verify, replies, and real HTTP."""

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.emulators import deliver, send
from webapp.notifications.channels import webhook
from webapp.notifications.channels.addresses import check_webhook_url
from webapp.notifications.channels.base import RobotMessage, RobotSettings, to_json_bytes
from webapp.notifications.outcome import Status

NOW = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
URL = "https://hooks.example.com/herald?token=abcdef0123456789abcd"
DOCS = Path(__file__).parents[3] / "docs" / "webhook.md"
MESSAGE = RobotMessage(
    title="Case updated: Pay with a saved card",
    body="Mei Member changed priority: P2 → P1",
    link="https://herald.example.com/projects/3/cases/42",
    mention_mobiles=["13800138000"],
    event="case.updated",
    project={"id": 3, "name": "Checkout"},
    case={
        "id": 42,
        "title": "Pay with a saved card",
        "link": "https://herald.example.com/projects/3/cases/42",
    },
    actor={"id": 7, "name": "Mei Member"},
    changes=[{"field": "priority", "old": "P2", "new": "P1"}],
    delivery_id="0b6f2d0c5a1e4c7e9d3f8a2b1c4d5e6f",
)


def settings(url: str = URL, **kwargs) -> RobotSettings:
    return RobotSettings(kind="webhook", webhook_url=url, **kwargs)


def documented_verify():
    """The verification example of docs/webhook.md, run as a receiver would copy it."""
    code = re.search(r"```python\n(.*?)```", DOCS.read_text(), re.S).group(1)
    namespace: dict = {}
    exec(compile(code, str(DOCS), "exec"), namespace)
    return namespace["verify"]


def test_known_answer_signature():
    signature = webhook.signature("whsec_2f1c", 1700000000, b'{"event":"test"}')
    assert signature == "sha256=209c4d1ec9a45a94a5341a652ada4e5bcd4fb41946005b578816bd8f55e7b06c"


def test_the_document_carries_event_project_case_actor_changes_and_message():
    request = webhook.build_request(MESSAGE, settings(at_all=True), NOW)
    assert request.method == "POST" and request.url == URL
    assert json.loads(request.body) == {
        "version": 1,
        "delivery_id": "0b6f2d0c5a1e4c7e9d3f8a2b1c4d5e6f",
        "event": "case.updated",
        "sent_at": "2026-11-28T09:30:00Z",
        "project": {"id": 3, "name": "Checkout"},
        "case": {
            "id": 42,
            "title": "Pay with a saved card",
            "link": "https://herald.example.com/projects/3/cases/42",
        },
        "actor": {"id": 7, "name": "Mei Member"},
        "changes": [{"field": "priority", "old": "P2", "new": "P1"}],
        "message": {
            "title": "Case updated: Pay with a saved card",
            "body": "Mei Member changed priority: P2 → P1",
            "link": "https://herald.example.com/projects/3/cases/42",
        },
        "mentions": {"mobiles": ["13800138000"], "all": True},
    }


def test_the_documented_example_matches_the_document():
    example = re.search(r"```json\n(.*?)```", DOCS.read_text(), re.S).group(1)
    documented = json.loads(example)
    built = webhook.build_request(MESSAGE, settings(), NOW).json
    assert documented.keys() == built.keys()
    assert documented["case"].keys() == built["case"].keys()


_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
_DOCUMENTS = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1), _TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_TEXT, inner, max_size=4)),
    max_leaves=20,
)


@hypothesis_settings(max_examples=300, deadline=None)
@given(_DOCUMENTS)
def test_bodies_are_compact_utf8_json_byte_for_byte(document):
    # What receivers parse and signatures cover: the bytes Python's json module writes compactly.
    assert to_json_bytes(document) == json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def test_headers_name_the_event_and_delivery():
    request = webhook.build_request(MESSAGE, settings(), NOW)
    assert request.headers["X-Herald-Event"] == "case.updated"
    assert request.headers["X-Herald-Delivery"] == "0b6f2d0c5a1e4c7e9d3f8a2b1c4d5e6f"
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert "X-Herald-Signature" not in request.headers and "X-Herald-Timestamp" not in request.headers


def test_with_a_secret_the_exact_body_bytes_are_signed_with_the_clock():
    request = webhook.build_request(MESSAGE, settings(secret="whsec_2f1c"), NOW)
    timestamp = request.headers["X-Herald-Timestamp"]
    assert timestamp == str(int(NOW.timestamp()))
    assert request.headers["X-Herald-Signature"] == webhook.signature(
        "whsec_2f1c", int(timestamp), request.body
    )


def test_a_message_without_a_delivery_id_gets_a_unique_one():
    message = RobotMessage(title="Test message", body="From Herald")
    first = webhook.build_request(message, settings(), NOW).json
    second = webhook.build_request(message, settings(), NOW).json
    assert first["delivery_id"] != second["delivery_id"]
    assert first["event"] == "test" and first["case"] is None


def test_the_documented_verification_accepts_herald_and_refuses_tampering():
    verify = documented_verify()
    request = webhook.build_request(MESSAGE, settings(secret="whsec_2f1c"), datetime.now(UTC))
    timestamp, signature = request.headers["X-Herald-Timestamp"], request.headers["X-Herald-Signature"]
    assert verify("whsec_2f1c", timestamp, request.body, signature)
    assert not verify("other", timestamp, request.body, signature)
    assert not verify("whsec_2f1c", timestamp, request.body.replace(b"P1", b"P0"), signature)
    assert not verify("whsec_2f1c", str(int(timestamp) - 3600), request.body, signature)


def test_secret_and_url_token_are_masked_in_the_record():
    record = webhook.build_request(MESSAGE, settings(secret="whsec_2f1c_long_secret"), NOW).masked()
    assert "abcdef0123456789abcd" not in record.url
    assert "whsec_2f1c_long_secret" not in json.dumps(dict(record.headers)) + record.body_text


REPLIES = [
    (200, '{"ok":true}', Status.SENT, "HTTP 200", ""),
    (201, "", Status.SENT, "HTTP 201", ""),
    (202, "queued", Status.SENT, "HTTP 202", ""),
    (204, "", Status.SENT, "HTTP 204", ""),
    (301, "", Status.FAILED, "HTTP 301", "redirects"),
    (400, '{"error":"bad"}', Status.FAILED, "HTTP 400", "refused"),
    (401, '{"error":"invalid signature"}', Status.FAILED, "HTTP 401", "same secret"),
    (403, "Forbidden", Status.FAILED, "HTTP 403", "same secret"),
    (404, "Not Found", Status.FAILED, "HTTP 404", "path is wrong"),
    (410, "Gone", Status.FAILED, "HTTP 410", "gone"),
    (408, "", Status.RETRY, "HTTP 408", "try again"),
    (429, "slow down", Status.RETRY, "HTTP 429", "try again"),
    (500, "oops", Status.RETRY, "HTTP 500", "try again"),
    (502, "<html><title>502 Bad Gateway</title></html>", Status.RETRY, "HTTP 502", "gateway"),
]


@pytest.mark.parametrize(("status", "body", "expected", "code", "words"), REPLIES)
def test_any_2xx_is_success_and_the_rest_is_explained(status, body, expected, code, words):
    outcome = webhook.classify(status, {}, body, settings=settings(secret="s"), now=NOW)
    assert outcome.status is expected
    assert outcome.code == code
    assert words in f"{outcome.cause} {outcome.fix}"


def test_without_a_secret_a_401_is_not_blamed_on_the_signature():
    outcome = webhook.classify(401, {}, "no", settings=settings())
    assert outcome.status is Status.FAILED and "secret" not in str(outcome.fix)


def test_any_http_address_is_fine_but_a_robot_address_is_flagged():
    assert check_webhook_url("webhook", "http://10.0.0.5:8080/hooks/herald").warning is None
    check = check_webhook_url("webhook", "https://open.feishu.cn/open-apis/bot/v2/hook/2d4e6f80-1a3b")
    assert check.ok and "Feishu" in check.warning
    assert not check_webhook_url("webhook", "hooks.example.com/herald").ok


# End to end against a receiver that verifies like the documentation says.


def test_delivered_and_verified(webhook_receiver):
    webhook_receiver.robot.secret = "whsec_2f1c"
    outcome = deliver(MESSAGE, settings(webhook_receiver.url, secret="whsec_2f1c"))
    assert outcome.status is Status.SENT
    [seen] = webhook_receiver.deliveries
    assert seen.payload["case"]["link"] == "https://herald.example.com/projects/3/cases/42"
    assert seen.payload["changes"] == [{"field": "priority", "old": "P2", "new": "P1"}]


def test_wrong_secret_is_refused_by_the_receiver(webhook_receiver):
    webhook_receiver.robot.secret = "whsec_2f1c"
    outcome = deliver(MESSAGE, settings(webhook_receiver.url, secret="whsec_other"))
    assert (outcome.status, outcome.code) == (Status.FAILED, "HTTP 401")
    assert webhook_receiver.deliveries == []


def test_stale_clock_is_refused_by_the_receiver(webhook_receiver):
    webhook_receiver.robot.secret = "whsec_2f1c"
    slow = datetime.now(UTC) - timedelta(minutes=10)
    outcome = deliver(MESSAGE, settings(webhook_receiver.url, secret="whsec_2f1c"), now=slow)
    assert (outcome.status, outcome.code) == (Status.FAILED, "HTTP 401")


def test_no_content_reply_is_success(webhook_receiver):
    webhook_receiver.status = 204
    assert deliver(MESSAGE, settings(webhook_receiver.url)).ok


def test_receiver_errors_are_retried(webhook_receiver):
    webhook_receiver.take_down(500, "Internal Server Error", "text/plain")
    assert deliver(MESSAGE, settings(webhook_receiver.url)).status is Status.RETRY


def test_what_the_receiver_gets_is_the_body_that_was_signed(webhook_receiver):
    request = webhook.build_request(MESSAGE, settings(webhook_receiver.url, secret="k"), NOW)
    send(request)
    assert webhook_receiver.requests[-1].body == request.body
    assert (
        webhook_receiver.requests[-1].headers["X-Herald-Signature"] == request.headers["X-Herald-Signature"]
    )
