"""Two windows save the same case at the same moment (issue 13's stale-page check under issue 16's real load): real
gunicorn with 4 workers, two logged-in clients that loaded the same page fire their saves together, round after
round → in every round exactly one is saved and the other gets 409 with the German message, never both, never a
500; the stored question is the saved one's. On SQLite and on PostgreSQL (row lock ``FOR UPDATE``)."""

from __future__ import annotations

import re
import threading

import pytest

from tests.live import Browser, LiveDatabase, Response, gunicorn

pytestmark = pytest.mark.db

ROUNDS = 6
SEEN_RE = re.compile(r'id="seen" name="seen" type="hidden" value="([^"]+)"')


def _fields(page: str) -> dict[str, str]:
    """The edit form's fields as the page draws them (hidden version included)."""
    form = page[page.index('action="/cases/') : page.index("</form>", page.index('name="seen"'))]
    fields = dict(re.findall(r'<input[^>]* name="([^"]+)"[^>]* value="([^"]*)"', form))
    fields.update(re.findall(r'<input[^>]* id="([^"]+)" name="\1" type="hidden" value="([^"]*)"', form))
    for name, body in re.findall(r'<textarea[^>]* name="([^"]+)"[^>]*>([^<]*)</textarea>', form):
        fields[name] = body.strip()
    for name, value in re.findall(r'<select[^>]* name="([^"]+)"[^>]*>.*?<option selected value="([^"]*)"', form, re.S):
        fields[name] = value
    return fields


def _save_together(windows: list[Browser], case_id: int, forms: list[dict[str, str]], n: int) -> list[Response | None]:
    """Both windows post their edit form at the same moment (a barrier), each with its own question."""
    go = threading.Barrier(2)
    answers: list[Response | None] = [None, None]

    def save(i: int) -> None:
        data = {**forms[i], "question": f"Runde {n}, Fenster {i}?"}
        go.wait(10)
        answers[i] = windows[i].request(f"/cases/{case_id}/edit", data)

    threads = [threading.Thread(target=save, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers


def test_two_simultaneous_saves_of_one_case_save_one_and_refuse_the_other(live_db: LiveDatabase) -> None:
    case_id = live_db.scalar(
        "SELECT max(c.id) FROM case_registration c WHERE c.status = 'registered' AND NOT EXISTS "
        "(SELECT 1 FROM agenda_version a WHERE a.session_id = c.session_id)"
    )
    assert isinstance(case_id, int)
    with gunicorn(live_db, workers=4, log_name="concurrent-edits.log") as server:
        windows = [Browser(server.base), Browser(server.base)]
        for window in windows:
            window.login("koordination")
        for n in range(ROUNDS):
            pages = [window.request(f"/cases/{case_id}").text for window in windows]
            seen = [SEEN_RE.search(page) for page in pages]
            assert seen[0] and seen[1] and seen[0].group(1) == seen[1].group(1)
            forms = [_fields(page) for page in pages]
            assert forms[0]["seen"] == seen[0].group(1) and "csrf_token" in forms[0]
            answers = _save_together(windows, case_id, forms, n)
            got = [a for a in answers if a is not None]
            assert len(got) == 2
            saved = [i for i, a in enumerate(answers) if a is not None and a.status == 200]
            refused = [i for i, a in enumerate(answers) if a is not None and a.status == 409]
            assert len(saved) == 1 and len(refused) == 1, [(a.status, a.text[:300]) for a in got]
            assert "Fall gespeichert." in got[saved[0]].text
            assert "inzwischen geändert" in got[refused[0]].text
            stored = live_db.scalar("SELECT question FROM case_registration WHERE id = :id", id=case_id)
            assert stored == f"Runde {n}, Fenster {saved[0]}?"
        log = server.output()
    assert "Traceback" not in log and "database is locked" not in log
