"""The OpenAPI 3.1 document served at /api/v1/openapi.json."""


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema, description):
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses):
    texts = {400: "Bad request", 401: "Missing or invalid bearer token", 403: "Not allowed",
             404: "Not found (or not visible to you)", 409: "Conflict: stale base_revision",
             413: "Body too large", 422: "Invalid fields", 429: "Too many requests"}
    return {str(s): _json(_ref("Error"), texts[s]) for s in statuses}


STRING_LIST = {"type": "array", "items": {"type": "string"}}
REASONS = ["entry_adopted", "edit_adopted", "review", "helpful", "retraction"]
ENTRY_FILTERS = [
    {"name": name, "in": "query", "required": False, "schema": {"type": "string"}, "description": text}
    for name, text in (("kind", "kind slug"), ("product", "product line slug"), ("segment", "segment slug"),
                       ("tag", "tag name"), ("status", "entry status"), ("mine", "1: only my entries"))
] + [
    {"name": "page", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}},
    {"name": "per_page", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
]
ENTRY_ID = {"name": "entry_id", "in": "path", "required": True, "schema": {"type": "integer"}}

SCHEMAS = {
    "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
            "code": {"type": "string"}, "message": {"type": "string"},
            "fields": {"type": "object", "additionalProperties": STRING_LIST},
            "current_revision": {"type": "integer"}}}},
    },
    "EntryInput": {
        "type": "object", "required": ["title", "body", "kind"],
        "properties": {"title": {"type": "string", "maxLength": 200}, "body": {"type": "string"},
                       "kind": {"type": "string", "description": "kind slug, e.g. objection_handling"},
                       "products": STRING_LIST, "segments": STRING_LIST, "tags": STRING_LIST,
                       "note": {"type": "string", "maxLength": 200}},
    },
    "EntryUpdate": {
        "allOf": [_ref("EntryInput"), {"type": "object", "required": ["base_revision"], "properties": {
            "base_revision": {"type": "integer", "description": "the revision this edit started from"}}}],
    },
    "Saved": {
        "type": "object", "required": ["id", "status", "revision"],
        "properties": {"id": {"type": "integer"}, "status": {"type": "string"}, "revision": {"type": "integer"}},
    },
    "EntrySummary": {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "title": {"type": "string"}, "kind": {"type": "string"},
                       "status": {"type": "string"}, "author": {"type": "string"}, "products": STRING_LIST,
                       "segments": STRING_LIST, "tags": STRING_LIST,
                       "updated_at": {"type": "string", "format": "date-time"}, "url": {"type": "string"}},
    },
    "Entry": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"}, "title": {"type": "string"}, "body": {"type": "string"},
            "html": {"type": "string", "description": "sanitized HTML"}, "kind": {"type": "string"},
            "products": STRING_LIST, "segments": STRING_LIST, "tags": STRING_LIST,
            "status": {"type": "string", "enum": ["draft", "pending", "returned", "adopted", "rejected", "retracted"]},
            "revision": {"type": "integer", "description": "latest revision: send it as base_revision"},
            "published_revision": {"type": ["integer", "null"]}, "shown_revision": {"type": "integer"},
            "author": {"type": "object", "properties": {"username": {"type": "string"}, "display_name": {"type": "string"}}},
            "helpful_count": {"type": "integer"}, "view_count": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"}},
    },
}

PATHS = {
    "/tokens": {"post": {
        "summary": "Create a bearer token", "security": [], "operationId": "createToken",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["username", "password"],
            "properties": {"username": {"type": "string"}, "password": {"type": "string"}}}}}},
        "responses": {"201": _json({"type": "object", "required": ["token"], "properties": {
            "token": {"type": "string"}, "token_type": {"type": "string"},
            "expires_in_days": {"type": "integer"}}}, "Token created"), **_errors(400, 401, 422, 429)},
    }},
    "/tokens/current": {"delete": {
        "summary": "Revoke the token used for this request", "operationId": "revokeToken",
        "responses": {"204": {"description": "Revoked"}, **_errors(401)},
    }},
    "/entries": {
        "get": {"summary": "List visible entries", "operationId": "listEntries", "parameters": ENTRY_FILTERS,
                "responses": {"200": _json({"type": "object", "properties": {
                    "total": {"type": "integer"}, "page": {"type": "integer"}, "per_page": {"type": "integer"},
                    "results": {"type": "array", "items": _ref("EntrySummary")}}}, "A page of entries"),
                    **_errors(401)}},
        "post": {"summary": "Create a draft entry", "operationId": "createEntry",
                 "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("EntryInput")}}},
                 "responses": {"201": _json(_ref("Saved"), "Draft created"), **_errors(400, 401, 403, 413, 422)}},
    },
    "/entries/{entry_id}": {
        "get": {"summary": "Read an entry", "operationId": "getEntry", "parameters": [
            ENTRY_ID, {"name": "revision", "in": "query", "required": False, "schema": {"type": "integer"}}],
            "responses": {"200": _json(_ref("Entry"), "The entry"), **_errors(401, 404)}},
        "put": {"summary": "Save an edit", "operationId": "updateEntry", "parameters": [ENTRY_ID],
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("EntryUpdate")}}},
                "responses": {"200": _json(_ref("Saved"), "Saved as a new revision"),
                              **_errors(400, 401, 403, 404, 409, 413, 422)}},
    },
    "/entries/{entry_id}/revisions": {"get": {
        "summary": "List an entry's revisions", "operationId": "listRevisions", "parameters": [ENTRY_ID],
        "responses": {"200": _json({"type": "object", "properties": {"revisions": {"type": "array", "items": {
            "type": "object", "properties": {"number": {"type": "integer"}, "author": {"type": "string"},
                                             "note": {"type": "string"}, "title": {"type": "string"},
                                             "created_at": {"type": "string", "format": "date-time"},
                                             "published": {"type": "boolean"}}}}}},
            "Revisions you may read, newest first: the published ones; all of them for the entry's author, "
            "admins and reviewers while it is under review; and your own"), **_errors(401, 404)},
    }},
    "/categories": {"get": {
        "summary": "Kinds, product lines and customer segments", "operationId": "listCategories",
        "responses": {"200": _json({"type": "object"}, "The vocabularies"), **_errors(401)},
    }},
    "/leaderboard": {"get": {
        "summary": "A leaderboard for a calendar period", "operationId": "getLeaderboard",
        "description": "Sums of the points ledger in the period (calendar periods in the server's TIMEZONE). "
                       "Equal points share a rank and the next rank skips (1, 1, 3); ties are listed by name. "
                       "Everyone may read the person board; team and branch boards are for leaders and admins.",
        "parameters": [
            {"name": "scope", "in": "query", "required": False,
             "schema": {"type": "string", "enum": ["user", "team", "branch"], "default": "user"}},
            {"name": "period", "in": "query", "required": False,
             "schema": {"type": "string", "enum": ["week", "month", "quarter", "year", "all"], "default": "month"}},
            {"name": "sort", "in": "query", "required": False, "description": "team and branch boards only",
             "schema": {"type": "string", "enum": ["per_agent", "total", "participation"], "default": "per_agent"}},
            {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 100}},
        ],
        "responses": {"200": _json({"type": "object", "required": ["rows"], "properties": {
            "scope": {"type": "string"}, "period": {"type": "string"}, "sort": {"type": ["string", "null"]},
            "rows": {"type": "array", "items": {"type": "object", "required": ["rank", "name", "points", "adopted"],
                                                "properties": {
                "rank": {"type": "integer"}, "id": {"type": "integer"}, "name": {"type": "string"},
                "points": {"type": "integer"},
                "adopted": {"type": "integer", "description": "adoption awards (entries and edits) in the period"},
                "team": {"type": ["string", "null"], "description": "user scope"},
                "branch": {"type": ["string", "null"], "description": "user and team scope"},
                "members": {"type": "integer", "description": "team/branch: active agents"},
                "points_per_agent": {"type": "number", "description": "team/branch: points / members, 1 decimal"},
                "participation": {"type": "number",
                                  "description": "team/branch: share (0..1) of members with an adoption in the period"},
            }}}}}, "The ranked rows, best first"), **_errors(401, 403, 422)},
    }},
    "/users/me/points": {"get": {
        "summary": "My points: total, rank per period and the ledger rows", "operationId": "getMyPoints",
        "responses": {"200": _json({"type": "object", "required": ["total", "rank", "ranks", "rows"], "properties": {
            "total": {"type": "integer", "description": "all-time total: the sum of `rows`"},
            "rank": {"type": ["integer", "null"], "description": "all-time rank; null without points"},
            "ranks": {"type": "object", "description": "by period: week, month, quarter, year, all",
                      "additionalProperties": {"type": "object", "properties": {
                          "rank": {"type": ["integer", "null"]}, "points": {"type": "integer"},
                          "ranked": {"type": "integer", "description": "how many people are ranked"}}}},
            "rows": {"type": "array", "description": "every ledger row, newest first", "items": {
                "type": "object", "properties": {
                    "amount": {"type": "integer"},
                    "reason": {"type": "string", "enum": REASONS},
                    "entry_id": {"type": ["integer", "null"]},
                    "entry_title": {"type": ["string", "null"], "description": "when the entry is visible to you"},
                    "created_at": {"type": "string", "format": "date-time"}}}}}}, "Your points"),
            **_errors(401)},
    }},
}

LEDGER_PARAMETERS = [
    {"name": name, "in": "query", "required": False, "schema": schema, "description": text}
    for name, schema, text in (
        ("user", {"type": "string"}, "only this username's rows"),
        ("reason", {"type": "string", "enum": REASONS}, "only rows of this reason"),
        ("from", {"type": "string", "format": "date"}, "first local day (TIMEZONE), inclusive"),
        ("to", {"type": "string", "format": "date"}, "last local day (TIMEZONE), inclusive"),
        ("entry", {"type": "integer"}, "only rows about this entry"),
        ("before", {"type": "integer"}, "cursor: the rows older than this row id (the `older` of a page)"),
        ("after", {"type": "integer"}, "cursor: the rows newer than this row id (the `newer` of a page)"),
        ("per_page", {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}, "rows per page"))
]
COUNT_AND_POINTS = {"type": "object", "properties": {"rows": {"type": "integer"}, "points": {"type": "integer"}}}
PATHS["/points"] = {"get": {
    "summary": "The points ledger of every user (admins)", "operationId": "getPointLedger",
    "description": "Ledger rows newest first (by time, then id), in keyset pages: pass a page's `older` as `before` "
                   "for the next page. Rows added meanwhile never shift a page. `totals` cover every filtered row.",
    "parameters": LEDGER_PARAMETERS,
    "responses": {"200": _json({"type": "object", "required": ["totals", "rows"], "properties": {
        "totals": {"type": "object", "properties": {
            "rows": {"type": "integer"}, "points": {"type": "integer", "description": "net: awards minus reversals"},
            "by_reason": {"type": "object", "additionalProperties": COUNT_AND_POINTS}}},
        "rows": {"type": "array", "items": {"type": "object", "properties": {
            "id": {"type": "integer"}, "created_at": {"type": "string", "format": "date-time"},
            "amount": {"type": "integer"}, "reason": {"type": "string", "enum": REASONS},
            "cause": {"type": "string", "description": "the one event that paid, e.g. adopt:entry:12"},
            "entry_id": {"type": ["integer", "null"]}, "entry_title": {"type": ["string", "null"]},
            "user": {"type": "object", "properties": {"username": {"type": "string"},
                                                      "display_name": {"type": "string"}}},
            "team": {"type": ["string", "null"]}, "branch": {"type": ["string", "null"]},
            "retraction": {"type": ["object", "null"], "description": "retraction rows: who retracted and why",
                           "properties": {"by": {"type": ["string", "null"], "description": "the admin's username"},
                                          "reason": {"type": ["string", "null"]}}}}}},
        "newer": {"type": ["integer", "null"], "description": "cursor of the newer page (send as `after`)"},
        "older": {"type": ["integer", "null"], "description": "cursor of the older page (send as `before`)"}}},
        "A page of ledger rows"), **_errors(401, 403, 404, 422)},
}}


REVIEW_SCHEMAS = {
    "ReviewInput": {
        "type": "object", "required": ["scores", "compliance", "decision"],
        "properties": {
            "scores": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 1, "maximum": 5},
                       "description": "one score per active rubric criterion slug (see GET /rubric)"},
            "compliance": {"type": "boolean", "description": "false can never adopt"},
            "decision": {"type": "string", "enum": ["adopt", "revise", "reject"]},
            "comment": {"type": "string", "maxLength": 2000, "description": "required to revise or reject"}},
    },
    "Review": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"}, "entry_id": {"type": "integer"}, "revision": {"type": "integer"},
            "reviewer": {"type": "string"}, "decision": {"type": "string"}, "compliance": {"type": "boolean"},
            "scores": {"type": "object", "additionalProperties": {"type": "integer"}},
            "mean_score": {"type": "number"}, "comment": {"type": "string"},
            "findings": {"type": "object", "description": "personal data and compliance phrases found"},
            "created_at": {"type": "string", "format": "date-time"}},
    },
}
REVIEW_PATHS = {
    "/entries/{entry_id}/submit": {"post": {
        "summary": "Submit a draft, a reworked return or unpublished edits for review", "operationId": "submitEntry",
        "parameters": [ENTRY_ID],
        "responses": {"200": _json(_ref("Saved"), "Now pending review"), **_errors(401, 403, 404, 409)}}},
    "/reviews/queue": {"get": {
        "summary": "Pending entries, oldest first (reviewers)", "operationId": "reviewQueue",
        "responses": {"200": _json({"type": "object", "properties": {"results": {"type": "array", "items": {
            "type": "object", "properties": {
                "id": {"type": "integer"}, "title": {"type": "string"}, "kind": {"type": "string"},
                "author": {"type": "string"}, "team": {"type": ["string", "null"]}, "revision": {"type": "integer"},
                "is_edit": {"type": "boolean"}, "submitted_at": {"type": "string", "format": "date-time"},
                "url": {"type": "string"}}}}}}, "The queue"), **_errors(401, 403)}}},
    "/entries/{entry_id}/reviews": {
        "post": {"summary": "Decide on the pending revision (reviewers; never one's own entry)",
                 "operationId": "createReview", "parameters": [ENTRY_ID],
                 "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("ReviewInput")}}},
                 "responses": {"201": _json({"type": "object", "properties": {
                     "review": _ref("Review"), "status": {"type": "string"}}}, "Decision recorded"),
                     **_errors(400, 401, 403, 404, 409, 422)}},
        "get": {"summary": "Reviews of an entry (author, submitter, reviewers, admins)", "operationId": "listReviews",
                "parameters": [ENTRY_ID],
                "responses": {"200": _json({"type": "object", "properties": {"reviews": {
                    "type": "array", "items": _ref("Review")}}}, "Reviews, newest first"), **_errors(401, 403, 404)}},
    },
    "/entries/{entry_id}/helpful": {"post": {
        "summary": "Mark an adopted entry helpful (once; never one's own)", "operationId": "voteHelpful",
        "parameters": [ENTRY_ID],
        "responses": {"201": _json({"type": "object", "properties": {"helpful_count": {"type": "integer"}}},
                                   "Vote recorded"), **_errors(401, 403, 404, 409)}}},
    "/rubric": {"get": {
        "summary": "The active rubric criteria", "operationId": "getRubric",
        "responses": {"200": _json({"type": "object", "properties": {"criteria": {"type": "array", "items": {
            "type": "object", "properties": {"slug": {"type": "string"}, "name_zh": {"type": "string"},
                                             "name_en": {"type": "string"}}}}}}, "Criteria"), **_errors(401)}}},
}


SEARCH_PARAMETERS = [
    {"name": name, "in": "query", "required": False, "schema": schema, "description": text}
    for name, schema, text in (
        ("q", {"type": "string", "maxLength": 200}, "a question or keywords, Chinese or English"),
        ("kind", {"type": "string"}, "kind slug"), ("product", {"type": "string"}, "product line slug"),
        ("segment", {"type": "string"}, "segment slug"), ("tag", {"type": "string"}, "tag"),
        ("sort", {"type": "string", "enum": ["relevance", "newest", "helpful"]}, "order of results"),
        ("page", {"type": "integer", "minimum": 1}, "page number"))
]
FACET_LIST = {"type": "array", "items": {"type": "object", "properties": {
    "value": {"type": "string"}, "count": {"type": "integer"}}}}
SEARCH_PATHS = {
    "/search": {"get": {
        "summary": "Full-text search over the entries the caller may see", "operationId": "search",
        "parameters": SEARCH_PARAMETERS,
        "responses": {"200": _json({"type": "object", "properties": {
            "total": {"type": "integer"}, "page": {"type": "integer"}, "pages": {"type": "integer"},
            "suggestion": {"type": ["string", "null"], "description": "did you mean"},
            "results": {"type": "array", "items": {"type": "object", "properties": {
                "id": {"type": "integer"}, "title": {"type": "string"},
                "snippet": {"type": "string", "description": "escaped HTML with <mark> around matches"},
                "score": {"type": "number"}, "kind": {"type": "string"}, "status": {"type": "string"},
                "author": {"type": "string"}}}},
            "facets": {"type": "object", "properties": {n: FACET_LIST for n in ("kind", "product", "segment", "tag")}}}},
            "Results and facets"), **_errors(400, 401)}}},
    "/entries/similar": {"get": {
        "summary": "Adopted entries with a title like the one being typed", "operationId": "similarEntries",
        "parameters": [{"name": "title", "in": "query", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": _json({"type": "object", "properties": {"results": {"type": "array", "items": {
            "type": "object", "properties": {"id": {"type": "integer"}, "title": {"type": "string"},
                                             "score": {"type": "number"}}}}}}, "Similar entries"),
            **_errors(401)}}},
}


def _refusable(paths):
    """Every operation may answer 400: the address itself is refused (a NUL byte) before any operation runs."""
    return {path: {method: {**operation, "responses": {**_errors(400), **operation["responses"]}}
                   for method, operation in item.items()} for path, item in paths.items()}


def openapi_document():
    """The API description as a dict."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "kmwiki API", "version": "1",
                 "description": "Customer-knowledge wiki API. Authenticate with POST /tokens, then send "
                                "`Authorization: Bearer TOKEN`. Errors are `{\"error\": {\"code\", \"message\"}}`."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                       "schemas": {**SCHEMAS, **REVIEW_SCHEMAS}},
        "paths": _refusable({**PATHS, **REVIEW_PATHS, **SEARCH_PATHS}),
    }
