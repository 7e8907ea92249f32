"""Every text a browser sends arrives here once and leaves in NFC (issue 12, point 2).

macOS and some keyboards send decomposed text ("u" + U+0308 for "ü"); stored as sent, a name, a question or a
reason would differ byte for byte from the same text typed elsewhere, and search, uniqueness checks and sorting
would treat them as different. Normalising in the request class covers every form and query string of every
domain, including forms added later; services normalise again what also comes from the CLI or DICOM.
"""

from __future__ import annotations

import unicodedata

from flask import Request
from werkzeug.datastructures import ImmutableMultiDict, MultiDict
from werkzeug.utils import cached_property


def _nfc(values: MultiDict[str, str]) -> ImmutableMultiDict[str, str]:
    return ImmutableMultiDict(
        (unicodedata.normalize("NFC", key), unicodedata.normalize("NFC", value))
        for key, value in values.items(multi=True)
    )


class NfcRequest(Request):
    """Flask's request with ``form`` and ``args`` in NFC (uploaded files are not touched)."""

    def _load_form_data(self) -> None:
        super()._load_form_data()
        self.__dict__["form"] = _nfc(self.__dict__["form"])

    @cached_property
    def args(self) -> ImmutableMultiDict[str, str]:
        return _nfc(super().args)
