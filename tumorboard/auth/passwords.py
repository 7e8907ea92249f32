"""Password hashing with Argon2id (argon2-cffi's defaults follow RFC 9106) and the password policy."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

from tumorboard.errors import InvalidInput
from tumorboard.i18n import N_

_hasher = PasswordHasher()
#: The dummy hash per hasher (tests swap in a cheaper one), made with that hasher's own parameters.
_dummy: dict[int, str] = {}

MIN_PASSWORD_LENGTH = 12
#: zxcvbn's score 0–4; 3 is "safely unguessable: moderate protection from offline slow-hash scenario".
MIN_PASSWORD_SCORE = 3


def _dummy_hash() -> str:
    """Compared against when the user does not exist (or is inactive), so that the answer takes as long either
    way: Argon2 verifies with the parameters recorded in the hash, so the dummy must be made by the same hasher."""
    key = id(_hasher)
    if key not in _dummy:
        _dummy[key] = _hasher.hash("dummy password for timing")
    return _dummy[key]


def warm_up() -> None:
    """Make the dummy hash before the first request, so the first unknown user is not slower than the rest."""
    _dummy_hash()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Always runs one Argon2 verification, also when there is no hash to compare with."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def check_password_policy(password: str, *, user_inputs: list[str]) -> None:
    """At least 12 characters and not guessable: zxcvbn (Dropbox's estimator) refuses common passwords,
    repetitions, sequences, keyboard patterns, dates and the user's own name."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            N_("Das Passwort muss mindestens %(n)s Zeichen lang sein."), field="password", n=MIN_PASSWORD_LENGTH
        )
    # zxcvbn's run time grows with the length; its own docs cut the input at 100 characters
    result = zxcvbn(password[:100], user_inputs=[u for u in user_inputs if u])
    if result["score"] < MIN_PASSWORD_SCORE:
        raise InvalidInput(
            N_(
                "Dieses Passwort ist zu leicht zu erraten (häufiges Passwort, Wiederholungen, Folgen oder Teile "
                "des Namens). Bitte ein längeres oder ungewöhnlicheres wählen, z. B. mehrere zufällige Wörter."
            ),
            field="password",
        )
