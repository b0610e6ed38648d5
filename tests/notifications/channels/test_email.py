"""Composing an e-mail: plain text with an HTML alternative, safe one-line subjects, quoted sender names."""

import email
from email import policy

import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st

from webapp.extensions import mail
from webapp.notifications.channels.email import compose, fold_line

SENDER = ("Herald", "herald@qq.example")
TO = ["reader@example.com"]


@pytest.fixture(scope="module")
def mail_app():
    """The plainest app that can render a Flask-Mail message: no database, no request."""
    app = Flask(__name__)
    mail.init_app(app)
    with app.app_context():
        yield app


def wire(message) -> tuple[bytes, email.message.EmailMessage]:
    """The bytes that go to the server, and what a mail client reads from them."""
    data = message.as_bytes()
    return data, email.message_from_bytes(data, policy=policy.default)


def header_lines(data: bytes) -> list[bytes]:
    """The top-level header lines, folded continuations joined to their header."""
    head = data.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    return head.replace(b"\n ", b" ").replace(b"\n\t", b" ").split(b"\n")


def test_plain_text_with_html_alternative(mail_app):
    data, parsed = wire(compose("Case created", "<p>Login <b>works</b></p>", "Login works", SENDER, TO))

    alternative = next(part for part in parsed.walk() if part.get_content_type() == "multipart/alternative")
    assert [part.get_content_type() for part in alternative.iter_parts()] == ["text/plain", "text/html"]
    assert parsed.get_body(("plain",)).get_content().strip() == "Login works"
    assert parsed.get_body(("html",)).get_content().strip() == "<p>Login <b>works</b></p>"
    assert parsed["To"] == "reader@example.com"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["Message-ID"].endswith("@qq.example>")


def test_chinese_subject_and_body_are_encoded_and_decode_back(mail_app):
    subject = "[Herald] 功能用例创建通知: 登录页面超时"

    data, parsed = wire(compose(subject, "<p>优先级 P0</p>", "优先级 P0", SENDER, TO))

    assert all(line.isascii() for line in header_lines(data))
    assert any(line.startswith(b"Subject: =?utf-8?") for line in header_lines(data))
    assert parsed["Subject"] == subject
    assert parsed.get_body(("plain",)).get_content().strip() == "优先级 P0"


@pytest.mark.parametrize(
    "title",
    [
        "Broken\r\nBcc: spy@evil.test",
        "Broken\nBcc: spy@evil.test",
        "Broken\rBcc: spy@evil.test",
        "Broken\r\n\r\nBcc: spy@evil.test",
        "Broken\u2028Bcc: spy@evil.test",
        "Broken\x85Bcc: spy@evil.test",
        "Broken\x0bBcc: spy@evil.test",
        "Broken\x00Bcc: spy@evil.test",
    ],
)
def test_a_line_break_in_the_subject_is_folded_to_a_space(mail_app, title):
    message = compose(title, "<p>x</p>", "x", SENDER, TO)

    data, parsed = wire(message)

    assert parsed["Subject"] == "Broken Bcc: spy@evil.test"
    assert "Bcc" not in parsed
    assert message.send_to == set(TO)


def test_html_in_a_subject_is_kept_as_text(mail_app):
    _, parsed = wire(compose("<script>alert(1)</script> & <b>", "<p>x</p>", "x", SENDER, TO))

    assert parsed["Subject"] == "<script>alert(1)</script> & <b>"


@pytest.mark.parametrize(
    "name", ["Herald, QA", 'The "Herald"', "Herald 测试, 质量", "Back\\slash", "Two\r\nLines"]
)
def test_sender_names_never_split_the_address(mail_app, name):
    message = compose("Hi", "<p>x</p>", "x", (name, "herald@qq.example"), TO)

    _, parsed = wire(message)

    (sender,) = parsed["From"].addresses
    assert (sender.display_name, sender.addr_spec) == (fold_line(name), "herald@qq.example")
    assert not message.has_bad_headers()


def test_a_bare_address_is_a_sender_too(mail_app):
    _, parsed = wire(compose("Hi", "<p>x</p>", "x", "herald@qq.example", TO))

    assert parsed["From"] == "herald@qq.example"


HEADERS = ["Content-Type", "MIME-Version", "Subject", "From", "To", "Date", "Message-ID", "Auto-Submitted"]


@settings(max_examples=150, deadline=None)
@given(st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=300))
def test_any_title_gives_one_subject_line_and_no_other_header(mail_app, title):
    subject = fold_line(title)

    data, parsed = wire(compose(title, "<p>x</p>", "x", SENDER, TO))

    expected = HEADERS if subject else [name for name in HEADERS if name != "Subject"]
    assert list(parsed.keys()) == expected
    assert all(line.isascii() for line in header_lines(data))
    if subject:
        assert parsed["Subject"] == subject


def test_the_same_mail_to_someone_else_reuses_the_bytes_with_its_own_to_and_message_id(mail_app):
    def mail(to: str, like=None):
        return compose(
            subject="功能用例创建通知: Refund to card",
            html="<p>Refund to card — 优先级 P1</p>",
            text="Refund to card — 优先级 P1",
            sender=SENDER,
            recipients=[to],
            like=like,
        )

    first = mail("ada@example.com")
    first_bytes = first.as_bytes()
    second = mail("mei@example.com", like=first)
    fresh = email.message_from_bytes(mail("mei@example.com").as_bytes(), policy=policy.default)
    reused = email.message_from_bytes(second.as_bytes(), policy=policy.default)

    assert reused["To"] == "mei@example.com" and reused["Message-ID"] == second.msgId != first.msgId
    assert reused["Subject"] == fresh["Subject"] and reused["From"] == fresh["From"]
    for kind in ("plain", "html"):
        assert reused.get_body((kind,)).get_content() == fresh.get_body((kind,)).get_content()
    assert b"ada@example.com" not in second.as_bytes()
    swapped_back = (
        second.as_bytes().replace(b"mei@", b"ada@").replace(second.msgId.encode(), first.msgId.encode())
    )
    assert swapped_back == first_bytes  # nothing else differs


def test_a_mail_that_differs_or_a_long_address_is_written_out_afresh(mail_app):
    first = compose(subject="A", html="<p>A</p>", text="A", sender=SENDER, recipients=TO)
    first.as_bytes()
    other = compose(subject="B", html="<p>B</p>", text="B", sender=SENDER, recipients=TO, like=first)
    assert other.prototype is None
    long_address = "a" * 70 + "@example.com"
    same = compose(
        subject="A", html="<p>A</p>", text="A", sender=SENDER, recipients=[long_address], like=first
    )
    assert same.prototype is first
    parsed = email.message_from_bytes(same.as_bytes(), policy=policy.default)
    assert parsed["To"] == long_address and parsed["Message-ID"] == same.msgId
