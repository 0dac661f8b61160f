"""No route is public by accident: every page and API endpoint refuses anonymous callers."""
import re

# Reachable without signing in, on purpose.
PUBLIC = {"static", "auth.login", "auth.language", "api.create_token", "api.openapi"}


def concrete_path(rule):
    """A URL for a rule, with 1 for every integer argument and a word for the others."""
    return re.sub(r"<(?:(\w+):)?(\w+)>", lambda m: "1" if m.group(1) == "int" else "x", rule.rule)


def routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def test_the_route_table_is_not_empty(app):
    assert len(list(routes(app))) > 20


def test_anonymous_callers_are_refused_everywhere(app, client):
    for rule, method in routes(app):
        path = concrete_path(rule)
        response = client.open(path, method=method, headers={"Accept": "text/html"})
        if path.startswith("/api/"):
            assert response.status_code == 401, (method, path, response.status_code)
            assert response.is_json
        elif method == "GET":
            assert response.status_code == 302 and "/login" in response.headers["Location"], (method, path)
        else:
            # Form posts without a session are refused: by CSRF (400) or by the login check (302).
            assert response.status_code in {302, 400}, (method, path, response.status_code)
