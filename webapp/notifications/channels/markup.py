"""Members' text in chat markup: what they wrote reads the same and opens no tag, mention, link or image."""

import re

ZERO_WIDTH_SPACE = "\u200b"
# Where what a member wrote could open markup in a chat: a tag or mention ("<at", "<@", "<font", "<http"),
# a link or image ("](", "![", "][", "]:"), an entity ("&lt;"), a run of emphasis or code ("**", "__", "``");
# also at the value's end, since the next value or the template's text may complete it.
_OPENERS = re.compile(r"<(?=[A-Za-z/@!?]|$)|\](?=\s*[(\[:]|$)|!(?=\[|$)|&(?=#?\w+;|$)|([*_~`])(?=\1|$)")
_LINE_MARKERS = re.compile(r"^(?=[ \t]*[#>])", re.MULTILINE)  # a heading or a quote, indented or not


def inert_markup(text: str) -> str:
    """Member text made inert in a chat robot's message (Feishu <at> tags, WeCom and DingTalk markdown).

    A zero-width space goes after each character that could open markup, and before a heading or quote
    marker: the text reads the same, and no provider's parser sees a tag, mention, link or image in it.
    Whether a provider honours backslash escapes is not documented; this holds with or without them.
    """
    if not text:
        return text
    text = _OPENERS.sub(lambda match: match.group(0) + ZERO_WIDTH_SPACE, text)
    return _LINE_MARKERS.sub(ZERO_WIDTH_SPACE, text)
