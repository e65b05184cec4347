"""Digests, reports, the funnel chart and the CSV export in Simplified Chinese (issue #15): through the Slack-shaped
surface (signed requests to the running app, the fake Slack), a Chinese sales team's workspace (`[workspace] language =
"zh-CN"`, users whose Slack locale is zh-CN) reads /opp 漏斗 and its chart, /opp report (every dimension and by reason),
the digest (the manager's DM, the team's channel, the Full report modal) and /opp export in Chinese; a digest goes to each
destination in its reader's language; the export opens in Excel (UTF-8 with a BOM, Chinese headers and names)."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest

from bot.digests.views import average_cycle, digest_message, rep_pace
from bot.domain.values import Invalid, OpportunityDraft, Pipeline, StageInfo
from bot.i18n import CHINESE, ENGLISH, translator
from bot.reports.charts import chart_from_data, chart_title, funnel_chart_data
from bot.reports.export import build_filter
from bot.reports.views import lost_reasons_message, period_text, report_outcomes
from bot.slack.ids import DIGEST_FULL_BUTTON
from bot.workspace.config import parse_config
from storage import analytics
from storage.analytics import LostReason
from storage.models import Delivery
from tests.driver import running_app
from tests.fakeslack import check_view
from tests.support import rows, text_of

ZH, EN = translator(CHINESE), translator(ENGLISH)
TEAM = "T0TEST"
BOM = b"\xef\xbb\xbf"

CHINESE_CONFIG = """
[workspace]
currency = "CNY"
timezone = "Asia/Shanghai"
language = "zh-CN"
admins = ["U0ADMIN"]

[[stages]]
name = "初步接触"
probability = 10
max_days = 14

[[stages]]
name = "需求确认"
probability = 30
max_days = 21

[[stages]]
name = "方案设计"
probability = 50
max_days = 30

[[stages]]
name = "商务谈判"
probability = 80
max_days = 21

[[teams]]
name = "华东"
manager = "U0MGR"
members = ["U0REP1", "U0REP2"]
channel = "C0EAST"
timezone = "Asia/Shanghai"
"""

# An English workspace whose manager reads Slack in Chinese: the DM in Chinese, the channel in English.
ENGLISH_CONFIG = CHINESE_CONFIG.replace('language = "zh-CN"\n', 'language = "en"\n').replace('name = "华东"', 'name = "East"')

# Data in what the surfaces render (stage and team names, people, codes): not UI words.
DATA = re.compile(r"<[@!#][^>]*>|OPP-\d+|:[a-z_]+:|`/opp [a-z]+`|\b(?:CNY|USD|EUR|UTC|CSV|ID|oppbot|Asia/Shanghai|U0[A-Z0-9]+)\b")


def english_words(text: str) -> list[str]:
    """The words of English left in `text` once data is taken out (a zh-CN reader's text should have none)."""
    return re.findall(r"[A-Za-z]{2,}", DATA.sub(" ", text))


def people(fake, locale: str) -> None:
    fake.add_user("U0REP1", tz="Asia/Shanghai", real_name="王芳", locale=locale)
    fake.add_user("U0REP2", tz="Asia/Shanghai", real_name="李强", locale=locale)
    fake.add_user("U0MGR", tz="Asia/Shanghai", real_name="陈经理", locale="zh-CN")
    fake.add_user("U0ADMIN", tz="Asia/Shanghai", real_name="管理员", locale=locale)


@pytest.fixture
def chinese(engine, fake_slack, clock):
    people(fake_slack, "zh-CN")
    with running_app(engine=engine, fake=fake_slack, clock=clock, config=parse_config(CHINESE_CONFIG, "zh.toml")) as driver:
        yield driver


@pytest.fixture
def english_workspace(engine, fake_slack, clock):
    people(fake_slack, "en-US")
    with running_app(engine=engine, fake=fake_slack, clock=clock, config=parse_config(ENGLISH_CONFIG, "en.toml")) as driver:
        yield driver


def add_deal(slack, name: str, customer: str, *, owner: str = "U0REP1", amount: str = "120000", stage: int = 0, **extra):
    services = slack.oppbot.services
    ctx = services.workspaces.context(TEAM, owner)
    stages = services.workspaces.pipelines(TEAM).default.stages
    opp, _ = services.deals.create(ctx, OpportunityDraft(name=name, customer=customer, owner_id=owner, stage_id=stages[stage].id,
                                                         currency="CNY", amount=Decimal(amount), industry=extra.pop("industry", None), **extra),
                                   channel_id=None)
    return opp


def pipeline(slack) -> None:
    """Four deals of 华东: one moved on, one won, one lost for a reason, one left in the first stage."""
    services = slack.oppbot.services
    stages = services.workspaces.pipelines(TEAM).default.stages
    rep = services.workspaces.context(TEAM, "U0REP1")
    a = add_deal(slack, "华为云扩容", "华为（深圳）", industry="制造业")
    b = add_deal(slack, "招行数据中台", "招商银行", amount="300000", industry="金融")
    c = add_deal(slack, "美团配送系统", "美团", owner="U0REP2", amount="80000", industry="金融")
    add_deal(slack, "比亚迪车联网", "比亚迪", amount="50000", industry="制造业")
    slack.clock.advance(hours=3)
    services.deals.move(rep, opp_id=a.id, stage_id=stages[1].id)
    services.deals.win(rep, opp_id=b.id)
    services.deals.lose(services.workspaces.context(TEAM, "U0REP2"), "预算不足", opp_id=c.id)
    slack.clock.advance(hours=1)


def csv_uploads(slack) -> list:
    return [c for c in slack.fake.calls("files.getUploadURLExternal") if str(c.params.get("filename", "")).endswith(".csv")]


def section_text(reply: dict) -> str:
    return "\n".join(text_of(reply.get("blocks") or []).splitlines())


# ----- /opp 漏斗 and its chart -------------------------------------------------------------------------------------------

def test_the_funnel_and_its_chart_in_chinese(chinese):
    pipeline(chinese)
    chinese.command("漏斗", user="U0MGR")
    reply = chinese.last_response()
    text = reply["text"]
    assert text.startswith("*销售漏斗：华东*\n")
    assert "初步接触 → 需求确认：4 个中 2 个（50%）" in text
    assert "输单：1" in text
    assert "当前在途：2 个商机 · ¥170,000.00 · 加权 ¥41,000.00" in text
    assert "近 90 天赢率：按数量 50%（赢单 1，输单 1），按金额 79%（赢单 ¥300,000.00）" in text
    assert "漏斗图已发到你与 oppbot 的私信中。" in str(reply["blocks"])
    assert english_words(text + text_of(reply["blocks"])) == []
    # the chart: its title and outcomes in Chinese, drawn from the data the text shows
    [row] = rows(chinese, Delivery, kind="funnel_chart")
    chinese.clock.advance(seconds=10)
    chinese.deliver()
    [upload] = [c for c in chinese.fake.calls("files.getUploadURLExternal") if c.params.get("filename") == "funnel.png"]
    png = chinese.fake.uploaded(upload.response["file_id"])
    assert png == chart_from_data("销售漏斗：华东", row.payload["chart"], t=ZH)
    assert png != chart_from_data("Funnel: 华东", row.payload["chart"], t=EN)
    assert chart_title("you", t=ZH) == "你的销售漏斗"


def test_a_reps_own_funnel_in_chinese(chinese):
    pipeline(chinese)
    chinese.command("funnel", user="U0REP1")
    text = chinese.last_response()["text"]
    assert text.startswith("*你的销售漏斗*\n") and english_words(text) == []


# ----- /opp report ---------------------------------------------------------------------------------------------------------

def test_the_report_by_industry_in_chinese(chinese):
    pipeline(chinese)
    chinese.command("report by industry this month", user="U0MGR")
    reply = chinese.last_response()
    assert reply["text"] == "按行业统计报表，本月（华东）"
    text = text_of(reply["blocks"])
    assert "_统计该期间新建的商机，以及该期间赢单或输单的商机。_" in text
    assert "*金融* · 新建 2 个商机 · ¥380,000.00 · 在途加权 ¥0.00 · 结单 2 个，赢单 1 个（50%），¥300,000.00 · 周期 0.1 天" in text
    assert "*制造业* · 新建 2 个商机 · ¥170,000.00 · 在途加权 ¥41,000.00 · 无结单" in text
    assert english_words(text) == []


@pytest.mark.parametrize("command, title", [
    ("report by region last 90 days", "按区域统计报表，近 90 天（整个工作区）"),
    ("report by size this quarter", "按公司规模统计报表，本季度（整个工作区）"),
    ("report by tag 2026", "按标签统计报表，2026年（整个工作区）"),
    ("report by month 2026-12", "按月统计报表，2026年12月（整个工作区）"),
    ("report by rep 2026-Q4", "按销售统计报表，2026年第4季度（整个工作区）"),
])
def test_every_report_dimension_has_its_chinese_title(chinese, command, title):
    pipeline(chinese)
    chinese.command(command, user="U0ADMIN")
    reply = chinese.last_response()
    assert reply["text"] == title
    assert english_words(text_of(reply["blocks"])) == []


def test_the_report_by_reason_in_chinese(chinese):
    pipeline(chinese)
    chinese.command("report by reason this month", user="U0MGR")
    reply = chinese.last_response()
    assert reply["text"] == "输单原因，本月（华东）"
    text = text_of(reply["blocks"])
    assert "_共输单 1 次；商机输单后重新打开又再次输单的，每次输单各计一次。_" in text
    assert "*预算不足* · 输单 1 次（100%）" in text
    assert english_words(text) == []


def test_report_refusals_in_chinese(chinese):
    ctx = chinese.oppbot.services.workspaces.context(TEAM, "U0MGR")
    with pytest.raises(Invalid) as refused:
        chinese.oppbot.services.reports.report(ctx, "colour", None)
    assert refused.value.text(ZH) == "报表可按 industry, region, size, tag, month, rep 或 reason 统计。"
    chinese.command("funnel <@U0REP2|li>", user="U0REP1")
    assert "你只能查看自己的数据，无法查看 <@U0REP2> 的。" in chinese.last_response()["text"]


# ----- the digest ----------------------------------------------------------------------------------------------------------

def digests(fake, target: str) -> list:
    return [c for c in fake.calls("chat.postMessage") if c.params["channel"] == target and c.status == 200 and c.params.get("blocks")
            and c.params["blocks"][0].get("type") == "header"]


def send_digest(slack) -> None:
    slack.oppbot.services.digests.plan_now()
    for _ in range(3):
        slack.deliver()


def test_the_digest_in_chinese_in_the_dm_and_the_channel(chinese):
    pipeline(chinese)
    send_digest(chinese)
    [dm] = digests(chinese.fake, "DU0MGR")
    [channel] = digests(chinese.fake, "C0EAST")
    assert dm.params["text"] == channel.params["text"] == "华东 管道简报：2 个在途商机，¥170,000.00"
    text = text_of(dm.params["blocks"])
    for sentence in ("华东 · 管道简报", "*在途商机：* 2 个商机 · ¥170,000.00 · 加权 ¥41,000.00",
                     "*初步接触*\n1 个商机 · ¥50,000.00 · 加权 ¥5,000.00",
                     "*本期变化*", "*新增（4）*", "*赢单（1）*\n• *OPP-2* 招行数据中台 (<@U0REP1>) — ¥300,000.00",
                     "*输单（1）*\n• *OPP-3* 美团配送系统 (<@U0REP2>) — 预算不足",
                     "*推进（1）*\n• *OPP-1* 华为云扩容 (<@U0REP1>) 初步接触 → 需求确认",
                     "*逾期跟进*\n没有。:tada:", "*停滞商机：* 无。",
                     "*近 90 天赢率：* 按数量 50%（赢单 1，输单 1）· 按金额 79%（赢单 ¥300,000.00）",
                     "*近 90 天输单原因：* 预算不足 ×1", "*平均销售周期：* 0.1 天（共 1 个赢单商机）",
                     "*阶段转化率：* 初步接触 → 需求确认 50%（4 个中 2 个）",
                     "*本月预计成交*\n0 个商机 · ¥0.00（加权 ¥0.00）", "*下月预计成交*\n0 个商机 · ¥0.00（加权 ¥0.00）",
                     "*销售对比*", "_各阶段进入的商机数_ —— 团队：初步接触 4 · 需求确认 1",
                     "完整报表"):
        assert sentence in text, sentence
    assert "变化自 <!date^" in text and "截至 <!date^" in text and "金额单位 CNY" in text
    assert english_words(text) == []
    assert text_of(channel.params["blocks"]) == text
    # the charts: titled and labelled in Chinese
    charts = rows(chinese, Delivery, kind="digest_chart")
    assert {(row.payload["title"], row.payload["language"]) for row in charts} == {("华东：销售漏斗", "zh-CN")} and len(charts) == 2
    pngs = {chinese.fake.uploaded(c.response["file_id"]) for c in chinese.fake.calls("files.getUploadURLExternal")
            if c.params.get("filename") == "funnel.png"}
    drawn = chart_from_data("华东：销售漏斗", charts[0].payload, t=ZH)
    assert pngs == {drawn} and drawn != chart_from_data("华东：销售漏斗", charts[0].payload, t=EN)  # 赢单 and 输单, not Won and Lost


def test_each_destination_reads_the_digest_in_its_language(english_workspace):
    """An English workspace: the team's channel reads English; its manager, whose Slack is in Chinese, reads Chinese."""
    slack = english_workspace
    slack.oppbot.services.workspaces.context(TEAM, "U0MGR")  # the manager has used oppbot: their Slack locale is known
    pipeline(slack)
    send_digest(slack)
    [dm] = digests(slack.fake, "DU0MGR")
    [channel] = digests(slack.fake, "C0EAST")
    assert dm.params["text"] == "East 管道简报：2 个在途商机，¥170,000.00"
    assert channel.params["text"] == "East pipeline digest: 2 open deals, CNY 170,000"
    assert "*Open pipeline:* 2 deals · CNY 170,000 · weighted CNY 41,000" in text_of(channel.params["blocks"])
    assert "*在途商机：* 2 个商机 · ¥170,000.00 · 加权 ¥41,000.00" in text_of(dm.params["blocks"])
    titles = {row.payload["target"]: (row.payload["title"], row.payload["language"]) for row in rows(slack, Delivery, kind="digest_chart")}
    assert titles == {"U0MGR": ("East：销售漏斗", "zh-CN"), "C0EAST": ("East: funnel", "en")}


def test_the_full_report_modal_in_chinese(chinese):
    pipeline(chinese)
    [team] = chinese.oppbot.services.teams.all(TEAM)
    chinese.click(DIGEST_FULL_BUTTON, value=str(team.id), user="U0MGR", channel="DU0MGR")
    view = chinese.last_view()
    assert check_view(view) == []
    assert view["title"]["text"] == "华东 报表" and view["close"]["text"] == "关闭"
    assert "*在途商机：* 2 个商机" in text_of(view["blocks"]) and english_words(text_of(view["blocks"])) == []
    chinese.click(DIGEST_FULL_BUTTON, value=str(team.id), user="U0REP1", channel="DU0REP1")
    assert "华东 的完整报表仅供该团队的销售经理和管理员查看。" in str(chinese.last_view()["blocks"])


# ----- /opp export ---------------------------------------------------------------------------------------------------------

def export(slack, text: str = "export", user: str = "U0MGR") -> bytes:
    before = len(csv_uploads(slack))
    slack.command(text, user=user)
    for _ in range(5):
        if len(csv_uploads(slack)) > before:
            break
        slack.clock.advance(seconds=5)
        slack.deliver()
    assert len(csv_uploads(slack)) == before + 1, "the export never arrived"
    return slack.fake.uploaded(csv_uploads(slack)[-1].response["file_id"])


def open_as_excel(content: bytes) -> list[list[str]]:
    """As Excel opens a CSV: UTF-8 only because it starts with the byte order mark (else the ANSI code page)."""
    assert content[:3] == BOM, "no byte order mark: Excel would read the file as ANSI and garble the Chinese"
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))


def test_the_export_opens_in_excel_in_chinese(chinese):
    pipeline(chinese)
    content = export(chinese, "导出")
    assert "正在导出：包含商机及其阶段历史的 CSV 文件，稍后会发到你与 oppbot 的私信中。" in chinese.last_response()["text"]
    table = open_as_excel(content)
    header, body = table[0], table[1:]
    assert header[:10] == ["编号", "商机名称", "客户", "金额", "币种", "折合工作区币种金额", "状态", "阶段", "负责人", "负责人 ID"]
    assert header[10] == "创建时间（Asia/Shanghai）" and header[-1] == "阶段历史（Asia/Shanghai）"
    assert all(english_words(h) == [] for h in header)
    rows_by_id = {row[0]: dict(zip(header, row)) for row in body}
    assert set(rows_by_id) == {"OPP-1", "OPP-2", "OPP-3", "OPP-4"}
    huawei, cmb, meituan = rows_by_id["OPP-1"], rows_by_id["OPP-2"], rows_by_id["OPP-3"]
    assert (huawei["商机名称"], huawei["客户"], huawei["负责人"], huawei["负责人 ID"]) == ("华为云扩容", "华为（深圳）", "王芳", "U0REP1")
    assert (meituan["负责人"], meituan["状态"], meituan["输单原因"]) == ("李强", "输单", "预算不足")
    assert cmb["状态"] == "赢单" and huawei["状态"] == "进行中" and huawei["阶段"] == "需求确认"
    # the workspace's time, to the second: the clock starts at 17:00 in Shanghai, the moves two days later
    assert huawei["创建时间（Asia/Shanghai）"] == "2026-12-01 17:00:00"
    assert huawei["阶段历史（Asia/Shanghai）"] == ("2026-12-01 17:00:00 新建 -> 初步接触，操作人：U0REP1; "
                                              "2026-12-01 20:00:00 初步接触 -> 需求确认，操作人：U0REP1")
    assert meituan["阶段历史（Asia/Shanghai）"].endswith("2026-12-01 20:00:00 初步接触 -> 输单（预算不足），操作人：U0REP2")
    comment = chinese.fake.calls("files.completeUploadExternal")[-1].params.get("initial_comment")
    assert comment == "已导出 4 个商机及其阶段历史。"
    assert csv_uploads(chinese)[-1].params["filename"].startswith("商机导出-20261201-")
    shared = str(chinese.fake.calls("files.completeUploadExternal")[-1].params)
    assert "商机导出 2026-12-01 " in shared and ".csv" not in shared.split("title", 1)[-1][:40]


def test_bom_no_gives_plain_utf8(chinese):
    pipeline(chinese)
    content = export(chinese, "export bom:no status:won")
    assert content[:3] != BOM
    table = list(csv.reader(io.StringIO(content.decode("utf-8"))))
    assert table[0][0] == "编号" and [row[1] for row in table[1:]] == ["招行数据中台"]
    chinese.command("export bom:maybe", user="U0MGR")
    assert "bom: 可选 yes（默认，便于 Excel 打开）或 no（纯 UTF-8）。" in chinese.last_response()["text"]


def test_an_english_reader_gets_english_headers_and_the_bom_too(english_workspace):
    pipeline(english_workspace)
    english_workspace.fake.add_user("U0ADMIN", tz="Asia/Shanghai", real_name="Ada", locale="en-US")
    table = open_as_excel(export(english_workspace, user="U0ADMIN"))
    assert table[0][:10] == ["id", "name", "customer", "amount", "currency", "amount_in_workspace_currency", "status", "stage", "owner", "owner_id"]
    assert "created_at (Asia/Shanghai)" in table[0] and "history (Asia/Shanghai)" in table[0]
    row = dict(zip(table[0], next(r for r in table[1:] if r[0] == "OPP-3")))
    assert (row["owner"], row["owner_id"], row["status"]) == ("李强", "U0REP2", "lost")
    assert row["history (Asia/Shanghai)"].endswith("2026-12-01 20:00:00 初步接触 -> lost (预算不足) by U0REP2")


def test_the_bom_flag_is_one_of_the_export_filters():
    from bot.domain.values import Actor
    stages = Pipeline((StageInfo(1, 0, "初步接触", 10, 14),))
    admin = Actor(team_id=TEAM, user_id="U0ADMIN", is_admin=True)
    assert build_filter(admin, (), stages).bom is True
    assert build_filter(admin, (("bom", "no"),), stages).bom is False


# ----- the views on their own ----------------------------------------------------------------------------------------------

def test_periods_and_small_phrases_in_chinese():
    assert [period_text(label, ZH) for label in ("this month", "last 90 days", "last 1 day", "2026", "2026-11", "2026-Q3", "today")] == [
        "本月", "近 90 天", "近 1 天", "2026年", "2026年11月", "2026年第3季度", "今天"]
    assert [period_text(label, EN) for label in ("this month", "last 90 days", "2026-Q3")] == ["this month", "last 90 days", "2026-Q3"]
    assert average_cycle(analytics.CycleLength(3, 12.25), t=ZH) == "12.2 天（共 3 个赢单商机）"
    assert average_cycle(analytics.CycleLength(0, None), t=ZH) == "尚无赢单"
    stages = Pipeline((StageInfo(1, 0, "商务谈判", 80, 21),))
    assert rep_pace(analytics.RepFunnel("U0RAY", (), 1, 1.5), stages, t=ZH) == "商机在 *商务谈判* 的停留时长是团队的 1.5 倍"
    row = SimpleNamespace(won_count=0, lost_count=2, win_rate=0.0, avg_cycle_days=None, won_amount=None)
    assert report_outcomes(row, t=ZH) == "结单 2 个，赢单 0 个（0%）· 无赢单金额"


def test_lost_reasons_with_no_reason_recorded_in_chinese():
    title, blocks = lost_reasons_message("last month", "you", [LostReason("价格太高", 3), LostReason(None, 1)], t=ZH)
    assert title == "输单原因，上月（你）"
    text = text_of(blocks)
    assert "*价格太高* · 输单 3 次（75%）" in text and "*_未记录原因_* · 输单 1 次（25%）" in text
    _, empty = lost_reasons_message("this week", "you", [], t=ZH)
    assert "该期间没有输单。" in text_of(empty)


def test_an_empty_digest_reads_chinese(chinese):
    services = chinese.oppbot.services
    [team] = services.teams.all(TEAM)
    data = services.digests.build(TEAM, team, chinese.clock.now() - timedelta(days=1))
    text, blocks = digest_message(data, services.workspaces.pipelines(TEAM).default, t=ZH)
    assert text == "华东 管道简报：0 个在途商机，¥0.00"
    body = text_of(blocks)
    for sentence in ("*本期变化*\n自上次简报以来没有变化。", "*平均销售周期：* 尚无赢单", "*近 90 天输单原因：* —",
                     "*在途商机：* 0 个商机 · ¥0.00 · 加权 ¥0.00"):
        assert sentence in body, (sentence, body)
    assert english_words(body) == []
    assert funnel_chart_data(data.own.funnel, services.workspaces.pipelines(TEAM).default)["outcomes"] == [("Won", 0), ("Lost", 0)]


def test_the_rates_note_under_the_figures_in_chinese():
    from bot.domain.money import Money, Rates
    from bot.slack.blocks import rates_note
    apart = Money("CNY", Decimal(1000), (("EUR", Decimal(500)),))
    assert rates_note(Rates("CNY"), [apart], ZH) == "EUR 未设置汇率（`/opp config`），因此单独列出。"
    assert rates_note(Rates("CNY"), [apart], EN) == "EUR has no exchange rate (`/opp config`), so it is shown apart."
