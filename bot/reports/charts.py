"""The funnel chart, drawn with Pillow: a few rectangles and text, no plotting library.

The font: every label (title, stage names, counts, rates, Won and Lost) is set in Noto Sans CJK SC
Regular (version 2.004, SIL Open Font License 1.1), a face of the OpenType collection that the
`noto-cjk-sans-otc` package ships (a declared dependency), loaded from the installed package with
importlib.resources, never from the host's fonts. Why: stages, reps and teams are named in any
script, and this one pan-CJK file draws Chinese (simplified and traditional), Japanese kana and
kanji, Korean, Latin-1 (é, ä, ß, ñ, ø, ç...), the Russian alphabet and the Greek one.
It lacks most of Latin Extended-A (ł, ğ, ş, ő, ą...), the Greek letters with tonos (ά) and the
Cyrillic letters beyond Russian (і, є, ђ...): a letter the font lacks (and only such a letter) is
spelled with letters it has where it can be (its base letter, "ά" -> "α", or a spelling from _FOLD,
"ł" -> "l"); anything else shows as the font's missing-glyph box. Which characters the font has is
asked of the font itself (`_has_glyph`).
If the package's font file is missing, the chart is drawn in the font bundled in Pillow
(``ImageFont.load_default``, a subset of Aileron Regular: ASCII and some punctuation) and a warning
is logged once; the same rule then folds accented letters to their base letters ("é" -> "e"), and
the "→" of the step rates is drawn as a small arrow.

A label too wide for its place is shortened with an ellipsis to the longest run of whole
user-perceived characters that fits, as the font measures it (`_graphemes`: a letter with its
combining marks, an emoji sequence, a flag, a Hangul syllable in jamo are never split): CJK text,
which has no spaces, is cut between characters.

The chart shows one `Funnel` (storage.analytics): a bar per open stage (the deals that reached it),
each step labelled with its conversion ("62% →" between a stage and the next, the last one into Won),
then the outcomes Won and Lost as two bars of their own colours below a rule.

Thread-safe: every call draws on its own image; the only shared state is the cache of fonts and of
which characters the font has, both read-only once built (under the GIL, Pillow holds it for the
whole of each FreeType call); the font file is looked for once, under a lock.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import io
import logging
import threading
import unicodedata
from collections.abc import Sequence
from functools import cache, lru_cache
from typing import cast

from PIL import Image, ImageDraw, ImageFont

from bot.domain.values import N_, Pipeline
from bot.i18n import Translator
from storage.analytics import Funnel

logger = logging.getLogger(__name__)

WIDTH = 770
PAD = 14
TITLE_HEIGHT = 52
BOTTOM = 12
ROW = 66  # one stage; the chart is at least three rows high
BAR_HEIGHT = 46
LABEL_RIGHT = 200  # stage names are right-aligned here, shortened to fit PAD..LABEL_RIGHT
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

# The font: a face of the OpenType collection in the noto-cjk-sans-otc package (faces JP, KR, SC, TC,
# HK, then their Mono faces); SC, the simplified Chinese glyph forms, is found by its name.
FONT_PACKAGE, FONT_FILE, FONT_FACE = "noto_cjk_sans_otc", "NotoSansCJK-Regular.ttc", "Noto Sans CJK SC"
FONT_FACE_INDEX = 2  # where FONT_FACE is in the 0.0.1 collection; the others are looked at if it moves
MAX_FACES = 16

ARROW = "→"
ELLIPSIS = "…"
MAX_TEXT = 400  # user-perceived characters considered before measuring: more never fits the width
MISSING = "\U0010ffff"  # a noncharacter, in no font's cmap: what the font draws for a character it lacks
DROPPED = ("Cc", "Cf", "Cs", "Zl", "Zp")  # controls, format characters (zero-width, direction marks), lone surrogates
# Letters the font may lack that NFKD leaves whole, and their spellings; used only for a letter the font lacks.
_FOLD = {
    "ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O",
    "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "Th", "ı": "i",
    "ħ": "h", "Ħ": "H", "ŧ": "t", "Ŧ": "T", "ŋ": "n", "Ŋ": "N", "ĸ": "k",
    "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "―": "-", "−": "-", "•": "·", "€": "EUR",
}

_font_lock = threading.Lock()
_font_files = contextlib.ExitStack()  # keeps the font file on disk (extracted, if the package is zipped) for the process


def _font_file() -> tuple[str, int] | None:
    """The path of the font file in the installed package and the index of FONT_FACE in it, or None
    (after one warning) when the package or its file is missing: then Pillow's bundled font is used."""
    with _font_lock:
        return _find_font_file()


@cache
def _find_font_file() -> tuple[str, int] | None:
    try:
        resource = importlib.resources.files(FONT_PACKAGE).joinpath(FONT_FILE)
        if resource.is_file():
            path = str(_font_files.enter_context(importlib.resources.as_file(resource)))
            for index in (FONT_FACE_INDEX, *(i for i in range(MAX_FACES) if i != FONT_FACE_INDEX)):
                try:
                    if ImageFont.truetype(path, LABEL_SIZE, index=index).getname()[0] == FONT_FACE:
                        return path, index
                except OSError:  # past the last face of the collection
                    continue
            logger.warning("chart font: no face %r in %s; using Pillow's bundled font", FONT_FACE, path)
            return None
    except (ImportError, OSError) as error:
        logger.warning("chart font: %s/%s unreadable (%s); using Pillow's bundled font", FONT_PACKAGE, FONT_FILE, error)
        return None
    logger.warning("chart font: %s/%s missing (is %s installed?); using Pillow's bundled font, which has only ASCII",
                   FONT_PACKAGE, FONT_FILE, FONT_PACKAGE.replace("_", "-"))
    return None


@cache
def _font(size: int, *, basic: bool = False) -> ImageFont.FreeTypeFont:
    """The chart font at `size` pixels. `basic`: without text shaping (one glyph per character), as
    `_has_glyph` needs it: the shaping engine decomposes a letter the font lacks and draws its parts."""
    found = _font_file()
    if found is None:
        # with a size, load_default is always the FreeType font (typed as either, for the call without one)
        return cast(ImageFont.FreeTypeFont, ImageFont.load_default(size=size))
    path, index = found
    engine = ImageFont.Layout.BASIC if basic else None
    return ImageFont.truetype(path, size, index=index, layout_engine=engine)


def _glyph_key(char: str) -> tuple:
    font = _font(LABEL_SIZE, basic=True)
    mask = font.getmask(char)
    return mask.size, bytes(mask), font.getlength(char)


@lru_cache(maxsize=8192)
def _has_glyph(char: str) -> bool:
    """Whether the chart font draws `char` (rather than its missing-glyph box)."""
    return _glyph_key(char) != _glyph_key(MISSING)


def _spelling(char: str) -> str:
    """`char` if the font has it, else the same letter spelled with characters it has (its base
    letter, or one of _FOLD's spellings), else `char` (the missing-glyph box); a combining mark it
    lacks is left out (its letter is drawn without it)."""
    if _has_glyph(char):
        return char
    if unicodedata.combining(char):
        return ""
    folded = _FOLD.get(char)
    if folded and all(_has_glyph(c) for c in folded):
        return folded
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    if base and base != char and all(_has_glyph(c) for c in base):
        return base
    return char


_REGIONAL = range(0x1F1E6, 0x1F200)
_JAMO_L, _JAMO_VT = range(0x1100, 0x1160), range(0x1160, 0x1200)


def _extends(cluster: str, char: str) -> bool:
    """Whether `char` belongs to the user-perceived character `cluster` (UAX #29's extended grapheme
    clusters, simplified: combining marks, joiners, variation selectors, emoji modifiers and tags,
    regional-indicator pairs, conjoining Hangul jamo)."""
    code, last = ord(char), ord(cluster[-1])
    if unicodedata.category(char) in ("Mn", "Me", "Mc") or char in "\u200c\u200d" or last == 0x200D:
        return True
    if 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF or 0x1F3FB <= code <= 0x1F3FF or 0xE0020 <= code <= 0xE007F:
        return True
    if code in _REGIONAL:
        return len(cluster) == 1 and last in _REGIONAL
    if code in _JAMO_VT:
        return last in _JAMO_L or last in _JAMO_VT or 0xAC00 <= last <= 0xD7A3
    return code in _JAMO_L and last in _JAMO_L


def _graphemes(text: str) -> list[str]:
    """`text` cut into user-perceived characters, none split."""
    clusters: list[str] = []
    for char in text:
        if clusters and _extends(clusters[-1], char):
            clusters[-1] += char
        else:
            clusters.append(char)
    return clusters


def _printable(text: object) -> str:
    """One line, in characters the font has where it can be: composed (NFC: "e" and a combining acute
    are the font's "é"), whitespace runs become one space, controls and format characters are
    dropped, a letter the font lacks is spelled with letters it has (`_spelling`); anything else is
    kept and shows as the font's missing-glyph box. At most MAX_TEXT user-perceived characters, none
    split."""
    raw = str(text)
    cut = len(raw) > 4 * MAX_TEXT
    line = unicodedata.normalize("NFC", " ".join(raw[: 4 * MAX_TEXT].split()))
    kept = "".join(char for char in line if unicodedata.category(char) not in DROPPED)
    clusters = _graphemes(kept)
    if cut and clusters:
        clusters.pop()  # perhaps split by the cut
    text = "".join(clusters[:MAX_TEXT])
    if all(_has_glyph(char) for char in text):
        return text
    return "".join(_spelling(char) for char in text)


def _fit(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: float) -> str:
    """`text`, shortened with an ellipsis if it is wider than `width` pixels: to the longest run of whole
    user-perceived characters that fits with it, as the font measures them."""
    if draw.textlength(text, font=font) <= width:
        return text
    clusters = _graphemes(text)
    low, high = 0, len(clusters)  # the longest prefix that fits with the ellipsis is clusters[:low]
    while low < high:
        middle = (low + high + 1) // 2
        if draw.textlength("".join(clusters[:middle]).rstrip() + ELLIPSIS, font=font) <= width:
            low = middle
        else:
            high = middle - 1
    return "".join(clusters[:low]).rstrip() + ELLIPSIS


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
                     outcomes: Sequence[tuple[str, int]] = (), outcome_colours: Sequence[str] = ()) -> bytes:
    """A horizontal funnel: one bar per open stage (the deals that reached it), the step conversion
    rates, then the outcomes (Won, Lost) below a rule, each in its own colour.

    rates[i] is the conversion of step i, written where its rows meet: from stage i to stage i + 1,
    and for the last stage to the first outcome, Won (None: not shown). An outcome's bar is in
    outcome_colours[i], else in the colour of its name (OUTCOME_BARS: "Won", "Lost").
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
        colour = outcome_colours[row] if row < len(outcome_colours) else OUTCOME_BARS.get(name, BAR)
        bar(outcomes_top + row * ROW + ROW / 2, name, count, colour)

    # a step's rate where its two rows meet; the last stage's step (into Won) only when Won is drawn
    for row, rate in enumerate(rates[: max(len(steps) - (0 if outcomes else 1), 0)]):
        if rate is not None:
            _draw_rate(draw, top + (row + 1) * ROW + (gap / 2 if row + 1 == len(steps) else 0), rate, rate_font)

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def funnel_chart_data(funnel: Funnel, stages: Pipeline) -> dict:
    """What the chart draws of a funnel, as JSON-able values (an outbox row's payload): `steps`, the
    open stages with the deals that reached each; `rates`, each step's conversion (the last into
    Won); `outcomes`, Won and Lost with their counts (named in English, the catalogue's msgids: the
    chart writes them in its reader's language, `chart_from_data`)."""
    return {"steps": [(stages.name_of(step.stage_id), step.reached) for step in funnel.steps],
            "rates": [step.rate for step in funnel.steps],
            "outcomes": [(WON_LABEL, funnel.won), (LOST_LABEL, funnel.lost)]}


WON_LABEL, LOST_LABEL = N_("Won"), N_("Lost")


def chart_from_data(title: str, data: dict, *, t: Translator) -> bytes:
    """The PNG of `funnel_chart_data` (rows recorded before the outcomes were drawn have none), its
    outcomes named in t's language and coloured as Won and Lost."""
    outcomes = [tuple(o) for o in data.get("outcomes", ())]
    return funnel_chart_png(title, [tuple(s) for s in data["steps"]], rates=data["rates"],
                            outcomes=[(t(name), count) for name, count in outcomes],
                            outcome_colours=[OUTCOME_BARS.get(name, BAR) for name, _ in outcomes])


# whose figures, when they aren't a person's mention or a team's name: the person who asked, every deal
YOU, THE_WORKSPACE = N_("you"), N_("the workspace")


def who_text(who: str, t: Translator) -> str:
    """`who` in t's language: "you" and "the workspace" translated, a mention or a team's name as it is."""
    return t(who) if who in (YOU, THE_WORKSPACE) else who


def funnel_title(who: str, *, t: Translator) -> str:
    """ "Your funnel", or "Funnel: <who>" (a person's mention, a team's name)."""
    return t("Your funnel") if who == YOU else t("Funnel: {who}", who=who_text(who, t))


def chart_title(who: str, *, t: Translator) -> str:
    """The chart's title: plain text, no mention markup."""
    return funnel_title(who, t=t).replace("<@", "@").replace(">", "")


def funnel_chart(who: str, funnel: Funnel, stages: Pipeline, *, t: Translator) -> tuple[str, bytes]:
    """The chart's title and PNG."""
    title = chart_title(who, t=t)
    return title, chart_from_data(title, funnel_chart_data(funnel, stages), t=t)
