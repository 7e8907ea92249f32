"""A client for the chambers' EIV organiser API (../shared/domain/qm.md): token per VNR, push of one attendance,
the event's data and what the chambers hold. The HTTP status decides, never the body's wording.

Only ids, EFNs and dates travel; nothing here logs an EFN (logs carry internal ids only)."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any


class EivUnavailable(Exception):
    """No answer (connection refused, timeout) or 429/5xx: try again later, unchanged."""

    def __init__(self, status: int | None) -> None:
        super().__init__(f"EIV unavailable (status {status})")
        self.status = status


class EivAuthError(Exception):
    """401 on the token request: wrong VNR or password."""


@dataclass(frozen=True)
class PushAnswer:
    status: int


class EivClient:
    def __init__(self, base_url: str, *, timeout_s: int = 15) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def _request(
        self, method: str, path: str, *, headers: dict[str, str], body: dict[str, Any] | None = None
    ) -> tuple[int, bytes]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - the base URL is checked: https, or http to this machine
            self.base_url + path,
            data=data,
            method=method,
            headers={"Accept": "application/json", **({"Content-Type": "application/json"} if data else {}), **headers},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310
                return response.status, response.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()
        except (OSError, TimeoutError):
            raise EivUnavailable(None) from None

    def token(self, vnr: str, password: str) -> str:
        basic = base64.b64encode(f"{vnr}:{password}".encode()).decode("ascii")
        status, body = self._request("GET", "/fobi/veranstalter-auth/jwt", headers={"Authorization": f"Basic {basic}"})
        if status == 401:
            raise EivAuthError("token refused")
        if status != 200:
            raise EivUnavailable(status)
        token = json.loads(body).get("jwt")
        if not isinstance(token, str) or not token:
            raise EivUnavailable(status)
        return token

    def push(self, token: str, *, efn: str, day: str, credited: bool) -> PushAnswer:
        """One attendance (``credited``) or its withdrawal (both flags false, 0 speaker points). Idempotent per
        EFN and VNR at the chamber. 429 and 5xx raise :class:`EivUnavailable`; 200, 406, 422 are answers."""
        status, _ = self._request(
            "POST",
            "/fobi/veranstalter/push_teilnahme",
            headers={"Authorization": f"Bearer {token}"},
            body={"efn": efn, "punkte_basis_flag": credited, "punkte_lernerfolg_flag": False, "punkte_referent": 0,
                  "teilnahmedatum": day},
        )  # fmt: skip
        if status == 429 or status >= 500:
            raise EivUnavailable(status)
        return PushAnswer(status)

    def held(self, token: str, *, page: int = 100) -> list[dict[str, Any]]:
        """Everything the chambers hold for the token's VNR (``gemeldetepunkte``, paged)."""
        out: list[dict[str, Any]] = []
        offset = 0
        while True:
            status, body = self._request(
                "GET", f"/fobi/veranstalter/gemeldetepunkte?limit={page}&offset={offset}",
                headers={"Authorization": f"Bearer {token}"},
            )  # fmt: skip
            if status != 200:
                raise EivUnavailable(status)
            rows = json.loads(body)
            if not isinstance(rows, list):
                raise EivUnavailable(status)
            out.extend(r for r in rows if isinstance(r, dict))
            if len(rows) < page:
                return out
            offset += page
