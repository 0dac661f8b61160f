"""The colour pairs the stylesheet puts text on meet WCAG AA contrast (4.5:1 for body text)."""
import re

import pytest

from kmwiki import ROOT

CSS = (ROOT / "static" / "css" / "kmwiki.css").read_text(encoding="utf-8")
VARIABLES = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6}|#[0-9a-fA-F]{3})\b", CSS.split("}", 1)[0]))
WHITE = "#ffffff"

PAIRS = [  # (text, background, where)
    ("ink", "bg", "body text"),
    ("ink", "panel", "text in panels"),
    ("muted", "bg", "secondary text"),
    ("muted", "panel", "secondary text in panels"),
    ("brand", "panel", "links"),
    ("brand", "bg", "links on the page background"),
    (WHITE, "brand", "header and primary buttons"),
    ("ok", "ok-bg", "success notices"),
    ("warn", "warn-bg", "warnings, thin coverage"),
    ("err", "err-bg", "errors, empty coverage"),
    ("ink", "info-bg", "info notices, first heat-map shade"),
    ("accent", "panel", "tag chips"),
]


def colour(name):
    value = name if name.startswith("#") else VARIABLES[name]
    return "#" + "".join(c * 2 for c in value[1:]) if len(value) == 4 else value  # #fff → #ffffff


def luminance(hex_colour):
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a, b):
    high, low = sorted((luminance(colour(a)), luminance(colour(b))), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_palette_is_read_from_the_stylesheet():
    assert {"ink", "muted", "bg", "panel", "brand", "err", "err-bg"} <= set(VARIABLES)


@pytest.mark.parametrize("text, background, where", PAIRS)
def test_text_colours_meet_aa_contrast(text, background, where):
    assert contrast(text, background) >= 4.5, f"{where}: {contrast(text, background):.2f}:1"


def test_heat_map_shades_keep_their_numbers_readable():
    shades = dict(re.findall(r"\.dash-cov-(\d) \{ background: (#[0-9a-fA-F]{6});", CSS))
    assert set(shades) == {"1", "2", "3"}
    assert contrast("ink", shades["1"]) >= 4.5 and contrast("ink", shades["2"]) >= 4.5
    assert contrast(WHITE, shades["3"]) >= 4.5
