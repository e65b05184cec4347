"""The funnel chart PNG (bot/reports/charts.py): pure rendering, no Slack, no database.

The checks read pixels back rather than trusting the drawing code: bars are found as runs of the bar
colour down the chart's centre line, and text by comparing two renderings that differ in one input.
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image, ImageChops, ImageDraw

from bot.i18n import ENGLISH, translator
from bot.reports import charts
from bot.reports.charts import _fit, _font, _graphemes, chart_from_data, funnel_chart_png

EN = translator(ENGLISH)

BAR = (0x1D, 0x4F, 0x91)
WHITE = (255, 255, 255)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
STAGES = [("Lead", 120), ("Qualified", 80), ("Proposal", 40), ("Negotiation", 20), ("Won", 10)]


def decode(png: bytes) -> Image.Image:
    assert png[:8] == PNG_SIGNATURE
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG"
    return image.convert("RGB")


def render(steps, rates=(), title="Team: funnel") -> Image.Image:
    return decode(funnel_chart_png(title, steps, rates=rates))


def bar_runs(image: Image.Image) -> list[tuple[int, int]]:
    """(top, bottom) of each bar, found down the centre column of the bars (every bar is centred there)."""
    x = centre_x(image)
    runs, start = [], None
    for y in range(image.height):
        if image.getpixel((x, y)) == BAR:
            start = y if start is None else start
        elif start is not None:
            runs.append((start, y - 1))
            start = None
    if start is not None:
        runs.append((start, image.height - 1))
    return runs


def centre_x(image: Image.Image) -> int:
    """The x of the bars' common centre: the middle of the widest run of bar colour in any row."""
    best = (0, 0)
    for y in range(image.height):
        xs = [x for x in range(image.width) if image.getpixel((x, y)) == BAR]
        if xs and xs[-1] - xs[0] > best[1] - best[0]:
            best = (xs[0], xs[-1])
    assert best != (0, 0), "no bar drawn"
    return (best[0] + best[1]) // 2


def bar_widths(image: Image.Image) -> list[int]:
    """Pixels of bar colour along a row through the middle of each bar."""
    return [sum(1 for x in range(image.width) if image.getpixel((x, (top + bottom) // 2)) == BAR)
            for top, bottom in bar_runs(image)]


def differing_box(a: Image.Image, b: Image.Image):
    assert a.size == b.size
    return ImageChops.difference(a, b).getbbox()


def test_png_with_expected_width_and_height_growing_with_stages():
    sizes = {n: render(STAGES[:n] if n <= 5 else [(f"Stage {i}", 100 - i) for i in range(n)]).size for n in (0, 1, 3, 4, 5, 12)}
    assert {width for width, _ in sizes.values()} == {770}
    heights = {n: height for n, (_, height) in sizes.items()}
    assert heights[0] == heights[1] == heights[3]  # three rows at least
    assert heights[3] < heights[4] < heights[5] < heights[12]
    per_row = heights[5] - heights[4]
    assert 55 <= per_row <= 80
    assert heights[12] - heights[3] == 9 * per_row
    assert 3 * per_row < heights[3] < 3 * per_row + 120  # plus the title


def test_white_background_and_one_bar_per_stage():
    image = render(STAGES, rates=[0.66, 0.5, 0.5, 0.5])
    assert image.getpixel((0, 0)) == WHITE and image.getpixel((image.width - 1, image.height - 1)) == WHITE
    runs = bar_runs(image)
    assert len(runs) == len(STAGES)
    tops = [top for top, _ in runs]
    assert tops == sorted(tops)
    gaps = {b - a for a, b in zip(tops, tops[1:])}
    assert len(gaps) == 1 and 55 <= gaps.pop() <= 80  # evenly spaced rows
    assert all(25 <= bottom - top + 1 <= 60 for top, bottom in runs)


def test_bar_widths_are_proportional_to_counts():
    image = render([("All", 200), ("Half", 100), ("Quarter", 50), ("One", 1)])
    full, half, quarter, one = bar_widths(image)
    assert full > 250  # most of the width is for bars
    assert abs(full - 2 * half) <= 2 and abs(half - 2 * quarter) <= 2
    assert 1 <= one <= 4


def test_bars_are_centred_into_a_funnel():
    image = render(STAGES)
    lefts_rights = []
    for top, bottom in bar_runs(image):
        xs = [x for x in range(image.width) if image.getpixel((x, (top + bottom) // 2)) == BAR]
        lefts_rights.append((xs[0], xs[-1]))
    centres = [(left + right) / 2 for left, right in lefts_rights]
    assert max(centres) - min(centres) <= 1
    assert [left for left, _ in lefts_rights] == sorted(left for left, _ in lefts_rights)


def test_zero_counts_still_show_a_sliver():
    image = render([("Lead", 0), ("Won", 0), ("Lost", 0)])
    widths = bar_widths(image)
    assert len(widths) == 3 and all(1 <= width <= 4 for width in widths)
    mixed = bar_widths(render([("Lead", 10), ("Won", 0)]))
    assert mixed[0] > 100 and 1 <= mixed[1] <= 4


def test_empty_steps_is_just_the_title():
    image = render([], title="Nothing yet")
    assert image.width == 770
    assert not any(image.getpixel((x, y)) == BAR for x in range(0, image.width, 3) for y in range(0, image.height, 3))
    top_half = image.crop((0, 0, image.width, 60))
    assert top_half.getbbox() is not None and ImageChops.invert(top_half).getbbox() is not None  # the title is drawn
    assert render([], title="Other").tobytes() != image.tobytes()


def test_a_single_step():
    image = render([("Lead", 7)], rates=[0.5])  # a rate with no row below it is not drawn
    assert len(bar_runs(image)) == 1
    assert image.tobytes() == render([("Lead", 7)]).tobytes()


def test_twelve_steps():
    steps = [(f"Stage number {i}", 12 - i) for i in range(12)]
    image = render(steps, rates=[(11 - i) / (12 - i) for i in range(11)])
    widths = bar_widths(image)
    assert len(widths) == 12
    assert widths == sorted(widths, reverse=True)
    assert abs(widths[0] - 2 * widths[6]) <= 2


@pytest.mark.parametrize("name", [
    "A very long stage name that goes on and on well past the label column " * 5,
    "W" * 500,
    "Négociation très avancée über Ångström — ß ø ł",
    "見積もり 提出済み",
    "emoji 🚀 stage",
    "line\nbreak\ttab\r\x00nul \u200b zero-width \u202e rtl",
    "",
])
def test_long_and_unicode_names_stay_inside_the_label_column(name):
    image = render([(name, 30), ("Won", 12)], rates=[0.4])
    assert len(bar_runs(image)) == 2
    plain = render([("", 30), ("Won", 12)], rates=[0.4])
    box = differing_box(image, plain)
    if name.strip():
        assert box is not None
        left, top, right, bottom = box
        assert left >= 8  # not clipped at the left edge
        bar_left = min(x for x in range(image.width) if image.getpixel((x, (top + bottom) // 2)) == BAR)
        assert right <= bar_left  # nor drawn over the bar


def test_long_names_are_cut_with_an_ellipsis_to_fill_the_label_column():
    draw = ImageDraw.Draw(Image.new("RGB", (10, 10)))
    font = _font(15)
    assert _fit(draw, "Lead", font, 180) == "Lead"
    cut = _fit(draw, "Lead" + " qualification" * 20, font, 180)
    assert cut.endswith("…") and cut.startswith("Lead qualification") and draw.textlength(cut, font=font) <= 180
    ws = _fit(draw, "W" * 500, font, 180)
    kept = len(ws) - 1
    assert ws == "W" * kept + "…" and kept > 5
    assert draw.textlength("W" * (kept + 1) + "…", font=font) > 180  # as much as fits
    # In the chart: the same cut whatever the excess, and it reaches across the label column.
    long_name = render([("Lead" + " qualification" * 20, 5)])
    assert long_name.tobytes() == render([("Lead" + " qualification" * 40, 5)]).tobytes()
    assert long_name.tobytes() != render([("Lead", 5)]).tobytes()
    left, _, right, _ = differing_box(long_name, render([("", 5)]))
    assert 8 <= left <= 40 and right - left > 150


def test_accented_letters_are_drawn_with_their_accents():
    # Latin-1 letters are in the font: drawn as they are spelled, not folded to their base letters.
    assert render([("Négociation", 3)]).tobytes() != render([("Negociation", 3)]).tobytes()
    assert render([("Ärger", 3)]).tobytes() != render([("Arger", 3)]).tobytes()
    assert charts._printable("Négociation Ärger São Zürich Ñandú Ça ß ø æ") == "Négociation Ärger São Zürich Ñandú Ça ß ø æ"


def test_a_letter_the_font_lacks_is_spelled_with_letters_it_has():
    # Noto Sans CJK lacks most of Latin Extended-A and the Greek tonos: their base letters, not boxes.
    assert charts._printable("Łódź") == "Lódz"
    assert charts._printable("Διαπραγμάτευση") == "Διαπραγματευση"
    assert charts._printable("a\x00b\u202ec\u200bd\ud800e") == "abcde"  # controls, format characters, lone surrogates
    assert charts._printable("Ne\u0301gociation") == "Négociation"  # composed: the font's own é
    assert charts._printable("e\u0328 x\u0328") == "e x"  # an ogonek the font lacks: the letter without it


# --- Every script: the font's cmap, read here from the font file itself ---

def font_cmap() -> set[int]:
    """The code points of the chart font's face, from the cmap table of its file (an OpenType
    collection or a single font), read without the drawing code."""
    found = charts._font_file()
    assert found is not None, "the chart font package is not installed"
    path, index = found
    with open(path, "rb") as file:
        data = file.read()
    offset = struct.unpack_from(">12xI", data, 4 * index)[0] if data[:4] == b"ttcf" else 0
    tables = {data[offset + 12 + 16 * i: offset + 16 + 16 * i]: struct.unpack_from(">4xI", data, offset + 16 + 16 * i)[0]
              for i in range(struct.unpack_from(">H", data, offset + 4)[0])}
    cmap = tables[b"cmap"]
    subtables = {struct.unpack_from(">HH", data, cmap + 4 + 8 * i): cmap + struct.unpack_from(">I", data, cmap + 8 + 8 * i)[0]
                 for i in range(struct.unpack_from(">H", data, cmap + 2)[0])}
    codes: set[int] = set()
    at = subtables.get((3, 10)) or subtables.get((0, 4))
    if at is not None:  # format 12: groups of (first, last, glyph)
        assert struct.unpack_from(">H", data, at)[0] == 12
        for i in range(struct.unpack_from(">I", data, at + 12)[0]):
            first, last, _ = struct.unpack_from(">III", data, at + 16 + 12 * i)
            codes.update(range(first, last + 1))
        return codes
    at = subtables[(3, 1)]  # format 4: segments (end, start, delta, range offset)
    assert struct.unpack_from(">H", data, at)[0] == 4
    segments = struct.unpack_from(">H", data, at + 6)[0] // 2
    ends = struct.unpack_from(f">{segments}H", data, at + 14)
    starts = struct.unpack_from(f">{segments}H", data, at + 16 + 2 * segments)
    deltas = struct.unpack_from(f">{segments}h", data, at + 16 + 4 * segments)
    offsets_at = at + 16 + 6 * segments
    for i, (start, end) in enumerate(zip(starts, ends)):
        range_offset = struct.unpack_from(">H", data, offsets_at + 2 * i)[0]
        for code in range(start, end + 1):
            glyph = (code + deltas[i]) & 0xFFFF if range_offset == 0 else struct.unpack_from(">H", data, offsets_at + 2 * i + range_offset + 2 * (code - start))[0]
            if glyph and code != 0xFFFF:
                codes.add(code)
    return codes


@pytest.fixture
def drawn(monkeypatch):
    """The text of every draw.text call made while the test runs, with the font it was drawn in."""
    calls: list[tuple[str, object]] = []
    original = ImageDraw.ImageDraw.text

    def text(self, xy, text, fill=None, font=None, *args, **kwargs):
        calls.append((text, font))
        return original(self, xy, text, fill, font, *args, **kwargs)

    monkeypatch.setattr(ImageDraw.ImageDraw, "text", text)
    return calls


LONG_CHINESE = ("初步接触需求确认方案设计商务谈判" * 10)[:150]
SCRIPTS = {
    "简体中文": ("销售漏斗：华东团队 张伟、王芳", [("初步接触", 120), ("需求确认", 80), ("方案设计", 40), ("商务谈判", 20)]),
    "繁體中文": ("銷售漏斗：台北團隊 陳美玲", [("初步接觸", 50), ("需求確認", 30), ("方案設計", 12)]),
    "日本語": ("営業ファネル：さとう ひろし", [("ひらがな かたかな", 9), ("カタカナ・ハンドオフ", 7), ("見積もり 提出済み", 3)]),
    "한국어": ("영업 퍼널: 김민준", [("첫 접촉", 12), ("협상", 4)]),
    "Русский": ("Воронка: Ёлкина Юлия", [("Первичный контакт", 40), ("Переговоры", 20), ("Счёт выставлен", 5)]),
    "Ελληνικά": ("ΠΩΛΗΣΕΙΣ: ΕΛΕΝΗ ΠΑΠΑΔΟΠΟΥΛΟΥ", [("Επαφη", 20), ("Προσφορα", 10), ("Διαπραγμάτευση", 4)]),
    "Latin": ("Funnel: Zoë Dupré-Øster, Ñandú & Søren", [("Négociation très avancée", 9), ("Ärger über Ångström", 6), ("Ça va, São Paulo? ß æ œ ç", 3)]),
    "long": ("长的名字", [(LONG_CHINESE, 30), ("赢单", 12)]),
}


def test_every_label_in_every_script_is_drawn_with_glyphs_the_font_has(drawn):
    cmap = font_cmap()
    assert len(cmap) > 40_000  # a pan-CJK font
    for script, (title, steps) in SCRIPTS.items():
        count = len(drawn)
        decode(funnel_chart_png(title, steps, rates=[0.5] * len(steps), outcomes=[("Won", 2), ("Lost", 1)]))
        texts = [text for text, _ in drawn[count:]]
        assert len(texts) == 1 + 3 * len(steps) + 3 * 2 + len(steps)  # the title; name and count (twice) per bar; the rates
        labels = [title, *(name for name, _ in steps if name != LONG_CHINESE), "Won", "Lost"]
        if script != "Ελληνικά":  # every label drawn as it is spelled (the Greek tonos is dropped: the font lacks it)
            assert all(label in texts for label in labels), (script, texts)
        else:
            assert "Διαπραγματευση" in texts and title in texts
    fonts = {id(font) for _, font in drawn}
    assert fonts == {id(_font(charts.TITLE_SIZE)), id(_font(charts.LABEL_SIZE)), id(_font(charts.RATE_SIZE))}
    characters = {char for text, _ in drawn for char in text}
    missing = {char for char in characters if ord(char) not in cmap}
    assert not missing, sorted(missing)
    # And as drawn: no character renders as the glyph the font draws for a code point it lacks.
    notdef = charts._glyph_key(charts.MISSING)
    assert not [char for char in characters if charts._glyph_key(char) == notdef]
    assert len(characters) > 150
    assert {"接", "ひ", "カ", "협", "Ё", "Ω", "é", "Å", "ß", "…", "→", "%"} <= characters  # CJK, kana, Hangul, Cyrillic, Greek, Latin-1


def test_charts_in_other_scripts_keep_the_image_size():
    for title, steps in SCRIPTS.values():
        ascii_steps = [(f"Stage {i}", count) for i, (_, count) in enumerate(steps)]
        kwargs = dict(rates=[0.5] * len(steps), outcomes=[("Won", 2), ("Lost", 1)])
        assert decode(funnel_chart_png(title, steps, **kwargs)).size == decode(funnel_chart_png("Funnel", ascii_steps, **kwargs)).size


def test_a_long_chinese_name_is_cut_between_characters_to_fit_its_column(drawn):
    image = render([(LONG_CHINESE, 30), ("赢单", 12)])
    label = next(text for text, _ in drawn if text.endswith("…"))
    kept = label[:-1]
    assert 5 < len(kept) < 20 and LONG_CHINESE.startswith(kept)  # whole characters, from the start
    font = _font(charts.LABEL_SIZE)
    width = charts.LABEL_RIGHT - charts.PAD
    assert font.getlength(label) <= width < font.getlength(LONG_CHINESE[: len(kept) + 1] + "…")  # as much as fits
    left, top, right, bottom = differing_box(image, render([("", 30), ("赢单", 12)]))
    assert left >= charts.PAD - 2 and right <= charts.LABEL_RIGHT + 1  # inside the label column, clear of the bar
    # a title too: cut between characters, inside the image
    title = "销售漏斗" * 40
    drawn.clear()
    render([("A", 1)], title=title)
    cut = drawn[0][0]
    assert cut.endswith("…") and title.startswith(cut[:-1]) and _font(charts.TITLE_SIZE).getlength(cut) <= charts.WIDTH - 2 * charts.PAD


@pytest.mark.parametrize("text, cluster", [
    ("e\u0301" * 200, "e\u0301"),  # a letter and its combining accent
    ("a\u0308\u0323" * 200, "a\u0308\u0323"),  # two marks
    ("\U0001F468\u200d\U0001F469\u200d\U0001F467" * 50, "\U0001F468\u200d\U0001F469\u200d\U0001F467"),  # a ZWJ emoji sequence
    ("\U0001F1EB\U0001F1F7" * 100, "\U0001F1EB\U0001F1F7"),  # a flag: two regional indicators
    ("\U0001F44D\U0001F3FD" * 100, "\U0001F44D\U0001F3FD"),  # an emoji and its skin tone
    ("\u1100\u1161\u11a8" * 100, "\u1100\u1161\u11a8"),  # a Hangul syllable in conjoining jamo
    ("が" * 200, "が"),
])
def test_shortening_never_splits_a_user_perceived_character(text, cluster):
    assert _graphemes(text) == [cluster] * (len(text) // len(cluster))
    draw = ImageDraw.Draw(Image.new("RGB", (10, 10)))
    cut = _fit(draw, text, _font(15), 120)
    assert cut.endswith("…") and len(cut) > 1
    kept = cut[:-1]
    assert kept == cluster * (len(kept) // len(cluster))  # whole clusters only
    assert draw.textlength(cut, font=_font(15)) <= 120


def test_the_font_is_loaded_from_the_package_once_per_size():
    path, index = charts._font_file()
    assert "noto_cjk_sans_otc" in path and path.endswith("NotoSansCJK-Regular.ttc")
    assert _font(15).getname() == ("Noto Sans CJK SC", "Regular") and _font(15) is _font(15)
    assert _font(18) is not _font(15) and _font(18).size == 18


def test_without_the_font_package_the_bundled_font_is_used_with_one_warning():
    code = """
import logging, sys
import bot.reports.charts as charts
records = []
class Keep(logging.Handler):
    def emit(self, record): records.append(record)
logging.getLogger(charts.__name__).addHandler(Keep())
charts.FONT_PACKAGE = "no_such_font_package"
one = charts.funnel_chart_png("Négociation", [("Négociation", 3)])
two = charts.funnel_chart_png("Negociation", [("Negociation", 3)])
assert one == two, "accents folded with the bundled font"
assert charts._font(15).getname()[0] != "Noto Sans CJK SC"
charts.funnel_chart_png("初步接触", [("初步接触", 3)])
assert [r.levelname for r in records] == ["WARNING"], records
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_rates_are_drawn_only_where_given_in_the_right_hand_column():
    steps = STAGES[:4]
    none = render(steps, rates=[None, None, None])
    assert none.tobytes() == render(steps).tobytes() == render(steps, rates=[]).tobytes()
    one = render(steps, rates=[None, 0.61, None])
    box = differing_box(none, one)
    assert box is not None
    left, top, right, bottom = box
    runs = bar_runs(none)
    assert runs[1][1] < (top + bottom) / 2 < runs[2][0]  # between the second and third rows
    widest_bar_right = max(x for x in range(none.width) if none.getpixel((x, (runs[0][0] + runs[0][1]) // 2)) == BAR)
    assert left > widest_bar_right + 40 and right < none.width  # at the right, clear of the bars and counts
    darkest = {low for low, _ in one.crop(box).getextrema()}
    assert len(darkest) == 1 and 0x40 <= darkest.pop() <= 0x70  # grey #555555 text, nothing darker or coloured
    # Each rate shows up in its own gap; a None leaves its gap untouched.
    all_three = render(steps, rates=[0.61, 0.5, 0.25])
    for gap, (above, below) in enumerate(zip(runs, runs[1:])):
        y0, y1 = above[1] + 1, below[0]
        strip = (widest_bar_right + 1, y0, none.width, y1)
        assert ImageChops.difference(none.crop(strip), all_three.crop(strip)).getbbox() is not None, gap
    assert differing_box(render(steps, rates=[0.61, None, None]), render(steps, rates=[0.61, 0.5, None])) is not None


def test_rate_text_depends_on_the_value():
    steps = STAGES[:2]
    assert render(steps, rates=[0.61]).tobytes() != render(steps, rates=[0.62]).tobytes()
    assert render(steps, rates=[0.0]).tobytes() != render(steps, rates=[None]).tobytes()


def test_counts_are_written_right_of_their_bars():
    image = render([("Lead", 1000), ("Won", 500)])
    other = render([("Lead", 1000), ("Won", 501)])  # the same bar, another number
    box = differing_box(image, other)
    assert box is not None
    runs = bar_runs(image)
    row = runs[1]
    y = (row[0] + row[1]) // 2
    bar_right = max(x for x in range(image.width) if image.getpixel((x, y)) == BAR)
    left, top, right, bottom = box
    assert bar_right < left < bar_right + 30 and row[0] <= top and bottom <= row[1] + 1
    # Even an absurd count stays inside the image.
    huge = render([("Lead", 10**15), ("Won", 1)])
    assert all(huge.getpixel((huge.width - 1, y)) == WHITE for y in range(huge.height))


def test_deterministic_and_safe_from_threads():
    cases = [(f"Team {i}: funnel", [(f"S{j}", (i + 1) * (j + 1)) for j in range(i % 7 + 1)], [0.5] * (i % 7)) for i in range(16)]
    expected = [funnel_chart_png(title, steps, rates=rates) for title, steps, rates in cases]
    assert expected == [funnel_chart_png(title, steps, rates=rates) for title, steps, rates in cases]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda case: funnel_chart_png(case[0], case[1], rates=case[2]), cases * 4))
    assert got == expected * 4


WON_BAR, LOST_BAR = (0x2E, 0x7D, 0x32), (0x9E, 0x9E, 0x9E)
OPEN_STAGES = [("Lead", 5), ("Qualified", 4), ("Negotiation", 2)]


def rows_of(image: Image.Image, colour: tuple) -> list[tuple[int, int]]:
    """(top, bottom) of the runs of `colour` down the bars' centre column."""
    x = centre_x(image)
    ys = [y for y in range(image.height) if image.getpixel((x, y)) == colour]
    runs: list[tuple[int, int]] = []
    for y in ys:
        if runs and y == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], y)
        else:
            runs.append((y, y))
    return runs


def test_won_and_lost_are_outcome_bars_below_the_open_stages():
    image = decode(funnel_chart_png("T", OPEN_STAGES, rates=[0.8, 0.5, 1.0], outcomes=[("Won", 2), ("Lost", 1)]))
    open_rows, won, lost = bar_runs(image), rows_of(image, WON_BAR), rows_of(image, LOST_BAR)
    assert len(open_rows) == 3 and len(won) == 1 and len(lost) == 1  # Won and Lost are not stage bars
    assert open_rows[-1][1] < won[0][0] < lost[0][0]
    assert won[0][0] - open_rows[-1][1] > open_rows[1][0] - open_rows[0][1]  # set apart by the rule's gap
    # the last stage's step into Won is labelled; without outcomes it has nothing to point at
    without_last_rate = decode(funnel_chart_png("T", OPEN_STAGES, rates=[0.8, 0.5, None], outcomes=[("Won", 2), ("Lost", 1)]))
    left, top, right, bottom = differing_box(image, without_last_rate)
    assert open_rows[-1][1] < (top + bottom) / 2 < won[0][0] and left > 600
    assert render(OPEN_STAGES, rates=[0.8, 0.5, 1.0]).tobytes() == render(OPEN_STAGES, rates=[0.8, 0.5]).tobytes()


def test_chart_data_without_outcomes_still_draws():
    """Chart rows recorded before the outcomes were part of the data draw as they did (the stages and rates)."""
    old = {"steps": [["Lead", 5], ["Won", 2]], "rates": [0.4]}
    assert chart_from_data("T", old, t=EN) == funnel_chart_png("T", [("Lead", 5), ("Won", 2)], rates=[0.4])


def test_the_app_does_not_import_matplotlib():
    code = "import sys, bot.app, bot.cli, bot.reports.charts; sys.exit('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
