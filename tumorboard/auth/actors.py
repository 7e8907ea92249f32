"""Who acts: a logged-in user or a named system process. Services take one explicitly."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    label: str

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls(user_id=None, label=f"system:{name}")


SCHEDULER = Actor.system("scheduler")
CLI = Actor.system("cli")
ANONYMOUS = Actor(user_id=None, label="anonymous")
