"""Default settings. Overridden by instance/config.py, then by KMWIKI_* environment variables."""


class DefaultConfig:
    """Every setting kmwiki reads, with its default."""

    # Generated once into the instance folder when neither config nor environment sets it.
    SECRET_KEY = None
    # Relative SQLite paths resolve against the instance folder (Flask-SQLAlchemy 3).
    SQLALCHEMY_DATABASE_URI = "sqlite:///kmwiki.db"
    # A server may drop idle connections: test each before use (not for SQLite, kmwiki/database.py).
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    # Calendar periods and displayed times use this zone.
    TIMEZONE = "Asia/Shanghai"
    BABEL_DEFAULT_LOCALE = "zh"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    LANGUAGES = {"zh": "简体中文", "en": "English"}
    # memory:// suits one process; point at redis://127.0.0.1:6379 when several serve.
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    LOGIN_RATE_LIMIT = "10 per minute"
    # Requests larger than this get 413.
    MAX_CONTENT_LENGTH = 8 * 1024 * 1024
    # Entry body limit in characters: a long manual, not a data dump.
    MAX_BODY_CHARS = 200_000
    # Largest image an editor may upload (PNG, JPEG, GIF or WEBP); a phone photo fits, a video does not.
    ATTACHMENT_MAX_BYTES = 5 * 1024 * 1024
    ENTRIES_PER_PAGE = 20
    # Seconds a kept entry page is served (kmwiki/pages.py): its related-entries panel may miss newer
    # entries or show an older title for this long; everything else on it is current.
    SHARED_PAGE_MAX_AGE = 3600
    # Adopting reviews needed to adopt an entry (DESIGN §3); one reject always rejects.
    REVIEWS_REQUIRED = 1
    # Set KMWIKI_HTTPS=1 behind TLS: cookies are then sent over HTTPS only, and browsers are told
    # (Strict-Transport-Security) never to use plain HTTP for this host.
    HTTPS = False
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_DURATION = 14 * 24 * 3600
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session: a long edit must still save
    # werkzeug's default; tests use a cheap method so fixtures stay fast.
    PASSWORD_HASH_METHOD = "scrypt"
    # Write entry changes to the search index after each commit (off only for bulk jobs that reindex).
    SEARCH_INDEX_UPDATES = True
    SEARCH_RESULTS_PER_PAGE = 10
    # API tokens expire after this many days.
    API_TOKEN_DAYS = 90
