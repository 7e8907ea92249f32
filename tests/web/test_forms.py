"""The app's select widget (tumorboard/forms.py QuickSelect) writes the bytes WTForms' own Select writes."""

from __future__ import annotations

from flask import Flask
from wtforms import SelectField, SelectMultipleField
from wtforms.widgets import Select

from tumorboard.forms import BaseForm, QuickSelect

CHOICES = [
    (0, "—"),
    (1, 'Lunge 01.12.2026 16:30 "Raum B" <Demo> & Co'),
    (2, "Müller-Lüdenscheidt, Œdipe"),
    ("a\"b'c<d>&e", ""),
    (True, "wahr"),
    (None, "kein Wert"),
]


class Form(BaseForm):  # type: ignore[misc]
    one = SelectField("Eins", coerce=str)
    many = SelectMultipleField("Mehrere", coerce=str)
    marked = SelectField("Markiert", coerce=int)


def test_a_select_is_written_byte_for_byte_as_wtforms_writes_it() -> None:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="x" * 32, WTF_CSRF_ENABLED=False)
    with app.test_request_context():
        for selected in ("1", "2", "0", None):
            form = Form(formdata=None, one=selected, many=[selected, "3"], marked=1)
            # set after construction, as the views do
            form.one.choices = form.many.choices = CHOICES
            form.marked.choices = [(1, "x", {"data-x": "1"}), (2, "y")]
            for field in (form.one, form.many, form.marked):
                assert type(field.widget) is QuickSelect
                reference = Select(multiple=field.widget.multiple)(field)
                assert field() == reference
                assert str(field()).count("<option") == len(field.choices)
                assert field(class_="wide") == Select(multiple=field.widget.multiple)(field, class_="wide")
