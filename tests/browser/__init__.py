"""Browser tests: a real server driven by Debian's chromium (a package, so its conftest never shadows tests/conftest.py)."""
