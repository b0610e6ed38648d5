"""Both languages are complete, and each user sees the one they chose or their browser prefers."""

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from tests.conftest import login
from webapp.services.users import update_user

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}
METHODS = [("webapp/**.py", "python"), ("webapp/templates/**.html", "jinja2")]


def _source_messages() -> set[str]:
    found = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        ROOT, METHODS, keywords=KEYWORDS
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def test_every_wrapped_string_has_a_chinese_translation():
    with open(ROOT / "webapp/translations/zh/LC_MESSAGES/messages.po", "rb") as f:
        catalog = read_po(f)
    missing = []
    for text in sorted(_source_messages()):
        entry = catalog.get(text)
        translated = entry is not None and entry.string and not entry.fuzzy
        if translated and isinstance(entry.string, tuple):
            translated = all(entry.string)
        if not translated:
            missing.append(text)
    assert missing == [], "run `make extract-messages` and translate these in zh/messages.po"


def test_browser_language_chooses_chinese(client):
    page = client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert '<html lang="zh-CN">' in page.get_data(as_text=True)
    assert "登录" in page.get_data(as_text=True)


def test_english_is_the_default(client):
    page = client.get("/login", headers={"Accept-Language": "fr"})
    assert '<html lang="en">' in page.get_data(as_text=True)
    assert "Log in to Herald" in page.get_data(as_text=True)


def test_profile_language_wins_over_the_browser(client, member):
    update_user(member, locale="zh")
    login(client, member)
    page = client.get("/projects/", headers={"Accept-Language": "en"})
    assert '<html lang="zh-CN">' in page.get_data(as_text=True)
