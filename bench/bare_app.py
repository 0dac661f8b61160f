"""The baseline of bench/load.py: a bare Flask app rendering one template of a given size.

    BARE_PAGE_BYTES=14000 gunicorn --workers 4 --chdir bench bare_app:app

The template has the shape of a page (a head, a header, paragraphs in a loop, a footer), so
Jinja does comparable work per byte; the page is as large as kmwiki's entry page measured in
the same run. No database, no session, no sign-in: what a Flask page costs on its own.
"""
import os

from flask import Flask, render_template
from jinja2 import DictLoader

PARAGRAPH = "客户说保费太贵时，先倾听，再一起算家庭的保障缺口，最后给出两个预算方案供选择。"
TEMPLATE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{{ title }}</title>
<link rel="stylesheet" href="/static/kmwiki.css"></head>
<body><header><nav><a href="/">首页</a> <a href="/search">搜索</a> <a href="/leaderboard">排行榜</a></nav></header>
<main><h1>{{ title }}</h1>
{% for paragraph in paragraphs %}<p id="p{{ loop.index }}">{{ paragraph }}</p>
{% endfor %}</main><footer>kmwiki</footer></body></html>
"""

app = Flask(__name__)
app.jinja_loader = DictLoader({"page.html": TEMPLATE})  # compiled once and cached, as kmwiki's templates are


def paragraphs_for(size):
    """Enough paragraphs that the rendered page is about `size` bytes."""
    per_paragraph = len(f'<p id="p00">{PARAGRAPH}</p>\n'.encode())
    shell = len(TEMPLATE.encode())
    return [PARAGRAPH] * max(1, (size - shell) // per_paragraph)


PARAGRAPHS = paragraphs_for(int(os.environ.get("BARE_PAGE_BYTES", "14000")))


@app.get("/")
def page():
    return render_template("page.html", title="保费太贵怎么办", paragraphs=PARAGRAPHS)
