"""kmwiki: an insurer's customer-knowledge wiki."""
import os
import secrets
import tempfile
from pathlib import Path

from flask import Flask

from . import auth, cli, database, i18n, templating
from .blueprints import register_blueprints
from .config import DefaultConfig
from .errors import register_error_handlers
from .extensions import csrf, limiter
from .search import analysis

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config=None):
    """Build a configured kmwiki application."""
    app = Flask(
        __name__,
        instance_path=os.environ.get("KMWIKI_INSTANCE_PATH", str(ROOT / "instance")),
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    load_config(app, test_config)
    database.init_app(app)
    auth.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    i18n.init_app(app)
    templating.init_app(app)
    # Admins extend the shipped insurance dictionary with words of their own (one per line).
    analysis.set_extra_dictionary(Path(app.instance_path) / "search_dict.txt")
    register_error_handlers(app)
    register_blueprints(app)
    cli.init_app(app)
    return app


def load_config(app, test_config):
    """Defaults, then instance/config.py, then KMWIKI_* variables, then a test's overrides."""
    app.config.from_object(DefaultConfig)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("KMWIKI")
    if test_config:
        app.config.update(test_config)
    if app.config["HTTPS"]:
        app.config.update(SESSION_COOKIE_SECURE=True, REMEMBER_COOKIE_SECURE=True, PREFERRED_URL_SCHEME="https")
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = instance_secret(Path(app.instance_path) / "secret_key")


def instance_secret(path):
    """Read the generated secret key, creating it once; safe when several workers start together."""
    if not path.exists():
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as handle:
            handle.write(secrets.token_hex(32))
        os.chmod(handle.name, 0o600)
        try:
            os.link(handle.name, path)  # atomic: the first worker's key wins
        except FileExistsError:
            pass
        finally:
            os.unlink(handle.name)
    return path.read_text().strip()
