"""One fixture per provider: a started emulator with a default robot (`.robot`, `.url`), stopped afterwards.

Configure in the test: `feishu_emulator.robot.keywords = ["Herald"]`, `.robot.secret = "..."`,
`.robot.allowed_ips = ["10.0.0.9"]` (this host not on the allowlist), `.take_down()` (502 from a gateway),
`.clock = lambda: ...` (the provider's clock), `.add_robot(...)` for a second group.
"""

import pytest

from tests.emulators.dingtalk import DingTalkEmulator
from tests.emulators.feishu import FeishuEmulator
from tests.emulators.slack import SlackEmulator
from tests.emulators.webhook import WebhookReceiver
from tests.emulators.wecom import WeComEmulator


@pytest.fixture
def wecom_emulator():
    with WeComEmulator() as emulator:
        yield emulator


@pytest.fixture
def feishu_emulator():
    with FeishuEmulator() as emulator:
        yield emulator


@pytest.fixture
def lark_emulator():
    """Lark is Feishu's API on another host: the same emulator, a separate server."""
    with FeishuEmulator() as emulator:
        yield emulator


@pytest.fixture
def dingtalk_emulator():
    with DingTalkEmulator() as emulator:
        yield emulator


@pytest.fixture
def webhook_receiver():
    with WebhookReceiver() as emulator:
        yield emulator


@pytest.fixture
def slack_emulator():
    with SlackEmulator() as emulator:
        yield emulator
