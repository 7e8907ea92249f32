"""The access log's redaction of calendar feed tokens and query values (the real gunicorn is exercised in
tests/test_processes.py)."""

from __future__ import annotations

import pytest

from tumorboard.web.gunicorn_conf import redact


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("GET /feeds/abc-DEF_123/all.ics HTTP/1.1", "GET /feeds/…/all.ics HTTP/1.1"),
        ("GET /feeds/abc/boards/7.ics?x=1 HTTP/1.1", "GET /feeds/…/boards/7.ics?x=… HTTP/1.1"),
        # a name typed into a GET search must not reach the access log
        ("GET /search?q=Fuchs%2C+Anna&board=3 HTTP/1.1", "GET /search?q=…&board=… HTTP/1.1"),
        ("https://host/feeds/tok?x", "https://host/feeds/…?x"),
        ("GET /sessions/5 HTTP/1.1", "GET /sessions/5 HTTP/1.1"),
    ],
)
def test_feed_tokens_are_redacted(line, expected):
    assert redact(line) == expected


def test_error_log_redacts_message_and_traceback(tmp_path):
    """gunicorn's own error path ("Error handling request <uri>" with the traceback) goes through the same
    redaction: a real gunicorn Logger writing to a real file."""
    from gunicorn.config import Config

    from tumorboard.web.gunicorn_conf import RedactingLogger

    cfg = Config()
    cfg.set("errorlog", str(tmp_path / "error.log"))
    logger = RedactingLogger(cfg)
    try:
        raise RuntimeError("while answering /feeds/InExceptionTok/all.ics")
    except RuntimeError:
        logger.exception("Error handling request %s", "/feeds/InMessageTok/boards/3.ics")
    logger.info("Booting worker with pid: %s", 4711)
    for handler in logger.error_log.handlers:
        handler.flush()
    text = (tmp_path / "error.log").read_text()
    assert "Error handling request /feeds/…/boards/3.ics" in text
    assert "RuntimeError: while answering /feeds/…/all.ics" in text
    assert "Booting worker with pid: 4711" in text
    assert "InMessageTok" not in text and "InExceptionTok" not in text
