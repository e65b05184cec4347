"""The message catalogue (bot/i18n): every string the code writes through a Translator has its Simplified Chinese,
with the same placeholders, and the compiled .mo that ships is the .po's."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.i18n import LOCALE_DIR, Translator

ROOT = Path(__file__).resolve().parent.parent
PO = LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "oppbot.po"
KEYWORDS = {"t": None, "plural": (1, 2), "N_": None}
PLACEHOLDER = re.compile(r"\{(\w*)[^{}]*\}")


def extracted() -> dict[str, str | None]:
    """msgid -> msgid_plural (None for a singular message) of every message in bot/ and handlers/."""
    found: dict[str, str | None] = {}
    for folder in ("bot", "handlers"):
        for _, _, message, _, _ in extract_from_dir(ROOT / folder, method_map=[("**.py", "python")], keywords=KEYWORDS):
            if isinstance(message, tuple):
                found[message[0]] = message[1]
            else:
                found.setdefault(message, None)
    return found


def catalogue():
    with PO.open("rb") as file:
        return read_po(file, locale="zh_CN")


def test_every_message_has_its_chinese():
    po = catalogue()
    missing = []
    for msgid, plural in extracted().items():
        entry = po.get(msgid)
        strings = () if entry is None else (entry.string if isinstance(entry.string, tuple) else (entry.string,))
        if entry is None or entry.fuzzy or not all(strings) or (plural is not None and not isinstance(entry.id, tuple)):
            missing.append(msgid)
    assert not missing, f"{len(missing)} messages lack their zh-CN translation (run `make messages`, then translate): {missing[:20]}"


def test_translations_keep_the_placeholders():
    wrong = []
    for entry in catalogue():
        if not entry.id:
            continue
        ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        wanted = set(PLACEHOLDER.findall(ids[-1]))
        for text in strings:
            if text and set(PLACEHOLDER.findall(text)) != wanted:
                wrong.append((ids[0], text))
    assert not wrong, wrong[:10]


def test_the_shipped_mo_is_the_po_compiled():
    mo = LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "oppbot.mo"
    with mo.open("rb") as file:
        compiled = gettext.GNUTranslations(file)
    stale = []
    for entry in catalogue():
        if not entry.id or entry.fuzzy:
            continue
        if isinstance(entry.id, tuple):
            if compiled.ngettext(entry.id[0], entry.id[1], 1) != entry.string[0]:
                stale.append(entry.id[0])
        elif compiled.gettext(entry.id) != entry.string:
            stale.append(entry.id)
    assert not stale, f"the .mo is older than the .po (run `make messages`): {stale[:10]}"


def test_a_chinese_reader_gets_the_catalogues_words_and_an_english_one_the_source():
    po = catalogue()
    entry = next((e for e in po if e.id and not isinstance(e.id, tuple) and "{" not in e.id and e.string), None)
    if entry is None:
        return  # an empty catalogue: nothing to read yet
    assert Translator("zh-CN")(entry.id) == entry.string
    assert Translator("en")(entry.id) == entry.id
