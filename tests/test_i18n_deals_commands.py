"""Deals, cards, /opp and its help in Simplified Chinese (issue #15): what a zh-CN reader gets from /opp 新建 (the
modal, its field errors, the creation note), /opp 列表 · 查看 · 阶段 · 赢单 · 输单, the card and its controls (the stage
select, Won, the Lost modal, the More menu), /opp 帮助, a mistyped command, refusals and failures, the gate's notice —
real Chinese sentences, and no English UI word left; an English reader keeps the English."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy.exc import OperationalError

from bot.deals.forms import FormChoices, currencies_for, validate_lost_reason, validate_new_opportunity
from bot.deals.views import ListPage, list_blocks, lost_reason_modal, new_opportunity_modal, opportunity_card
from bot.domain.values import LOST, OPEN, WON, Installation, OpportunityView, Pipeline, Pipelines, StageInfo
from bot.domain.when import WhenError, parse_when
from bot.i18n import translator
from bot.slack.commands import REGISTRY, REPORT_BY, CommandError, parse
from bot.slack.help import help_blocks
from bot.slack.ids import (
    ADD_FOLLOW_UP_BUTTON,
    CARD_MORE,
    DETAILS_BUTTON,
    FOLLOW_UP_MODAL,
    LOST_BUTTON,
    LOST_MODAL,
    NEEDS_OWNER_BUTTON,
    STAGE_SELECT,
    WON_BUTTON,
)
from bot.workspace.config import parse_config
from handlers.commands import mistyped
from handlers.gate import not_served
from handlers.listener import failure_message
from storage.models import Opportunity
from tests.driver import running_app
from tests.fakeslack import check_blocks, check_view
from tests.support import rows

ZH = translator("zh-CN")
EN = translator("en")
NOW = datetime(2026, 12, 10, 12, 0, tzinfo=timezone.utc)
STAGES = Pipeline((StageInfo(11, 1, "初步接触", 10, 14), StageInfo(12, 2, "方案设计", 50, 30), StageInfo(13, 3, "商务谈判", 80, 21)))

CONFIG = """
[workspace]
currency = "CNY"
timezone = "Asia/Shanghai"
language = "zh-CN"
admins = ["U0ADMIN"]
industries = ["制造业", "医疗"]

[[stages]]
name = "初步接触"
probability = 10
max_days = 14

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
"""

ALLOWED = {"oppbot", "Slack", "OPP"}


def english_in(text: str) -> list[str]:
    """The English words of a text oppbot wrote, once data and Slack syntax are taken out."""
    text = re.sub(r"<[^>]*>", " ", text)            # <@U…>, <#C…>, <!date^…|…>
    text = re.sub(r"`[^`]*`", " ", text)            # `code`: commands as typed
    text = re.sub(r":[a-z0-9_+-]+:", " ", text)     # :emoji:
    text = re.sub(r"\bOPP-\d+\b", " ", text)
    text = re.sub(r"\b[A-Z]{3}\b", " ", text)       # currency codes
    text = re.sub(r"\b[UCWSD]0[A-Z0-9]+\b", " ", text)
    return [w for w in re.findall(r"[A-Za-z]{2,}", text) if w not in ALLOWED]


def texts_of(value) -> list[str]:
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("text", "title", "label", "placeholder", "hint", "submit", "close") and isinstance(item, str):
                found.append(item)
            elif key not in ("action_id", "block_id", "callback_id", "value", "url", "type", "style", "private_metadata", "channel",
                             "user", "ts", "initial_user", "_name", "response_type", "response_action"):
                found.extend(texts_of(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(texts_of(item))
    return found


def no_english(payload) -> None:
    leftovers = {text: words for text in texts_of(payload) if (words := english_in(text))}
    assert not leftovers, leftovers


def make_opp(**changes) -> OpportunityView:
    base = dict(id=7, team_id="T0TEST", number=7, name="华为云扩容", customer="华为（深圳）", amount=Decimal("120000"), currency="CNY",
                close_date=None, stage_id=12, status=OPEN, owner_id="U0REP1", created_by="U0REP1", created_at=NOW - timedelta(days=9),
                updated_at=NOW - timedelta(days=1), stage_entered_at=NOW - timedelta(days=3))
    return OpportunityView(**{**base, **changes})


# ----- the views, for a zh-CN reader ----------------------------------------------------------------------

def test_an_open_card_in_chinese():
    blocks = opportunity_card(make_opp(next_step="下周演示", industry="制造业", reach="strategic"), Pipelines((STAGES,)), NOW, t=ZH)
    assert check_blocks(blocks, "message") == []
    fields = [f["text"] for b in blocks if b["type"] == "section" for f in b.get("fields", [])]
    assert fields[:5] == ["*客户*\n华为（深圳）", "*金额*\n¥120,000.00", "*负责人*\n<@U0REP1>", "*预计成交日期*\n—", "*阶段*\n方案设计 · 已停留 3 天"]
    assert {"type": "section", "text": {"type": "mrkdwn", "text": "*下一步：*下周演示"}} in blocks
    assert {"type": "context", "elements": [{"type": "mrkdwn", "text": "标签：战略性"}]} in blocks
    # the path is the open stages only: Won and Lost are outcomes, not steps after 商务谈判
    assert {"type": "context", "elements": [{"type": "mrkdwn", "text": "初步接触 › *[方案设计]* › 商务谈判"}]} in blocks
    select, won, lost, more = blocks[-1]["elements"]
    assert (select["action_id"], select["placeholder"]["text"]) == (STAGE_SELECT, "移到阶段…")
    assert (won["action_id"], won["text"]["text"], lost["action_id"], lost["text"]["text"]) == (WON_BUTTON, "赢单", LOST_BUTTON, "输单")
    assert more["action_id"] == CARD_MORE and [o["text"]["text"] for o in more["options"]] == ["添加跟进", "需要分配负责人", "详情"]
    no_english(blocks)


@pytest.mark.parametrize("status, said", [(WON, "赢单 :trophy:"), (LOST, "输单")])
def test_a_closed_card_in_chinese(status, said):
    blocks = opportunity_card(make_opp(status=status, closed_at=NOW, lost_reason="预算被砍"), Pipelines((STAGES,)), NOW, t=ZH)
    status_field = next(f["text"] for b in blocks if b["type"] == "section" for f in b.get("fields", []) if f["text"].startswith("*状态*"))
    assert status_field.startswith("*状态*\n<!date^") and status_field.endswith(f"> {said}")
    select, details = blocks[-1]["elements"]
    assert select["placeholder"]["text"] == "重新打开到阶段…" and details["text"]["text"] == "详情"
    no_english(blocks)


def test_the_new_opportunity_modal_and_its_errors_in_chinese():
    choices = FormChoices(STAGES, currencies_for("CNY"), ("制造业",), ("华东",), ("1-50",))
    view = new_opportunity_modal(choices, owner_id="U0REP1", metadata={}, t=ZH)
    assert check_view(view) == []
    assert (view["title"]["text"], view["submit"]["text"], view["close"]["text"]) == ("新建商机", "创建", "取消")
    labels = {b["block_id"]: b["label"]["text"] for b in view["blocks"]}
    assert labels["name"] == "商机名称" and labels["close_date"] == "预计成交日期" and labels["owner"] == "负责人"
    no_english({"blocks": view["blocks"], "title": view["title"]["text"]})
    _, errors = validate_new_opportunity({"name": "", "customer": "", "amount": "十二万", "stage": "99"}, choices, "U0REP1", t=ZH)
    assert errors == {"name": "请填写商机名称。", "customer": "请填写客户名称。",
                      "amount": "金额必须是数字，例如 12500、12,500.00、12万、1.5万 或 ¥12,000。", "stage": "请选择本工作区的一个阶段。"}
    assert validate_lost_reason(" ", t=ZH) == (None, "请填写输单原因：它会用于赢单/输单分析。")


def test_the_lost_modal_and_the_list_in_chinese():
    view = lost_reason_modal(make_opp(), {"opp": 7}, t=ZH)
    assert check_view(view) == [] and (view["title"]["text"], view["submit"]["text"]) == ("标记为输单", "确认输单")
    assert view["blocks"][1]["label"]["text"] == "为什么输单？"
    no_english(view)
    empty = list_blocks(ListPage(owner_id="U0REP1", items=[], total=0, offset=0), Pipelines((STAGES,)), NOW, viewer_id="U0REP1", t=ZH)
    assert empty[0]["text"]["text"] == "你没有进行中的商机。用 `/opp 新建` 创建一个。"
    page = list_blocks(ListPage(owner_id="U0REP2", items=[make_opp()], total=1, offset=0), Pipelines((STAGES,)), NOW, viewer_id="U0MGR", t=ZH)
    assert page[0]["text"]["text"] == "*<@U0REP2> 的进行中商机* · 第 1–1 个，共 1 个"
    assert "华为云扩容 — 华为（深圳） · ¥12万 · 本阶段 3 天" in page[2]["text"]["text"]
    no_english(page)


def test_the_help_in_chinese_lists_the_aliases_with_chinese_examples():
    [section] = help_blocks(t=ZH)
    text = section["text"]["text"]
    assert text.startswith("*oppbot：在 Slack 里管好你的销售管道*\n")
    for alias in ("新建", "列表", "查看", "阶段", "跟进", "赢单", "输单", "漏斗", "报表", "导出", "帮助"):
        assert f"`/opp {alias}" in text, alias
    for example in ("明天上午9点 回电话", "3天后", "12万"):
        assert example in text
    assert check_blocks([section], "message") == []
    no_english(section)
    # the English help is the registry's, as it was
    assert "`/opp new [name]` — open the New opportunity form" in help_blocks(t=EN)[0]["text"]["text"]
    assert REGISTRY["report"].usage == f"/opp report by {'|'.join(REPORT_BY)} [period] [pipeline:<name>]"


def test_errors_of_chinese_input_are_in_chinese():
    with pytest.raises(WhenError) as info:
        parse_when("后天上午15点 回电话", NOW, "Asia/Shanghai")
    assert info.value.text(ZH) == "“上午15点”不是有效的时间：上午指的是中午以前。"
    assert str(info.value) == "“上午15点” is not a time of day: 上午 is before noon."  # the English, for logs
    with pytest.raises(CommandError) as error:
        parse("新增 项目")
    assert mistyped(error.value, ZH) == ":warning: 没有“新增”这个命令。你是不是想输入 `/opp 新建`？输入 `/opp 帮助` 查看全部命令。"
    with pytest.raises(CommandError) as error:
        parse("lsit")
    assert mistyped(error.value, EN) == ":warning: I don't know the subcommand “lsit”. Did you mean `/opp list`? `/opp help` lists every command."


def test_failures_and_the_gate_in_chinese():
    down = OperationalError("SELECT 1", {}, Exception("could not connect to server"))
    assert failure_message(down, saved=False, reference="ab12", t=ZH) == ":warning: oppbot 暂时连不上数据库，所以未做任何更改。请过一分钟再试。"
    assert failure_message(RuntimeError(), saved=True, reference="ab12", t=ZH) == (
        ":warning: 你的更改已保存，但之后 oppbot 内部出了问题（编号 ab12）。请用 `/opp 查看` 检查这个商机。")
    assert not_served(Installation("T0TEST", "华东销售"), t=ZH) == (
        "这里的 oppbot 只服务 *华东销售* 工作区，无法替其他工作区或组织的人处理这项操作。未做任何更改。")


# ----- through the Slack-shaped surface -------------------------------------------------------------------

@pytest.fixture
def team(engine, fake_slack, clock):
    for user in ("U0REP1", "U0REP2", "U0MGR"):
        fake_slack.add_user(user, tz="Asia/Shanghai", locale="zh-CN")
    fake_slack.add_user("U0ADMIN", tz="Asia/Shanghai", locale="en-US")  # an English reader in the Chinese workspace
    with running_app(engine=engine, fake=fake_slack, clock=clock, config=parse_config(CONFIG, "zh.toml")) as driver:
        yield driver


def test_a_new_deal_from_form_to_card_in_chinese(team):
    slack, fake = team, team.fake
    slack.command("新建 华为云扩容")
    view = slack.last_view()
    assert view["title"]["text"] == "新建商机"
    reply = slack.submit(view, {"name": "华为云扩容", "customer": "", "amount": "12万元"})
    assert reply.json["errors"] == {"customer": "请填写客户名称。"}
    reply = slack.submit(view, {"name": "华为云扩容", "customer": "华为（深圳）", "amount": "12万"})
    assert reply.status == 200 and reply.body == "", reply.body
    slack.deliver()
    [card] = [c for c in fake.calls("chat.postMessage") if c.params["channel"] == "C0SALES"]
    assert card.params["text"] == "OPP-1 华为云扩容（华为（深圳））· 初步接触"
    no_english(card.params)
    [note] = fake.calls("chat.postEphemeral")
    assert note.params["text"] == "已在 <#C0SALES> 创建 OPP-1。"  # one sentence: what happened
    assert note.params["blocks"][0]["text"]["text"] == "已在 <#C0SALES> 创建 OPP-1。下一步做什么？"
    no_english(note.params)


def test_list_show_stage_won_and_lost_in_chinese(team):
    slack, fake = team, team.fake
    for name in ("华为云扩容", "比亚迪产线"):
        slack.create(name, customer="华为（深圳）", amount="12万")
    slack.deliver()
    slack.command("列表")
    listed = slack.last_response()
    assert listed["text"] == "2 个进行中的商机" and listed["blocks"][0]["text"]["text"] == "*你的进行中商机* · 第 1–2 个，共 2 个"
    no_english(listed)
    slack.command("查看 OPP-1")
    shown = slack.last_response()
    assert "*阶段历史*" in json.dumps(shown, ensure_ascii=False) and "创建于 初步接触" in json.dumps(shown, ensure_ascii=False)
    no_english(shown)
    slack.command("阶段 OPP-1 设计")
    moved = slack.last_response()
    assert moved["text"] == "OPP-1 已从*初步接触*推进到*方案设计*。"
    assert moved["blocks"][0]["text"]["text"] == "OPP-1 已从*初步接触*推进到*方案设计*。下一步做什么？"
    no_english(moved)
    first, second = rows(slack, Opportunity)
    slack.click(WON_BUTTON, value=str(first.id))
    assert slack.last_response()["text"] == "OPP-1 已标记为*赢单* :tada:"
    slack.click(LOST_BUTTON, value=str(second.id))
    lost_view = slack.last_view()
    assert lost_view["callback_id"] == LOST_MODAL and lost_view["title"]["text"] == "标记为输单"
    assert slack.submit(lost_view, {"reason": ""}).json["errors"] == {"reason": "请填写输单原因：它会用于赢单/输单分析。"}
    slack.command("输单 OPP-2 预算被砍")
    assert slack.last_response()["text"] == "OPP-2 已标记为*输单*。"
    slack.command("赢单 OPP-1", user="U0MGR")
    assert slack.last_response()["text"] == "OPP-1 已经是赢单，未做任何更改。"
    slack.command("阶段 OPP-1 1")
    assert slack.last_response()["text"] == ":warning: 你无权重新打开 OPP-1：它已赢单，只有销售经理或管理员可以重新打开。"
    slack.deliver()
    for update in fake.calls("chat.update"):
        no_english(update.params)


def test_the_more_menu_opens_details_in_chinese(team):
    slack = team
    slack.create("华为云扩容", customer="华为（深圳）")
    [deal] = rows(slack, Opportunity)
    slack.click(CARD_MORE, selected=f"{DETAILS_BUTTON}:{deal.id}")
    details = slack.last_view()
    assert details["close"]["text"] == "关闭" and "*阶段历史*" in json.dumps(details, ensure_ascii=False)
    no_english(details)


def test_refusals_and_mistyped_commands_in_chinese(team):
    slack = team
    slack.create("华为云扩容", customer="华为（深圳）")
    slack.command("赢单 OPP-1", user="U0REP2")
    assert slack.last_response()["text"] == ":warning: 你无权修改 OPP-1：它属于 <@U0REP1>，只有负责人本人、其销售经理或管理员可以修改。"
    slack.command("查看 OPP-9")
    assert slack.last_response()["text"] == ":warning: 本工作区没有 OPP-9。"
    slack.command("阶段 OPP-1 签约")
    assert slack.last_response()["text"] == ":warning: 没有“签约”这个阶段。可选阶段：1. 初步接触, 2. 方案设计, 3. 商务谈判。"
    reply = slack.command("lsit")  # typed in English, answered in the workspace's language, in one line
    assert reply.json["text"] == ":warning: 没有“lsit”这个命令。你是不是想输入 `/opp list`？输入 `/opp 帮助` 查看全部命令。"
    assert "blocks" not in reply.json
    reply = slack.command("帮助")
    assert reply.json["text"] == "oppbot 帮助" and "`/opp 新建 [商机名称]`" in reply.json["blocks"][0]["text"]["text"]
    no_english(reply.json)


def test_an_english_reader_in_a_chinese_workspace_keeps_english(team):
    slack = team
    slack.create("Acme rollout", user="U0ADMIN")
    slack.deliver()
    slack.command("list", user="U0ADMIN")
    assert slack.last_response()["text"] == "1 open opportunity"
    slack.command("stage OPP-1 2", user="U0ADMIN")
    assert slack.last_response()["text"] == "OPP-1 moved from *初步接触* to *方案设计*."


def test_the_more_menu_stands_for_add_follow_up_and_needs_an_owner(team):
    slack = team
    slack.create("华为云扩容", customer="华为（深圳）")
    [deal] = rows(slack, Opportunity)
    slack.click(CARD_MORE, selected=f"{ADD_FOLLOW_UP_BUTTON}:{deal.id}")
    assert slack.last_view()["callback_id"] == FOLLOW_UP_MODAL  # the Add follow-up button's own listener answered
    slack.click(CARD_MORE, selected=f"{NEEDS_OWNER_BUTTON}:{deal.id}")
    assert rows(slack, Opportunity)[0].needs_owner
    slack.click(CARD_MORE, selected=f"card_won:{deal.id}")  # not a More option: refused, nothing changed
    assert slack.last_response()["text"] == ":warning: 这个选项无效。"
    assert rows(slack, Opportunity)[0].status == "open"


def test_a_refusal_without_a_context_reads_the_readers_language_and_an_outage_the_configured_one():
    from handlers.listener import Readers, failure_translator

    readers = Readers()

    def down(team_id: str, user_id: str) -> str:
        raise OperationalError("SELECT 1", {}, Exception("could not connect to server"))

    readers.configure(lambda team_id, user_id: "zh-CN", "en")
    assert readers.of("T0TEST", "U0REP1").language == "zh-CN"
    readers.configure(down, "zh-CN")
    assert readers.of("T0TEST", "U0REP1").language == "zh-CN"  # the configuration file's, when the database is down
    readers.configure(down, "en")
    assert readers.of("T0TEST", "U0REP1").language == "en"
    body = {"team": {"id": "T0TEST"}, "user": {"id": "U0REP1"}}
    outage = OperationalError("SELECT 1", {}, Exception("could not connect to server"))
    assert failure_translator(body, outage).language in ("en", "zh-CN")  # never a read during an outage


def test_dates_and_short_amounts_the_chinese_way():
    """Where a date has no Slack token and where a deal's line is short of space (#15 point 2)."""
    from datetime import date
    from decimal import Decimal

    from bot.i18n import translator

    zh, en = translator("zh-CN"), translator("en")
    assert (zh.date(date(2026, 12, 3)), en.date(date(2026, 12, 3))) == ("2026年12月3日 周四", "2026-12-03")
    assert [zh.short_amount(Decimal(a), "CNY") for a in ("120000", "1235000", "300000000", "5000")] == ["¥12万", "¥123.5万", "¥3亿", "¥5,000.00"]
    assert en.short_amount(Decimal("120000"), "CNY") == "CNY 120,000"  # English lines keep the whole amount
