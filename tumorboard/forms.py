"""The base of every form (web layer, Flask-WTF): the CSRF token, and the input-hygiene check on every text field.

A top-level module, not under tumorboard.web: domain forms import it, and importing the web package would pull
create_app and every view into their import graph."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from wtforms import Field, Form, PasswordField, StringField, TextAreaField
from wtforms.validators import ValidationError
from wtforms.widgets import Select

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
            if type(field.widget) is Select:
                field.widget = QuickSelect(multiple=field.widget.multiple)
            return field


_OPTION = Markup('<option value="{}">{}</option>')
_OPTION_SELECTED = Markup('<option selected value="{}">{}</option>')


class QuickSelect(Select):  # type: ignore[misc]
    """WTForms' ``Select`` whose plain options (no ``render_kw``, no boolean value) are written with one f-string
    instead of WTForms' sorted ``html_params``: the same bytes (``tests/web/test_forms.py`` compares them), at a
    fraction of the CPU. The case page draws about 120 options per request (the move form lists every upcoming
    session) and spent a third of its time here (issue 16: case page under 32 concurrent clients)."""

    @classmethod
    def render_option(cls, choice: Any, **kwargs: Any) -> Markup:
        if kwargs or choice.render_kw or isinstance(choice.value, bool):
            return super().render_option(choice, **kwargs)  # type: ignore[no-any-return]
        value = escape(choice.value).replace(Markup('"'), Markup("&quot;"))
        label = escape(choice.label or choice.value)
        return _OPTION_SELECTED.format(value, label) if choice.selected else _OPTION.format(value, label)


def coerce_id(value: object) -> int:
    """``coerce`` of a select that names a row by id: ASCII digits that fit the database, else ValueError (WTForms'
    "not a valid choice"). Plain ``int`` lets a 25-digit id through, which SQLite refuses with an OverflowError."""
    found = parse_id(value)
    if found is None:
        raise ValueError(value)
    return found
