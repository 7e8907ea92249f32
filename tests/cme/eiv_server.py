"""A local stand-in of the chambers' EIV organiser API, started by the tests on 127.0.0.1 — the one permitted
stand-in of issue 15 (the real service cannot be reached from here). It implements the documented contract
(../shared/domain/qm.md): Basic auth with VNR and password → JWT; push_teilnahme with the bearer token, 200 stored,
406 for a closed VNR or a date outside the accredited period, 422 for an EFN that is not 15 digits or fails its
check digit, 401 without a valid token; one record per (EFN, VNR), a push with both flags false withdraws;
veranstaltung and gemeldetepunkte (limit/offset). ``fail_next`` scripts 500/429 answers for an EFN."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tumorboard.auth.services import luhn_valid


@dataclass
class Chamber:
    #: VNR -> password (from the accreditation letter)
    accounts: dict[str, str]
    #: VNR -> (first, last) accredited day
    periods: dict[str, tuple[dt.date, dt.date]] = field(default_factory=dict)
    closed: set[str] = field(default_factory=set)
    tokens: dict[str, str] = field(default_factory=dict)
    #: (efn, vnr) -> record as gemeldetepunkte returns it
    records: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    #: efn -> statuses to answer before handling pushes normally (e.g. [500])
    fail_next: dict[str, list[int]] = field(default_factory=dict)
    #: every push received: (efn, status)
    pushes: list[tuple[str, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(chamber: Chamber) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: object = None) -> None:
            data = json.dumps(body if body is not None else {}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _vnr(self) -> str | None:
            auth = self.headers.get("Authorization", "")
            return chamber.tokens.get(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") else None

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/fobi/veranstalter-auth/jwt":
                auth = self.headers.get("Authorization", "")
                try:
                    vnr, _, password = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
                except ValueError:
                    return self._send(401)
                if chamber.accounts.get(vnr) != password:
                    return self._send(401)
                token = secrets.token_hex(16)
                chamber.tokens[token] = vnr
                return self._send(200, {"jwt": token})
            vnr = self._vnr()
            if vnr is None:
                return self._send(401)
            if url.path == "/fobi/veranstalter/veranstaltung":
                first, last = chamber.periods.get(vnr, (dt.date(2000, 1, 1), dt.date(2099, 12, 31)))
                return self._send(
                    200,
                    {
                        "vnr": vnr,
                        "thema": "Tumorkonferenz",
                        "beginn": first.isoformat(),
                        "ende": last.isoformat(),
                        "kategorie": "C",
                        "punkte_basis": 2,
                        "punkte_lernerfolg": 0,
                        "gesperrt_fuer_veranstalter": vnr in chamber.closed,
                    },
                )
            if url.path == "/fobi/veranstalter/gemeldetepunkte":
                query = parse_qs(url.query)
                limit, offset = int(query.get("limit", ["100"])[0]), int(query.get("offset", ["0"])[0])
                with chamber.lock:
                    rows = [r for (_, v), r in sorted(chamber.records.items()) if v == vnr]
                return self._send(200, rows[offset : offset + limit])
            return self._send(404)

        def do_POST(self) -> None:
            if urlsplit(self.path).path != "/fobi/veranstalter/push_teilnahme":
                return self._send(404)
            vnr = self._vnr()
            if vnr is None:
                return self._send(401)
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
            efn = str(body.get("efn", ""))
            with chamber.lock:
                scripted = chamber.fail_next.get(efn)
                if scripted:
                    status = scripted.pop(0)
                    chamber.pushes.append((efn, status))
                    return self._send(status)
                if len(efn) != 15 or not efn.isdigit() or not luhn_valid(efn):
                    status = 422
                elif vnr in chamber.closed:
                    status = 406
                else:
                    first, last = chamber.periods.get(vnr, (dt.date(2000, 1, 1), dt.date(2099, 12, 31)))
                    day = dt.date.fromisoformat(body["teilnahmedatum"])
                    status = 200 if first <= day <= last else 406
                if status == 200:
                    now = dt.datetime.now(dt.UTC).isoformat()
                    old = chamber.records.get((efn, vnr))
                    chamber.records[(efn, vnr)] = {
                        "efn": efn, "vnr": vnr, "punkte_basis_flag": bool(body["punkte_basis_flag"]),
                        "punkte_lernerfolg_flag": bool(body["punkte_lernerfolg_flag"]),
                        "teilnahmedatum": body["teilnahmedatum"], "created": old["created"] if old else now,
                        "last_modified": now,
                    }  # fmt: skip
                chamber.pushes.append((efn, status))
            return self._send(status)

    return Handler


@contextmanager
def serve(chamber: Chamber) -> Iterator[str]:
    """Serve ``chamber`` on 127.0.0.1 (a free port) in a thread; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(chamber))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
