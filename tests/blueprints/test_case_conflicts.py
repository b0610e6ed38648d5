"""Two people edit a case at once: the later save is refused with what changed meanwhile; nothing is lost."""

from html.parser import HTMLParser

from sqlalchemy import select

from tests.conftest import HTMX, login
from webapp.extensions import db
from webapp.models import Event
from webapp.notifications.events import case_snapshot


class FormValues(HTMLParser):
    """The values a browser would post from the page's form: inputs, textareas and the selected options."""

    def __init__(self, page: str):
        super().__init__()
        self.values: dict[str, str | list[str]] = {}
        self._textarea: str | None = None
        self._select: tuple[str, bool] | None = None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("name"):
            self.values[attrs["name"]] = attrs.get("value") or ""
        elif tag == "textarea":
            self._textarea = attrs["name"]
            self.values[self._textarea] = ""
        elif tag == "select":
            self._select = (attrs["name"], "multiple" in attrs)
            self.values[attrs["name"]] = [] if "multiple" in attrs else ""
        elif tag == "option" and self._select and "selected" in attrs:
            name, multiple = self._select
            if multiple:
                self.values[name].append(attrs["value"])
            else:
                self.values[name] = attrs["value"]

    def handle_endtag(self, tag):
        if tag == "textarea":  # a browser drops the newline right after <textarea>
            value = self.values[self._textarea]
            self.values[self._textarea] = value[2:] if value.startswith("\r\n") else value.removeprefix("\n")
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea] += data


def text(response) -> str:
    return response.get_data(as_text=True)


def form(response, **changes) -> dict:
    """The edit form of the page as loaded, with what the user types into it."""
    values = FormValues(text(response)).values
    values.pop("csrf_token", None)  # CSRF is off in the tests
    return values | changes


def updates() -> list[Event]:
    return list(db.session.scalars(select(Event).where(Event.kind == "case.updated").order_by(Event.id)))


def assert_history_is_a_chain(case) -> None:
    """Each case.updated's old value is what the save before it made; the last one's is what is stored."""
    snapshots = [e.data["case"] for e in db.session.scalars(select(Event).order_by(Event.id))]
    assert len(snapshots) >= 2
    for before, event in zip(snapshots, updates(), strict=False):
        assert event.data["changes"], event.id
        for name, (old, _new) in event.data["changes"].items():
            assert old == before[name], (event.id, name)
    last = updates()[-1].data["case"]
    assert last == case_snapshot(case)


def test_the_later_of_two_saves_is_refused_with_what_changed_and_keeps_its_values(
    app, project, case, admin, member
):
    url = f"/projects/{project.id}/cases/{case.id}/edit"
    mei, ada = login(app.test_client(), member), login(app.test_client(), admin)
    mei_page, ada_page = mei.get(url), ada.get(url)

    # Mei saves first: a new title and priority.
    saved = mei.post(url, data=form(mei_page, title="Pay by card or wallet", priority="P0"))
    assert saved.status_code == 303

    # Ada, on the page she loaded before: a priority of her own, an expected result; the title untouched.
    refused = ada.post(url, data=form(ada_page, priority="P3", expected="Paid\r\nReceipt mailed"))
    assert refused.status_code == 200
    page = text(refused)
    assert "Someone else saved this case while you were editing it. Your changes are not saved yet." in page
    assert "Mei Member at " in page
    rows = {m.field: m for m in _conflict_rows(page)}
    assert set(rows) == {"Title", "Priority"}
    assert rows["Priority"].cells[:2] == ["P0", "P3"]
    assert "Mei Member" in rows["Priority"].by
    assert "Your value: saving again replaces theirs" in rows["Priority"].cells[2]
    assert rows["Title"].cells[:2] == ["Pay by card or wallet", "Pay by card"]
    assert "Their value (you had not changed it)" in rows["Title"].cells[2]
    assert 'id="priority-note"' in page and 'id="title-note"' in page

    # Nothing of Ada's is stored; her values are in the form, on the version Mei made.
    db.session.expire_all()
    assert (case.title, case.priority, case.expected) == ("Pay by card or wallet", "P0", "")
    assert len(updates()) == 1
    again = FormValues(page).values
    assert again["title"] == "Pay by card or wallet"  # Mei's: Ada had not changed it
    assert again["priority"] == "P3" and again["expected"] == "Paid\r\nReceipt mailed"  # Ada's, as typed
    assert again["version"] == str(case.version) == "2"

    # Saving again applies Ada's changes on top of Mei's, with old values that are Mei's new ones.
    applied = ada.post(url, data=form(refused))
    assert applied.status_code == 303
    db.session.expire_all()
    mei_update, ada_update = updates()
    assert mei_update.actor_id == member.id and ada_update.actor_id == admin.id
    assert mei_update.data["changes"] == {
        "title": ["Pay by card", "Pay by card or wallet"],
        "priority": ["P1", "P0"],
    }
    assert ada_update.data["changes"] == {"priority": ["P0", "P3"], "expected": ["", "Paid\nReceipt mailed"]}
    assert (case.title, case.priority, case.expected, case.version) == (
        "Pay by card or wallet",
        "P3",
        "Paid\nReceipt mailed",
        3,
    )
    assert_history_is_a_chain(case)


def test_through_htmx_the_refusal_is_the_form_fragment_and_saving_again_leaves_the_page(
    app, project, case, admin, member
):
    url = f"/projects/{project.id}/cases/{case.id}/edit"
    mei, ada = login(app.test_client(), member), login(app.test_client(), admin)
    mei_page, ada_page = mei.get(url), ada.get(url)
    assert mei.post(url, data=form(mei_page, tags="smoke, card"), headers=HTMX).status_code == 200

    refused = ada.post(url, data=form(ada_page, tags="smoke, wallet"), headers=HTMX)
    assert refused.status_code == 200 and "HX-Redirect" not in refused.headers
    fragment = text(refused)
    assert "<html" not in fragment and fragment.lstrip().startswith('<div id="case-form">')
    assert "Someone else saved this case while you were editing it." in fragment
    assert FormValues(fragment).values["tags"] == "smoke, wallet"
    assert len(updates()) == 1

    applied = ada.post(url, data=form(refused), headers=HTMX)
    assert applied.status_code == 200
    assert applied.headers["HX-Redirect"] == f"/projects/{project.id}/cases/{case.id}"
    db.session.expire_all()
    assert [e.data["changes"] for e in updates()] == [
        {"tags": [["smoke"], ["smoke", "card"]]},
        {"tags": [["smoke", "card"], ["smoke", "wallet"]]},
    ]
    assert_history_is_a_chain(case)


def test_a_form_without_its_version_is_refused_and_keeps_what_was_typed(member_client, project, case):
    url = f"/projects/{project.id}/cases/{case.id}/edit"
    data = form(member_client.get(url), title="Pay by card, quickly")
    data.pop("version", None)  # a page opened before versions existed
    refused = member_client.post(url, data=data)
    assert refused.status_code == 200
    assert "This form was opened on an earlier version of the case." in text(refused)
    assert FormValues(text(refused)).values["title"] == "Pay by card, quickly"
    assert updates() == []
    assert member_client.post(url, data=form(refused)).status_code == 303
    assert updates()[0].data["changes"] == {"title": ["Pay by card", "Pay by card, quickly"]}


class Row:
    def __init__(self, field: str, cells: list[str], by: str):
        self.field, self.cells, self.by = field, cells, by


def _conflict_rows(page: str) -> list[Row]:
    """The rows of the table of changes made meanwhile: field, theirs, yours, what the form holds."""

    class Table(HTMLParser):
        def __init__(self):
            super().__init__()
            self.rows: list[Row] = []
            self.inside = False
            self.cell: list[str] | None = None
            self.in_by = False
            self.by = ""

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "table" and attrs.get("class") == "conflict-table":
                self.inside = True
            elif self.inside and tag == "tr":
                self.row: list[str] = []
                self.by = ""
            elif self.inside and tag in ("th", "td"):
                self.cell = []
            elif self.inside and tag == "div" and "by" in (attrs.get("class") or ""):
                self.in_by = True

        def handle_endtag(self, tag):
            if tag == "table":
                self.inside = False
            elif self.inside and tag in ("th", "td") and self.cell is not None:
                self.row.append(" ".join("".join(self.cell).split()))
                self.cell = None
            elif self.inside and tag == "div":
                self.in_by = False
            elif self.inside and tag == "tr" and self.row and self.row[0] != "Field":
                self.rows.append(Row(self.row[0], self.row[1:], self.by))

        def handle_data(self, data):
            if self.in_by:
                self.by += data
            elif self.cell is not None:
                self.cell.append(data)

    table = Table()
    table.feed(page)
    return table.rows
