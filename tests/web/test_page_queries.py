"""No N+1 on the pages of the load benchmark (issue 16): the session page and the case page send as many queries for
a session of many cases — each with a presenter, a document and an imaging study — as for a session of one case."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, select
from sqlalchemy.engine import Connection

from tests.cases.factories import register
from tests.conftest import login
from tests.imaging.factories import receive
from tumorboard.auth.actors import CLI
from tumorboard.auth.models import User
from tumorboard.cases.documents import DocumentStore, add_document
from tumorboard.conferences.models import Board, ConferenceSession
from tumorboard.imaging import jobs
from tumorboard.imaging.matching import assign_study
from tumorboard.partners.services import create_partner

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@contextmanager
def _counting(connection: Connection) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    event.listen(connection, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(connection, "before_cursor_execute", record)


def _queries(client, connection: Connection, path: str) -> int:
    with _counting(connection) as statements:
        assert client.get(path).status_code == 200
    return len(statements)


def test_session_and_case_pages_do_not_query_per_case(client, demo, runtime, connection, clock):
    at = clock.now()
    coord = demo.scalar(select(User).where(User.username == "koordination"))
    doctor = demo.scalar(select(User).where(User.username == "dr.berger"))
    board = demo.scalar(select(Board).where(Board.short_name == "Lunge"))
    cs = demo.scalars(
        select(ConferenceSession)
        .where(ConferenceSession.board_id == board.id, ConferenceSession.starts_at > at)
        .order_by(ConferenceSession.starts_at)
    ).first()
    assert cs is not None
    partner = create_partner(demo, name="Klinikum Zählung", at=at, actor=CLI)
    store = DocumentStore(runtime.settings.instance_path / "documents")

    def add(n: int):
        case = register(demo, board, at=at, by=coord, target=cs, question=f"Zählung {n}", presenter_id=doctor.id)
        add_document(demo, case, data=PDF, original_name="befund.pdf", content_type="application/pdf",
                     kind="finding", uploaded_by=coord, store=store, at=at, actor=CLI)  # fmt: skip
        study = receive(demo, jobs._spool(runtime), partner, study_uid=f"1.2.826.0.1.77.{n}")
        assign_study(demo, study, case, at=at, actor=CLI)
        return case

    first = add(0)
    demo.commit()
    login(client, "koordination")
    _queries(client, connection, f"/sessions/{cs.id}")  # the first request warms what is loaded once per process
    one = (_queries(client, connection, f"/sessions/{cs.id}"), _queries(client, connection, f"/cases/{first.id}"))
    for n in range(1, 8):
        add(n)
    demo.commit()
    many = (_queries(client, connection, f"/sessions/{cs.id}"), _queries(client, connection, f"/cases/{first.id}"))
    assert many == one, f"queries (session page, case page) with 1 case: {one}, with 8 cases: {many}"
