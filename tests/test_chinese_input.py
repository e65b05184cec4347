"""Unit tests for Chinese input (issue #15, point 3): NFKC before parsing, Chinese follow-up times, amounts with
units and currency signs, stages by a part of their name, Chinese subcommands. Pure: no Slack, no database."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from bot.deals.forms import FormChoices, currencies_for, parse_amount, parse_close_date, parse_money, validate_new_opportunity
from bot.deals.views import EN
from bot.domain.normalize import for_parsing, for_parsing_with_offsets
from bot.domain.periods import parse_period
from bot.domain.stages import resolve_stage
from bot.domain.values import Invalid, Pipeline, StageInfo
from bot.domain.when import WhenError, parse_when
from bot.slack.commands import Command, CommandError, parse, parse_ref

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)  # Tuesday 2026-12-01, 17:00 in Shanghai


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI).astimezone(timezone.utc)


# --------------------------------------------------------------------------- NFKC


@pytest.mark.parametrize("typed, read", [
    ("３", "3"), ("ＯＰＰ－２", "OPP-2"), ("stage：", "stage:"), ("１２，５００．５０", "12,500.50"), ("（）／", "()/"),
    ("￥", "¥"), ("\u3000", " "), ("abc", "abc"),
])
def test_for_parsing_folds_full_width_forms(typed, read):
    assert for_parsing(typed) == read


def test_offsets_lead_back_to_the_text_as_typed():
    folded, offsets = for_parsing_with_offsets("㈱ＡＢ")
    assert folded == "(株)AB"
    assert offsets == [0, 0, 0, 1, 2, 3]


# --------------------------------------------------------------------------- parse_when, Chinese


@pytest.mark.parametrize("text, due, rest", [
    ("明天上午9点回电话", local(2026, 12, 2, 9, 0), "回电话"),
    ("明天上午9点 回电话", local(2026, 12, 2, 9, 0), "回电话"),
    ("明天9点", local(2026, 12, 2, 9, 0), ""),
    ("今晚8点 发报价", local(2026, 12, 1, 20, 0), "发报价"),
    ("今天下午5点半约客户", local(2026, 12, 1, 17, 30), "约客户"),
    ("后天", local(2026, 12, 3, 9, 0), ""),
    ("大后天晚上8点", local(2026, 12, 4, 20, 0), ""),
    ("下周一开会", local(2026, 12, 7, 9, 0), "开会"),
    ("下星期三", local(2026, 12, 9, 9, 0), ""),
    ("下周日", local(2026, 12, 13, 9, 0), ""),
    ("这周五", local(2026, 12, 4, 9, 0), ""),
    ("周五下午 演示", local(2026, 12, 4, 14, 0), "演示"),
    ("星期三", local(2026, 12, 2, 9, 0), ""),
    ("礼拜天上午", local(2026, 12, 6, 9, 0), ""),
    ("周二", local(2026, 12, 8, 9, 0), ""),  # today is Tuesday: the next one, as "tuesday" is
    ("3天后跟进", local(2026, 12, 4, 17, 0), "跟进"),
    ("三天后", local(2026, 12, 4, 17, 0), ""),
    ("两周后", local(2026, 12, 15, 17, 0), ""),
    ("3天后上午10点 复盘", local(2026, 12, 4, 10, 0), "复盘"),
    ("2小时后", local(2026, 12, 1, 19, 0), ""),
    ("半小时后打电话", local(2026, 12, 1, 17, 30), "打电话"),
    ("半个小时后", local(2026, 12, 1, 17, 30), ""),
    ("1个半小时后", local(2026, 12, 1, 18, 30), ""),
    ("十分钟后", local(2026, 12, 1, 17, 10), ""),
    ("12月3日 14:00 评审合同", local(2026, 12, 3, 14, 0), "评审合同"),
    ("12月3号", local(2026, 12, 3, 9, 0), ""),
    ("十二月三日下午三点", local(2026, 12, 3, 15, 0), ""),
    ("1月5日", local(2027, 1, 5, 9, 0), ""),  # passed this year: next year's
    ("2027年1月5日", local(2027, 1, 5, 9, 0), ""),
    ("15号", local(2026, 12, 15, 9, 0), ""),
    ("3号下午", local(2026, 12, 3, 14, 0), ""),
    ("1号晚上8点", local(2026, 12, 1, 20, 0), ""),  # today is the 1st
    ("下午2点30分", local(2026, 12, 2, 14, 30), ""),  # already past today: tomorrow's
    ("晚上8点", local(2026, 12, 1, 20, 0), ""),
    ("十点", local(2026, 12, 2, 10, 0), ""),
    ("明天十点半", local(2026, 12, 2, 10, 30), ""),
    ("明天9点15分", local(2026, 12, 2, 9, 15), ""),
    ("明天9点一刻", local(2026, 12, 2, 9, 15), ""),
    ("明天14时", local(2026, 12, 2, 14, 0), ""),
    ("明天中午12点", local(2026, 12, 2, 12, 0), ""),
    ("明天中午1点", local(2026, 12, 2, 13, 0), ""),
    ("明天晚上12点", local(2026, 12, 3, 0, 0), ""),  # midnight, at the end of the day
    ("明早", local(2026, 12, 2, 9, 0), ""),
    ("明晚7点", local(2026, 12, 2, 19, 0), ""),
    ("二十三点", local(2026, 12, 1, 23, 0), ""),
    ("明天 9am 回电话", local(2026, 12, 2, 9, 0), "回电话"),
    ("明天9:30回电话", local(2026, 12, 2, 9, 30), "回电话"),
    ("明天，回电话", local(2026, 12, 2, 9, 0), "回电话"),
    ("2026-12-03 下午3点 review", local(2026, 12, 3, 15, 0), "review"),
    ("１２月３日　１４：００ 评审", local(2026, 12, 3, 14, 0), "评审"),  # full width and the ideographic space
    ("明天上午9点 Ａｃｍｅ回访", local(2026, 12, 2, 9, 0), "Ａｃｍｅ回访"),  # the task is kept as typed
])
def test_chinese_moments(text, due, rest):
    when = parse_when(text, NOW, "Asia/Shanghai")
    assert (when.at, when.rest) == (due, rest)


def test_chinese_moments_are_read_in_the_users_time_zone():
    when = parse_when("明天上午9点 回电话", NOW, "America/Los_Angeles")  # 01:00 on Dec 1 in Los Angeles
    assert when.at == datetime(2026, 12, 2, 9, 0, tzinfo=ZoneInfo("America/Los_Angeles")).astimezone(timezone.utc)


@pytest.mark.parametrize("text, message", [
    ("明天25点回电话", "“25点” is not a time of day."),
    ("明天9点61分", "“9点61分” is not a time of day."),
    ("上午15点", "“上午15点” is not a time of day: 上午 is before noon."),
    ("13月5日", "“13月5日” is not a real date."),
    ("2月30日", "“2月30日” is not a real date."),
    ("32号", "“32号” is not a real date."),
    ("今天上午9点 回电话", "2026-12-01 09:00 (Asia/Shanghai) is in the past; pick a later time."),
    ("1号", "2026-12-01 09:00 (Asia/Shanghai) is in the past; pick a later time."),  # today, the 1st, at 9:00
    ("2030年1月1日", "That is more than three years away; pick a nearer date."),
    ("晚上0点", "“晚上0点” is not a time of day."),
    ("中午8点", "“中午8点” is not a time of day: 中午 is around noon."),
    ("凌晨", "Say the hour with 凌晨, e.g. 凌晨5点."),
    ("一一点", "I can't read the number “一一”."),
    ("下周八", "I can't read “下周八” as a time. Try “明天上午9点”, “3天后”, “周五下午”, “下周一” or “12月3日 14:00”."),
    ("回电话", "I can't read “回电话” as a time. Try “明天上午9点”, “3天后”, “周五下午”, “下周一” or “12月3日 14:00”."),
])
def test_chinese_moments_that_cannot_be_read_say_why(text, message):
    with pytest.raises(WhenError) as info:
        parse_when(text, NOW, "Asia/Shanghai")
    assert str(info.value) == message


@pytest.mark.parametrize("text, due, rest", [
    ("in 3 days call the buyer back", local(2026, 12, 4, 17, 0), "call the buyer back"),
    ("tomorrow 9am send the quote", local(2026, 12, 2, 9, 0), "send the quote"),
    ("friday demo prep", local(2026, 12, 4, 9, 0), "demo prep"),
    ("2026-12-03 14:00 review", local(2026, 12, 3, 14, 0), "review"),
    ("next monday kickoff", local(2026, 12, 7, 9, 0), "kickoff"),
    ("14:00 回电话", local(2026, 12, 2, 14, 0), "回电话"),  # English time, Chinese task
    ("tomorrow 回电话", local(2026, 12, 2, 9, 0), "回电话"),
    ("ｔｏｍｏｒｒｏｗ ９ａｍ call", local(2026, 12, 2, 9, 0), "call"),  # full-width English
])
def test_english_moments_read_as_before(text, due, rest):
    when = parse_when(text, NOW, "Asia/Shanghai")
    assert (when.at, when.rest) == (due, rest)


def test_english_errors_read_as_before():
    with pytest.raises(WhenError) as info:
        parse_when("someday call", NOW, "Asia/Shanghai")
    assert str(info.value) == "I can't read “someday call” as a time. Try “in 3 days”, “tomorrow 9am”, “friday” or “2026-12-03 14:00”."


# --------------------------------------------------------------------------- amounts


@pytest.mark.parametrize("raw, amount, named", [
    ("12万", "120000.00", ()),
    ("1.5万", "15000.00", ()),
    ("1.234万", "12340.00", ()),
    ("3亿", "300000000.00", ()),
    ("12k", "12000.00", ()),
    ("12K", "12000.00", ()),
    ("1.2m", "1200000.00", ()),
    ("5千", "5000.00", ()),
    ("１２，５００", "12500.00", ()),
    ("１２５００．５０", "12500.50", ()),
    ("¥12,000", "12000.00", ("CNY", "JPY")),
    ("￥12000", "12000.00", ("CNY", "JPY")),
    ("RMB 12000", "12000.00", ("CNY",)),
    ("rmb12000", "12000.00", ("CNY",)),
    ("CNY12000", "12000.00", ("CNY",)),
    ("12,000元", "12000.00", ("CNY",)),
    ("12万元", "120000.00", ("CNY",)),
    ("¥12万元", "120000.00", ("CNY",)),
    ("人民币12万", "120000.00", ("CNY",)),
    ("12万美元", "120000.00", ("USD",)),
    ("12000 USD", "12000.00", ("USD",)),
    ("€1.5k", "1500.00", ("EUR",)),
    ("1万亿", "1000000000000.00", ()),
])
def test_amounts_with_units_and_currency_signs(raw, amount, named):
    value, seen = parse_money(raw)
    assert (str(value), seen) == (amount, named)
    assert parse_amount(raw) == Decimal(amount)


@pytest.mark.parametrize("raw, message", [
    ("12万亿亿", "Amount must be a number, like 12500, 12,500.00, 12万, 1.5万 or ¥12,000."),
    ("两万", "Amount must be a number, like 12500, 12,500.00, 12万, 1.5万 or ¥12,000."),
    ("¥", "Amount must be a number, like 12500, 12,500.00, 12万, 1.5万 or ¥12,000."),
    ("$100", "Amount must be a number, like 12500 or 12,500.00."),
    ("12w", "Amount must be a number, like 12500 or 12,500.00."),
    ("-12万", "Amount can't be negative."),
    ("1.0000001万", "Amount can have at most 2 decimals."),
    ("1.234567k", "Amount can have at most 2 decimals."),
    ("1.1万亿", "Amount is too large: at most 1,000,000,000,000."),
    ("¥12000 USD", "The amount names two currencies, CNY and USD; write one."),
])
def test_amounts_refused(raw, message):
    with pytest.raises(ValueError) as info:
        parse_money(raw)
    assert str(info.value) == message


STAGES = Pipeline((StageInfo(id=1, position=1, name="初步接触", probability=10, max_days=14),))
CHOICES = FormChoices(stages=STAGES, currencies=currencies_for("CNY"), industries=(), regions=(), company_sizes=())


def submit(**values: str):
    return validate_new_opportunity({"name": "Ａｃｍｅ 扩容", "customer": "北京（总部）", **values}, CHOICES, "U0REP1", t=EN)


@pytest.mark.parametrize("amount, currency", [("¥12,000", "CNY"), ("12,000元", "CNY"), ("¥12000", "JPY"), ("12000 USD", "USD")])
def test_a_currency_sign_that_agrees_with_the_form(amount, currency):
    draft, errors = submit(amount=amount, currency=currency)
    assert errors == {} and draft is not None and draft.amount == Decimal("12000.00") and draft.currency == currency


@pytest.mark.parametrize("amount, currency, message", [
    ("¥12,000", "USD", "The amount says CNY but the currency is USD."),
    ("12万元", "EUR", "The amount says CNY but the currency is EUR."),
    ("12000 USD", "CNY", "The amount says USD but the currency is CNY."),
])
def test_a_currency_sign_that_contradicts_the_form_is_an_error_on_the_amount(amount, currency, message):
    draft, errors = submit(amount=amount, currency=currency)
    assert draft is None and errors == {"amount": message}


def test_free_text_is_stored_as_typed():
    draft, errors = submit(amount="１２万", notes="预算：１２万（含税）")
    assert errors == {} and draft is not None
    assert (draft.name, draft.customer, draft.notes, draft.amount) == ("Ａｃｍｅ 扩容", "北京（总部）", "预算：１２万（含税）", Decimal("120000.00"))


def test_close_date_in_full_width():
    assert parse_close_date("２０２６－１２－３１").isoformat() == "2026-12-31"


# --------------------------------------------------------------------------- stages


CHINESE = Pipeline((
    StageInfo(id=1, position=1, name="初步接触", probability=10, max_days=14),
    StageInfo(id=2, position=2, name="需求确认", probability=20, max_days=14),
    StageInfo(id=3, position=3, name="方案设计", probability=40, max_days=21),
    StageInfo(id=4, position=4, name="方案评审", probability=60, max_days=21),
    StageInfo(id=5, position=5, name="商务谈判", probability=80, max_days=21),
))
ENGLISH = Pipeline((
    StageInfo(id=11, position=1, name="Prospect", probability=10, max_days=14),
    StageInfo(id=12, position=2, name="Solution design", probability=30, max_days=21),
    StageInfo(id=13, position=3, name="Technical evaluation", probability=50, max_days=30),
    StageInfo(id=14, position=4, name="Negotiation", probability=80, max_days=21),
))


@pytest.mark.parametrize("query, stage_id", [
    ("方案设计", 3), ("设计", 3), ("评审", 4), ("谈判", 5), ("确认", 2), ("需求", 2), ("３", 3), (" 5 ", 5), ("接触", 1),
])
def test_chinese_stages(query, stage_id):
    assert resolve_stage(query, CHINESE).id == stage_id


@pytest.mark.parametrize("query, stage_id", [
    ("eval", 13), ("EVALUATION", 13), ("design", 12), ("ｄｅｓｉｇｎ", 12), ("uation", 13), ("tech", 13), ("２", 12),
])
def test_english_stages_by_a_part(query, stage_id):
    assert resolve_stage(query, ENGLISH).id == stage_id


def test_exact_beats_prefix_beats_part():
    model = Pipeline((
        StageInfo(id=1, position=1, name="Demo", probability=10, max_days=14),
        StageInfo(id=2, position=2, name="Demo follow-up", probability=20, max_days=14),
        StageInfo(id=3, position=3, name="Post demo", probability=30, max_days=14),
        StageInfo(id=4, position=4, name="Contract", probability=40, max_days=14),
        StageInfo(id=5, position=5, name="Act now", probability=50, max_days=14),
    ))
    assert resolve_stage("demo", model).id == 1  # exact, though two others contain it
    assert resolve_stage("act", model).id == 5  # a prefix of "Act now", though "Contract" contains it


def test_an_ambiguous_part_lists_the_candidates():
    with pytest.raises(Invalid) as info:
        resolve_stage("案", CHINESE)
    assert str(info.value) == "“案” matches 方案设计 and 方案评审; say which."
    with pytest.raises(Invalid) as info:
        resolve_stage("方案", CHINESE)  # a prefix of both: the prefix rule's own message (tests/test_stages.py)
    assert str(info.value) == "“方案” matches several stages (方案设计, 方案评审); type more of the name."
    with pytest.raises(Invalid) as info:
        resolve_stage("o", ENGLISH)
    assert str(info.value) == "“o” matches Prospect, Solution design, Technical evaluation and Negotiation; say which."


def test_an_unknown_chinese_stage_lists_the_valid_ones():
    with pytest.raises(Invalid) as info:
        resolve_stage("签约", CHINESE)
    assert str(info.value) == "Unknown stage “签约”. Valid stages: 1. 初步接触, 2. 需求确认, 3. 方案设计, 4. 方案评审, 5. 商务谈判."


# --------------------------------------------------------------------------- /opp in Chinese


@pytest.mark.parametrize("text, command", [
    ("新建", Command("new")),
    ("新建 北京（总部）扩容", Command("new", text="北京（总部）扩容")),
    ("列表", Command("list")),
    ("列表 设计", Command("list", stage="设计")),
    ("查看 OPP-3", Command("show", ref=3)),
    ("查看 ＯＰＰ－３", Command("show", ref=3)),
    ("阶段 OPP－1 设计", Command("stage", ref=1, stage="设计")),
    ("跟进 OPP-1 明天上午9点 回电话", Command("followup", ref=1, text="明天上午9点 回电话")),
    ("赢单 ＯＰＰ－１", Command("won", ref=1)),
    ("输单 OPP-2 预算（２０２７）砍了", Command("lost", ref=2, text="预算（２０２７）砍了")),
    ("漏斗", Command("funnel")),
    ("报表 by industry", Command("report", action="industry")),
    ("报表 按行业", Command("report", action="industry")),
    ("报表 按 地区 本月", Command("report", action="region", text="本月")),
    ("报表 按原因", Command("report", action="reason")),
    ("导出 status:won", Command("export", filters=(("status", "won"),))),
    ("导出 stage：设计 status：ｗｏｎ", Command("export", filters=(("stage", "设计"), ("status", "won")))),
    ("导出 industry：医疗（器械）", Command("export", filters=(("industry", "医疗（器械）"),))),  # a value compared as typed
    ("帮助", Command("help")),
    ("ｎｅｗ", Command("new")),
    ("赢单OPP-1", Command("won", ref=1)),  # no space after a Chinese subcommand
    ("新建华为项目", Command("new", text="华为项目")),
    ("跟进ＯＰＰ－２ 明天9点回电话", Command("followup", ref=2, text="明天9点回电话")),
    ("stage ＃３ 2", Command("stage", ref=3, stage="2")),
])
def test_chinese_subcommands(text, command):
    assert parse(text) == command


@pytest.mark.parametrize("text, message", [
    ("新增", "I don't know the subcommand “新增”."),
    ("阶段 商机一 设计", "“商机一” is not an opportunity id; write it like OPP-12."),
    ("报表 按颜色", "I can't report by “颜色”; choose industry, region, size, tag, month, rep or reason."),
    ("赢单", "Usage: /opp won OPP-12."),
])
def test_chinese_subcommand_errors(text, message):
    with pytest.raises(CommandError) as info:
        parse(text)
    assert str(info.value) == message


def test_parse_ref_full_width():
    assert parse_ref("ＯＰＰ－１２") == 12 and parse_ref("ｏｐｐ１２") == 12 and parse_ref("＃１２") == 12


@pytest.mark.parametrize("text, label", [
    ("本月", "this month"), ("上季度", "last quarter"), ("最近90天", "last 90 days"), ("2026年", "2026"), ("2026年11月", "2026-11"),
    ("２０２６－Ｑ３", "2026-Q3"), ("去年", "last year"),
])
def test_report_periods_in_chinese(text, label):
    assert parse_period(text, NOW, "Asia/Shanghai").label == label
