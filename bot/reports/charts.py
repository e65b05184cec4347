"""The funnel chart, drawn with Pillow: a few rectangles and text, no plotting library.

The only font is the one that ships inside Pillow (``ImageFont.load_default(size=...)``, a subset of
Aileron Regular, Pillow >= 10.1), so nothing depends on the fonts installed on the host. That subset
covers ASCII and a handful of punctuation; other letters are folded to their base letters ("é" -> "e")
and the "→" of the step rates is drawn as a small arrow when the font lacks the glyph.

The chart shows one `Funnel` (storage.analytics): a bar per open stage (the deals that reached it),
each step labelled with its conversion ("62% →" between a stage and the next, the last one into Won),
then the outcomes Won and Lost as two bars of their own colours below a rule.

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
from storage.analytics import Funnel

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
OUTCOME_GAP = 24  # between the open stages and the outcomes: a rule

BACKGROUND = "#ffffff"
BAR = "#1d4f91"
OUTCOME_BARS = {"Won": "#2e7d32", "Lost": "#9e9e9e"}
RULE = "#cccccc"
TEXT = "#000000"
RATE = "#555555"
TITLE_SIZE, LABEL_SIZE, RATE_SIZE = 18, 15, 14

ARROW = "→"
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
    """A rightward arrow `height` pixels high as an anti-aliased matte ("L"), drawn four times larger
    and scaled down."""
    scale = 4
    width = max(6, round(height * 1.3))
    big_w, big_h = width * scale, height * scale
    matte = Image.new("L", (big_w, big_h), 0)
    pen = ImageDraw.Draw(matte)
    stem = max(scale, round(big_h * 0.22))
    head = round(big_w * 0.45)
    pen.rectangle([0, (big_h - stem) // 2, big_w - head, (big_h + stem) // 2 - 1], fill=255)
    pen.polygon([(big_w - head, 0), (big_w - head, big_h - 1), (big_w - 1, (big_h - 1) / 2)], fill=255)
    return matte.resize((width, height), Image.Resampling.BOX)


def _draw_rate(draw: ImageDraw.ImageDraw, y: float, rate: float, font: ImageFont.FreeTypeFont) -> None:
    """"62% →": the conversion of the step whose rows meet at `y`."""
    text = f"{rate:.0%}"
    if _has_glyph(ARROW):
        draw.text((RATE_LEFT, y), f"{text} {ARROW}", font=font, fill=RATE, anchor="lm")
        return
    draw.text((RATE_LEFT, y), text, font=font, fill=RATE, anchor="lm")
    left, top, right, bottom = font.getbbox("0", anchor="lm")  # digit height, relative to y
    arrow = _arrow(round((bottom - top) * 0.8))
    x = RATE_LEFT + draw.textlength(f"{text} ", font=font)
    draw.bitmap((round(x), round(y - arrow.height / 2 + (top + bottom) / 2)), arrow, fill=RATE)


def funnel_chart_png(title: str, steps: Sequence[tuple[str, int]], *, rates: Sequence[float | None] = (),
                     outcomes: Sequence[tuple[str, int]] = ()) -> bytes:
    """A horizontal funnel: one bar per open stage (the deals that reached it), the step conversion
    rates, then the outcomes (Won, Lost) below a rule, each in its own colour.

    rates[i] is the conversion of step i, written where its rows meet: from stage i to stage i + 1,
    and for the last stage to the first outcome, Won (None: not shown).
    """
    steps, outcomes = list(steps), list(outcomes)
    rows = max(3, len(steps) + len(outcomes))
    gap = OUTCOME_GAP if outcomes else 0
    height = TITLE_HEIGHT + rows * ROW + gap + BOTTOM
    image = Image.new("RGB", (WIDTH, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    title_font, label_font, rate_font = _font(TITLE_SIZE), _font(LABEL_SIZE), _font(RATE_SIZE)

    title_text = _fit(draw, _printable(title), title_font, WIDTH - 2 * PAD)
    draw.text((WIDTH / 2, TITLE_HEIGHT / 2 + 4), title_text, font=title_font, fill=TEXT, anchor="mm")

    widest = max([*(count for _, count in steps + outcomes), 0]) or 1
    bar_span = BAR_RIGHT - BAR_LEFT
    top = TITLE_HEIGHT + (rows - len(steps) - len(outcomes)) * ROW / 2  # fewer than three rows: centred vertically

    def bar(middle: float, name: str, count: int, colour: str) -> None:
        width = max(MIN_BAR, round(bar_span * max(count, 0) / widest))
        left = BAR_LEFT + (bar_span - width) // 2
        draw.rectangle([left, round(middle - BAR_HEIGHT / 2), left + width - 1, round(middle + BAR_HEIGHT / 2) - 1], fill=colour)

        label = _fit(draw, _printable(name), label_font, LABEL_RIGHT - PAD)
        draw.text((LABEL_RIGHT, middle), label, font=label_font, fill=TEXT, anchor="rm")

        number = _printable(count)
        number_width = draw.textlength(number, font=label_font) + 1
        x = min(left + width + COUNT_GAP, WIDTH - PAD - number_width)
        for shift in (0, 1):  # bold by double strike: a 1-pixel stroke closes the counters of 3, 5, 6, 8 at this size
            draw.text((x + shift, middle), number, font=label_font, fill=TEXT, anchor="lm")

    for row, (name, count) in enumerate(steps):
        bar(top + row * ROW + ROW / 2, name, count, BAR)
    outcomes_top = top + len(steps) * ROW + gap
    if outcomes and steps:
        rule = round(outcomes_top - gap / 2)
        draw.line([(PAD, rule), (BAR_RIGHT, rule)], fill=RULE, width=1)
    for row, (name, count) in enumerate(outcomes):
        bar(outcomes_top + row * ROW + ROW / 2, name, count, OUTCOME_BARS.get(name, BAR))

    # a step's rate where its two rows meet; the last stage's step (into Won) only when Won is drawn
    for row, rate in enumerate(rates[: max(len(steps) - (0 if outcomes else 1), 0)]):
        if rate is not None:
            _draw_rate(draw, top + (row + 1) * ROW + (gap / 2 if row + 1 == len(steps) else 0), rate, rate_font)

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def funnel_chart_data(funnel: Funnel, stages: StageModel) -> dict:
    """What the chart draws of a funnel, as JSON-able values (an outbox row's payload): `steps`, the
    open stages with the deals that reached each; `rates`, each step's conversion (the last into
    Won); `outcomes`, Won and Lost with their counts."""
    return {"steps": [(stages.name_of(step.stage_id), step.reached) for step in funnel.steps],
            "rates": [step.rate for step in funnel.steps],
            "outcomes": [("Won", funnel.won), ("Lost", funnel.lost)]}


def chart_from_data(title: str, data: dict) -> bytes:
    """The PNG of `funnel_chart_data` (rows recorded before the outcomes were drawn have none)."""
    return funnel_chart_png(title, [tuple(s) for s in data["steps"]], rates=data["rates"],
                            outcomes=[tuple(o) for o in data.get("outcomes", ())])


def funnel_title(who: str) -> str:
    return f"Funnel: {who}" if who != "you" else "Your funnel"


def chart_title(who: str) -> str:
    """The chart's title: plain text, no mention markup."""
    return funnel_title(who).replace("<@", "@").replace(">", "")


def funnel_chart(who: str, funnel: Funnel, stages: StageModel) -> tuple[str, bytes]:
    """The chart's title and PNG."""
    title = chart_title(who)
    return title, chart_from_data(title, funnel_chart_data(funnel, stages))
