"""WSGI entry point for gunicorn: `gunicorn wsgi:app`."""
from kmwiki import create_app

app = create_app()
