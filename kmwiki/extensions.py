"""Flask extensions, created unbound and initialised by the app factory."""
from functools import partial

from flask.globals import request_ctx
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()


class ViewLimiter(Limiter):
    """Flask-Limiter, checking only the limits views declare (`@limiter.limit`, checked when the view
    is called). Its check before every request looks for app-wide limits; with none configured it
    found nothing and cost ~0.15 ms, a tenth of a shared entry page, so it is left out then. Its
    hook after every request (rate-limit headers, deductions) then runs only where a limit was
    checked: it keeps what it needs in the request context (`_limiter_request_context`, made when a
    limit is evaluated), and without it has nothing to add."""

    APP_WIDE = ("RATELIMIT_DEFAULT", "RATELIMIT_APPLICATION", "RATELIMIT_META")

    def init_app(self, app):
        super().init_app(app)
        if any(app.config.get(name) for name in self.APP_WIDE):
            return
        hooks = app.before_request_funcs.get(None, [])
        if self._check_request_limit in hooks:
            hooks.remove(self._check_request_limit)
        after = app.after_request_funcs.get(None, [])
        for n, hook in enumerate(after):
            if isinstance(hook, partial) and hook.args == (self,):  # Limiter.__inject_headers
                after[n] = partial(_where_limited, hook)


def _where_limited(hook, response):
    """Flask-Limiter's after-request hook, for a request that checked a limit (else a no-op)."""
    return hook(response) if hasattr(request_ctx._get_current_object(), "_limiter_request_context") else response


limiter = ViewLimiter(key_func=get_remote_address, default_limits=[])
