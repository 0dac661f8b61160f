"""The KmwikiError family, and the one place that turns errors into pages or JSON."""
from flask import jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

from .extensions import db, login_manager


class KmwikiError(Exception):
    """A domain error that carries its HTTP status and a user-facing message."""

    status = 400
    code = "bad_request"
    default_message = _l("The request could not be processed.")

    def __init__(self, message=None, fields=None, code=None, **extra):
        super().__init__(str(message or self.default_message))
        if code:
            self.code = code
        self.message = message or self.default_message
        self.fields = fields or {}
        self.extra = extra


class Unauthorized(KmwikiError):
    status, code, default_message = 401, "unauthorized", _l("Please sign in first.")


class Forbidden(KmwikiError):
    status, code, default_message = 403, "forbidden", _l("You do not have permission to do this.")


class NotFound(KmwikiError):
    status, code, default_message = 404, "not_found", _l("The page or entry does not exist.")


class Conflict(KmwikiError):
    status, code, default_message = 409, "conflict", _l("The request conflicts with the current state.")


class Invalid(KmwikiError):
    status, code, default_message = 422, "invalid", _l("Some fields are not valid.")


def wants_json():
    """True for API calls, the editor's script endpoints, and clients that asked for JSON."""
    if request.path.startswith(("/api/", "/editor/")):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def error_response(status, code, message, fields=None, **extra):
    """Render an error as the JSON envelope or as an HTML page."""
    if wants_json():
        body = {"code": code, "message": str(message)}
        if fields:
            body["fields"] = {name: [str(m) for m in msgs] for name, msgs in fields.items()}
        body.update(extra)
        return make_response(jsonify(error=body), status)
    return make_response(render_template("error.html", status=status, message=message, fields=fields), status)


def register_error_handlers(app):
    """Map domain errors, HTTP errors and crashes to one response shape."""

    @app.errorhandler(KmwikiError)
    def handle_domain_error(error):
        if isinstance(error, Unauthorized) and not wants_json():
            return login_manager.unauthorized()
        response = error_response(error.status, error.code, error.message, error.fields, **error.extra)
        if isinstance(error, Unauthorized):
            response.headers["WWW-Authenticate"] = 'Bearer realm="kmwiki"'
        return response

    @app.errorhandler(CSRFError)
    def handle_csrf_error(error):
        message = _l("This form has expired or was sent from elsewhere. Go back, reload the page and send it again.")
        return error_response(400, "csrf", message)

    @app.errorhandler(HTTPException)
    def handle_http_error(error):
        code = (error.name or "error").lower().replace(" ", "_")
        response = error_response(error.code or 500, code, http_message(error))
        for name, value in error.get_headers():  # keep what the status promises: Allow, Retry-After …
            if name != "Content-Type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def handle_crash(error):
        # The session may hold a failed transaction; never let it leak into the next request.
        db.session.rollback()
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "server_error", _l("Something went wrong on our side. Please try again."))


def http_message(error):
    """A translated message for the common HTTP errors."""
    messages = {
        400: _l("The request could not be understood."),
        401: Unauthorized.default_message,
        403: Forbidden.default_message,
        404: NotFound.default_message,
        405: _l("This method is not allowed here."),
        413: _l("The request is too large."),
        429: _l("Too many attempts. Please wait a moment and try again."),
    }
    return messages.get(error.code, error.description or error.name)
