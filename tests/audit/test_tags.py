"""The audit tag registry is complete: the code writes only registered tags, each with a label for the log."""

from __future__ import annotations

import ast
import datetime as dt
import re
from pathlib import Path

import pytest

from tests.conftest import csrf_from, login
from tumorboard.audit.services import record_event
from tumorboard.audit.tags import SUBJECT_LABELS, TAG_LABELS, SubjectType, Tag, subject_label, tag_label
from tumorboard.auth.actors import CLI

PACKAGE = Path(__file__).resolve().parents[2] / "tumorboard"
REGISTRY = PACKAGE / "audit" / "tags.py"
TAG_SHAPE = re.compile(r"^[a-z_]+:[a-z_]+:[a-z_]+$")
NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text(encoding="utf-8"))) for p in sorted(PACKAGE.rglob("*.py")) if p != REGISTRY]


def test_no_tag_is_written_as_a_string_outside_the_registry() -> None:
    """A ``domain:subject:action`` literal anywhere else is a tag that bypasses the registry."""
    literals = [
        f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value}"
        for path, tree in _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and TAG_SHAPE.match(node.value)
    ]
    assert literals == []


def test_every_tag_used_in_the_code_is_registered() -> None:
    used = {
        (node.attr, f"{path.relative_to(PACKAGE)}:{node.lineno}")
        for path, tree in _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "Tag"
    }
    assert len({name for name, _ in used}) >= 45  # guards the test: the call sites were found
    assert [where for name, where in used if name not in Tag.__members__] == []
    subjects = {
        node.attr
        for _path, tree in _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "SubjectType"
    }
    assert subjects and subjects <= set(SubjectType.__members__)


def test_every_record_event_call_passes_a_registered_member() -> None:
    """``tag=`` is ``Tag.X`` or a parameter typed ``Tag`` (mypy checks the type); never a string or f-string."""
    loose = []
    for path, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "record_event":
                for kw in node.keywords:
                    if kw.arg in ("tag", "subject_type") and isinstance(kw.value, ast.Constant | ast.JoinedStr):
                        loose.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {kw.arg}")
    assert loose == []


def test_every_registered_tag_and_subject_type_has_a_label() -> None:
    assert set(TAG_LABELS) == set(Tag) and all(TAG_LABELS.values())
    assert set(SUBJECT_LABELS) == set(SubjectType) and all(SUBJECT_LABELS.values())
    assert all(TAG_SHAPE.match(t) for t in Tag)
    assert len(set(TAG_LABELS.values())) == len(Tag), "two tags read the same in the log"


def test_labels_fall_back_to_the_stored_text_for_unknown_values() -> None:
    assert tag_label("case:case:register") == "Fall angemeldet"
    assert tag_label("old:gone:tag") == "old:gone:tag"
    assert subject_label("session") == "Sitzung" and subject_label("thing") == "thing"


@pytest.mark.parametrize("tag, subject", [("case:case:explode", "case"), ("case:case:view", "thing")])
def test_record_event_refuses_unregistered_values(db_session, tag, subject) -> None:
    with pytest.raises(ValueError):
        record_event(db_session, actor=CLI, tag=tag, subject_type=subject, subject_id=1, at=NOW)  # type: ignore[arg-type]


def test_audit_log_shows_labels(client, demo) -> None:
    login(client, "qm")
    page = client.get("/audit?tag=auth:user").text
    assert "Benutzerkonto angelegt" in page and "auth:user:create" in page
    client.post("/language", data={"csrf_token": csrf_from(page), "locale": "en", "next": "/audit"})
    english = client.get("/audit?tag=auth:user").text
    assert "User account created" in english and "auth:user:create" in english
