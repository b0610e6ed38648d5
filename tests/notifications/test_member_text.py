"""What members write is text in every channel: only Herald's own template parts mention, link or format."""

import json
import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import markdown
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Delivery, Robot
from webapp.notifications import rendering
from webapp.notifications.channels.base import CHANNELS, RobotMessage, RobotSettings
from webapp.services.messages import save_message_setting

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
LINK = "http://herald.example/projects/1/cases/42"
AT_EVERYONE = '<at user_id="all">所有人</at>'
HOSTILE = (  # within a case title's 200 characters
    f"{AT_EVERYONE} [click](http://evil.example/x) ![p](http://evil.example/p.png) <@zhangsan> "
    '<a href="http://evil.example">here</a> <font color="warning">red</font> <http://evil.example/a>'
)
# Pieces of markup, so that the generated text often holds a whole tag or link (plain text rarely does).
MARKUP = st.sampled_from(
    [
        "<",
        ">",
        "[",
        "]",
        "(",
        ")",
        "!",
        "@",
        "&",
        ";",
        "#",
        "*",
        "_",
        "`",
        ":",
        "/",
        "\n",
        " ",
        '"',
        "at",
        "a",
        "all",
        'user_id="all"',
        "href=",
        "http://evil.example/x",
        "所有人",
        "<at ",
        "</at>",
        "](",
        "![",
        "<@",
        "&lt;",
        "&#60;",
        "font",
        "img src=",
    ]
)
MEMBER_TEXT = st.one_of(st.text(max_size=60), st.lists(MARKUP, max_size=30).map("".join))


class _Tags(HTMLParser):
    """The links, images and other tags of an HTML document."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        target = dict(attrs).get("href" if tag == "a" else "src") or ""
        # Python-Markdown also links "<\u200b@x>" (as mail): an address with an invisible character inside
        # reaches no one, and chat clients' stricter (CommonMark) parsers do not link it at all.
        if tag in ("a", "img") and "\u200b" not in target:
            self.links.append(target)


def markdown_tags(text: str) -> _Tags:
    """What a markdown renderer makes of the text (Python-Markdown, CommonMark-like)."""
    parser = _Tags()
    parser.feed(markdown.markdown(text))
    return parser


def hostile_context(text: str) -> dict:
    context = rendering.sample_context()
    for name in ("project", "case_title", "module", "maintainer", "tags", "operator"):
        context[name] = text
    context["case_link"] = LINK
    context["changes"] = [{"field": "Steps", "old": text, "new": text}]
    return context


def built(kind: str, style: str, text: str, at_all: bool = False, mobiles=()) -> dict:
    """The JSON body a robot of this kind and style is sent when every member-written value is text."""
    channel = CHANNELS[kind]
    subject, body = rendering.default_template("en", "robot", "case.updated")
    rendered = rendering.render(subject, body, hostile_context(text), channel.escape_text)
    message = RobotMessage(title=rendered.subject, body=rendered.text, link=LINK, mention_mobiles=mobiles)
    robot = RobotSettings(kind=kind, webhook_url="https://robot.example/hook/x", style=style, at_all=at_all)
    return json.loads(channel.build_request(message, robot, NOW).body)


def assert_feishu_mentions_and_links_only_herald(payload: dict, at_all: bool) -> None:
    if payload["msg_type"] == "text":
        text = payload["content"]["text"]
        assert re.findall(r"<at\b[^>]*>", text) == ([AT_EVERYONE.split("所")[0]] if at_all else [])
        assert markdown_tags(text).links == []
        return
    post = payload["content"]["post"]["zh_cn"]
    assert "<at" not in post["title"]
    elements = [element for paragraph in post["content"] for element in paragraph]
    assert elements  # the loop below has rows to look at
    for element in elements:
        assert element["tag"] in ("text", "a", "at")
        if element["tag"] == "text":
            assert not re.search(r"<at\b", element["text"])
            assert markdown_tags(element["text"]).links == []
    assert [e["href"] for e in elements if e["tag"] == "a"] == [LINK]
    assert [e["user_id"] for e in elements if e["tag"] == "at"] == (["all"] if at_all else [])


def assert_markdown_links_only_herald(text: str, plain: str) -> None:
    """Links and images only Herald's; no tag the template does not make with plain words.

    Emphasis and inline code are let through: they change how words look, never where a click goes or
    whom the group's notification reaches (see docs/security-outbound.md).
    """
    tags = markdown_tags(text)
    assert tags.links == [LINK]
    assert set(tags.tags) <= set(markdown_tags(plain).tags) | {"p", "br", "em", "strong", "code"}
    assert "<@" not in text


# --- each channel, for any member text ---------------------------------------------------------------------

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FAST
@given(text=MEMBER_TEXT, at_all=st.booleans())
def test_feishu_text_mentions_no_one_the_robot_did_not(app, text, at_all):
    for kind in ("feishu", "lark"):
        assert_feishu_mentions_and_links_only_herald(built(kind, "text", text, at_all), at_all)


@FAST
@given(text=MEMBER_TEXT, at_all=st.booleans())
def test_feishu_post_mentions_no_one_and_links_only_to_herald(app, text, at_all):
    for kind in ("feishu", "lark"):
        assert_feishu_mentions_and_links_only_herald(built(kind, "markdown", text, at_all), at_all)


@FAST
@given(text=MEMBER_TEXT)
def test_wecom_markdown_links_only_to_herald_and_mentions_no_one(app, text):
    payload = built("wecom", "markdown", text)
    assert set(payload) == {"msgtype", "markdown"}
    plain = built("wecom", "markdown", "words")["markdown"]["content"]
    assert_markdown_links_only_herald(payload["markdown"]["content"], plain)


@FAST
@given(text=MEMBER_TEXT)
def test_wecom_text_mentions_only_whom_herald_chose(app, text):
    payload = built("wecom", "text", text, mobiles=["13800138000"])
    assert payload["text"]["mentioned_mobile_list"] == ["13800138000"]
    assert "mentioned_list" not in payload["text"]


@FAST
@given(text=MEMBER_TEXT)
def test_dingtalk_markdown_links_only_to_herald_and_mentions_no_one(app, text):
    payload = built("dingtalk", "markdown", text)
    assert payload["at"] == {"atMobiles": [], "isAtAll": False}
    plain = built("dingtalk", "markdown", "words")["markdown"]["text"]
    assert_markdown_links_only_herald(payload["markdown"]["text"], plain)
    assert markdown_tags(payload["markdown"]["title"]).links == []


@FAST
@given(text=MEMBER_TEXT)
def test_dingtalk_text_mentions_only_whom_herald_chose(app, text):
    payload = built("dingtalk", "text", text, mobiles=["13800138000"])
    assert payload["at"] == {"atMobiles": ["13800138000"], "isAtAll": False}


@FAST
@given(text=MEMBER_TEXT)
def test_webhook_carries_member_text_as_data(app, text):
    payload = built("webhook", "text", text)
    assert payload["mentions"] == {"mobiles": [], "all": False}
    assert text.strip() in payload["message"]["body"] or not text.strip()


@FAST
@given(text=MEMBER_TEXT)
def test_no_channel_lets_member_text_mention_anyone(app, text):
    kinds = [kind for kind, channel in CHANNELS.items() if channel.escape_text("<@x>") != "<@x>"]
    assert "wecom" in kinds and "webhook" not in kinds  # the generic webhook carries text as data
    for kind in kinds:
        for style in CHANNELS[kind].styles:
            sent = json.dumps(built(kind, style, text), ensure_ascii=False)
            assert "<@" not in sent and "<!" not in sent and "<at" not in sent, (kind, style)


def test_escaping_keeps_the_words_and_the_templates_own_markup(app):
    channel = CHANNELS["wecom"]
    context = hostile_context("Pay [by] card <fast>")
    rendered = rendering.render(
        "**{{ case_title }}**", "[Open]({{ case_link }}) {{ case_title }}", context, channel.escape_text
    )
    assert rendered.subject.startswith("**") and rendered.text.startswith(f"[Open]({LINK})")
    assert rendered.subject.replace("\u200b", "") == "**Pay [by] card <fast>**"
    assert markdown_tags(rendered.text).links == [LINK]


# --- through the app: a member's case reaches the robots' emulators ----------------------------------------


def _robot(project, kind, url, **fields):
    robot = Robot(project_id=project.id, kind=kind, name=f"{kind} group", webhook_url=url, **fields)
    db.session.add(robot)
    db.session.commit()
    return robot


def _create_case(member_client, project, title, **fields):
    data = {"title": title, "priority": "P1", "steps": HOSTILE, "module": HOSTILE, "tags": "# x", **fields}
    response = member_client.post(f"/projects/{project.id}/cases/new", data=data)
    assert response.status_code in (302, 303)


def test_a_case_title_cannot_at_everyone_in_a_feishu_group(
    member_client, project, feishu_emulator, lark_emulator
):
    _robot(project, "feishu", feishu_emulator.url, events=["case.created"])
    _robot(project, "lark", lark_emulator.url, style="markdown", events=["case.created"])
    _create_case(member_client, project, f"{AT_EVERYONE} 登录失败")
    for emulator in (feishu_emulator, lark_emulator):
        [message] = emulator.messages
        assert "登录失败" in message.text
        assert not message.at_all and message.mentions == []


def test_a_case_cannot_put_links_images_or_mentions_in_markdown_robots(
    member_client, project, wecom_emulator, dingtalk_emulator
):
    _robot(project, "wecom", wecom_emulator.url, style="markdown", events=["case.created"])
    _robot(project, "dingtalk", dingtalk_emulator.url, style="markdown", events=["case.created"])
    _create_case(member_client, project, HOSTILE)
    for emulator in (wecom_emulator, dingtalk_emulator):
        [message] = emulator.messages
        tags = markdown_tags(message.text)
        assert "evil.example" in message.text  # the words are there, as text
        assert [link for link in tags.links if "evil" in link] == []
        assert "img" not in tags.tags and "font" not in tags.tags and "<@" not in message.text
        assert not message.at_all and message.mentions == []


def test_mail_html_shows_what_members_wrote_as_text(member_client, project, member):
    save_message_setting(project.id, "case.created", True, ["members"], [])
    _create_case(member_client, project, '<a href="http://evil.example">win</a> <img src=x onerror=alert(1)>')
    rows = db.session.scalars(select(Delivery).where(Delivery.channel == "email")).all()
    assert rows
    for row in rows:
        assert "<img" not in row.body_html and 'href="http://evil.example"' not in row.body_html
        assert "&lt;a href=&#34;http://evil.example&#34;&gt;win&lt;/a&gt;" in row.body_html
