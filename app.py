"""WSGI entry point for gunicorn: ``gunicorn app:app``."""

from tumorboard.web import create_app

app = create_app()
