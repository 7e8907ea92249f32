"""The base of every form (web layer, Flask-WTF): the CSRF token, and the input-hygiene check on every text field.

A top-level module, not under tumorboard.web: domain forms import it, and importing the web package would pull
create_app and every view into their import graph."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import Field, Form, PasswordField, StringField, TextAreaField
from wtforms.validators import ValidationError

from tumorboard.hygiene import MESSAGE, is_clean
from tumorboard.text import parse_id


class CleanText:
    """WTForms validator: no NUL, C0/C1 control or bidi override/isolate characters (see tumorboard.hygiene)."""

    def __init__(self, *, multiline: bool = False) -> None:
        self.multiline = multiline

    def __call__(self, form: Form, field: Field) -> None:
        if isinstance(field.data, str) and not is_clean(field.data, multiline=self.multiline):
            raise ValidationError(_(MESSAGE))


class BaseForm(FlaskForm):  # type: ignore[misc]
    """Every form of the app derives from this: each text field gets :class:`CleanText` when it is bound, so a
    field added later cannot forget it. Passwords are exempt (they are only hashed, never shown or stored)."""

    class Meta:
        def bind_field(self, form: Form, unbound_field: Any, options: dict[str, Any]) -> Field:
            field: Field = unbound_field.bind(form=form, **options)
            if isinstance(field, StringField) and not isinstance(field, PasswordField):
                field.validators = [*field.validators, CleanText(multiline=isinstance(field, TextAreaField))]
            return field


def coerce_id(value: object) -> int:
    """``coerce`` of a select that names a row by id: ASCII digits that fit the database, else ValueError (WTForms'
    "not a valid choice"). Plain ``int`` lets a 25-digit id through, which SQLite refuses with an OverflowError."""
    found = parse_id(value)
    if found is None:
        raise ValueError(value)
    return found
