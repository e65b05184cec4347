"""The funnel chart, drawn with Pillow: a few rectangles and text, no plotting library.

The only font is the one that ships inside Pillow (``ImageFont.load_default(size=...)``, a subset of
Aileron Regular, Pillow >= 10.1), so nothing depends on the fonts installed on the host. That subset
covers ASCII and a handful of punctuation; other letters are folded to their base letters ("é" -> "e")
and the "↓" of the step rates is drawn as a small arrow when the font lacks the glyph.

Thread-safe: every call draws on its own image; the only shared state is the cache of fonts and of
which characters the font has, both read-only once built (under the GIL, Pillow holds it for the
whole of each FreeType call).
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Sequence
from functools import cache, lru_cache
from typing import cast

from PIL import Image, ImageDraw, ImageFont

from bot.domain.values import StageModel
from storage.analytics import StageStep

WIDTH = 770
PAD = 14
TITLE_HEIGHT = 52
BOTTOM = 12
ROW = 66  # one stage; the chart is at least three rows high
BAR_HEIGHT = 46
LABEL_RIGHT = 200  # stage names are right-aligned here, truncated to fit PAD..LABEL_RIGHT
BAR_LEFT, BAR_RIGHT = 212, 592  # the widest bar spans this; the others are centred in it
COUNT_GAP = 8
RATE_LEFT = 690  # step rates, between rows (counts sit mid-row, so the two never meet)
MIN_BAR = 2  # pixels, so that a zero still shows

BACKGROUND = "#ffffff"
BAR = "#1d4f91"
TEXT = "#000000"
RATE = "#555555"
TITLE_SIZE, LABEL_SIZE, RATE_SIZE = 18, 15, 14

ARROW = "↓"
ELLIPSIS = "…"
MAX_TEXT = 400  # characters considered before measuring: more never fits the width
# Letters NFKD leaves whole, spelled with letters the bundled font has.
_FOLD = str.maketrans({
    "ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O",
    "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "Th", "ı": "i",
    "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "―": "-", "−": "-", "•": "·", "€": "EUR",
})


@cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    # with a size, load_default is always the FreeType font (typed as either, for the call without one)
    return cast(ImageFont.FreeTypeFont, ImageFont.load_default(size=size))


def _glyph_key(char: str) -> tuple:
    font = _font(LABEL_SIZE)
    mask = font.getmask(char)
    return mask.size, bytes(mask), font.getlength(char)


@lru_cache(maxsize=4096)
def _has_glyph(char: str) -> bool:
    """Whether the bundled font draws `char` (rather than its missing-glyph box)."""
    return _glyph_key(char) != _glyph_key("\ue000")  # a private-use code point: never in the font


def _printable(text: object) -> str:
    """One line, in characters the font has: whitespace runs become one space, accents are dropped,
    a few letters are spelled out; anything else is kept and shows as the font's missing-glyph box."""
    text = " ".join(str(text)[:MAX_TEXT].split())
    if all(_has_glyph(char) for char in text):
        return text
    out = []
    for char in text.translate(_FOLD):
        if _has_glyph(char):
            out.append(char)
            continue
        if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            continue  # control, format (zero-width, direction marks) and lone surrogate characters
        base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        if base and all(_has_glyph(c) for c in base):
            out.append(base)
        else:
            out.append(char)
    return "".join(out)


def _fit(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: float) -> str:
    """`text`, cut short with an ellipsis if it is wider than `width` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    low, high = 0, len(text)  # the longest prefix that fits with the ellipsis is text[:low]
    while low < high:
        middle = (low + high + 1) // 2
        if draw.textlength(text[:middle].rstrip() + ELLIPSIS, font=font) <= width:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + ELLIPSIS


def _arrow(height: int) -> Image.Image:
    """A downward arrow as an anti-aliased matte ("L"), drawn four times larger and scaled down."""
    scale = 4
    width = max(5, round(height * 0.7))
    big_w, big_h = width * scale, height * scale
    matte = Image.new("L", (big_w, big_h), 0)
    pen = ImageDraw.Draw(matte)
    stem = max(scale, round(big_w * 0.22))
    head = round(big_h * 0.5)
    pen.rectangle([(big_w - stem) // 2, 0, (big_w + stem) // 2 - 1, big_h - head], fill=255)
    pen.polygon([(0, big_h - head), (big_w - 1, big_h - head), ((big_w - 1) / 2, big_h - 1)], fill=255)
    return matte.resize((width, height), Image.Resampling.BOX)


def _draw_rate(draw: ImageDraw.ImageDraw, y: float, rate: float, font: ImageFont.FreeTypeFont) -> None:
    text = f"{rate:.0%}"
    if _has_glyph(ARROW):
        draw.text((RATE_LEFT, y), f"{ARROW} {text}", font=font, fill=RATE, anchor="lm")
        return
    left, top, right, bottom = font.getbbox("0", anchor="lm")  # digit height, relative to y
    arrow = _arrow(round(bottom - top))
    draw.bitmap((RATE_LEFT, round(y + top)), arrow, fill=RATE)
    draw.text((RATE_LEFT + arrow.width + draw.textlength(" ", font=font), y), text, font=font, fill=RATE, anchor="lm")


def funnel_chart_png(title: str, steps: Sequence[tuple[str, int]], *, rates: Sequence[float | None] = ()) -> bytes:
    """A horizontal funnel: one bar per stage (count of deals that entered it), with step conversion rates.

    rates[i] is the conversion from stage i to stage i + 1, written between their rows (None: not shown).
    """
    steps = list(steps)
    rows = max(3, len(steps))
    height = TITLE_HEIGHT + rows * ROW + BOTTOM
    image = Image.new("RGB", (WIDTH, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    title_font, label_font, rate_font = _font(TITLE_SIZE), _font(LABEL_SIZE), _font(RATE_SIZE)

    title_text = _fit(draw, _printable(title), title_font, WIDTH - 2 * PAD)
    draw.text((WIDTH / 2, TITLE_HEIGHT / 2 + 4), title_text, font=title_font, fill=TEXT, anchor="mm")

    counts = [count for _, count in steps]
    widest = max([*counts, 0]) or 1
    bar_span = BAR_RIGHT - BAR_LEFT
    top = TITLE_HEIGHT + (rows - len(steps)) * ROW / 2  # fewer than three stages: centred vertically
    for row, (name, count) in enumerate(steps):
        middle = top + row * ROW + ROW / 2
        width = max(MIN_BAR, round(bar_span * max(count, 0) / widest))
        left = BAR_LEFT + (bar_span - width) // 2
        draw.rectangle([left, round(middle - BAR_HEIGHT / 2), left + width - 1, round(middle + BAR_HEIGHT / 2) - 1], fill=BAR)

        label = _fit(draw, _printable(name), label_font, LABEL_RIGHT - PAD)
        draw.text((LABEL_RIGHT, middle), label, font=label_font, fill=TEXT, anchor="rm")

        number = _printable(count)
        number_width = draw.textlength(number, font=label_font) + 1
        x = min(left + width + COUNT_GAP, WIDTH - PAD - number_width)
        for shift in (0, 1):  # bold by double strike: a 1-pixel stroke closes the counters of 3, 5, 6, 8 at this size
            draw.text((x + shift, middle), number, font=label_font, fill=TEXT, anchor="lm")

    for row, rate in enumerate(rates[: max(len(steps) - 1, 0)]):
        if rate is not None:
            _draw_rate(draw, top + (row + 1) * ROW, rate, rate_font)

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def funnel_steps(conversion, stages: StageModel) -> tuple[list[tuple[str, int]], list[float | None]]:
    """Chart rows: deals that entered each stage, then Won; and the step rates between rows."""
    steps: list[tuple[str, int]] = []
    rates: list[float | None] = []
    for step in conversion:
        steps.append((stages.name_of(step.stage_id), step.entered))
        rates.append(step.rate)
    if conversion:
        last = conversion[-1]
        steps.append(("Won", last.advanced))
    return steps, rates


def funnel_title(who: str) -> str:
    return f"Funnel: {who}" if who != "you" else "Your funnel"


def funnel_chart(who: str, conversion: Sequence[StageStep], stages: StageModel) -> tuple[str, bytes]:
    """The chart's title (plain text: no mention markup) and PNG."""
    title = funnel_title(who).replace("<@", "@").replace(">", "")
    steps, rates = funnel_steps(conversion, stages)
    return title, funnel_chart_png(title, steps, rates=rates)
