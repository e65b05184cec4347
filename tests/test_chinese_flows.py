"""Chinese input through the Slack-shaped surface (issue #15, point 3): signed requests to the running app and
the fake Slack. `/opp 新建`, amounts like 12万, `/opp 阶段 OPP－1 设计`, `/opp 跟进 … 明天上午9点 回电话`,
`/opp 赢单 ＯＰＰ－１`, stages named in Chinese; bad Chinese input gets a specific answer and changes nothing."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from bot.workspace.config import parse_config
from storage.models import FollowUp, Opportunity, StageChange
from tests.conftest import START
from tests.driver import running_app
from tests.support import opp, rows, stage_ids

SHANGHAI = ZoneInfo("Asia/Shanghai")  # U0REP1's Slack time zone; the clock starts at 17:00 there on Tuesday 2026-12-01

# A Chinese sales team's workspace: its stages are named in Chinese, its currency is the yuan.
CHINESE_CONFIG = """
[workspace]
currency = "CNY"
timezone = "Asia/Shanghai"
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
"""


@pytest.fixture
def chinese(engine, fake_slack, clock):
    with running_app(engine=engine, fake=fake_slack, clock=clock, config=parse_config(CHINESE_CONFIG, "zh.toml")) as driver:
        yield driver


def last_text(slack) -> str:
    return slack.last_response()["text"]


def new_deal(slack, name: str = "华为云扩容", **values) -> Opportunity:
    slack.command(f"新建 {name}")
    view = slack.last_view()
    assert view["title"]["text"] == "New opportunity"
    reply = slack.submit(view, {"name": name, "customer": "华为（深圳）", **values})
    assert reply.status == 200 and reply.body == "", reply.body
    return rows(slack, Opportunity, name=name)[-1]


# ----- /opp 新建 and amounts -----------------------------------------------------------------------

def test_opp_xinjian_opens_the_new_opportunity_form(slack):
    reply = slack.command("新建 华为云扩容")
    assert reply.status == 200
    view = slack.last_view()
    assert view["title"]["text"] == "New opportunity" and view["callback_id"] == "new_opportunity"
    assert "华为云扩容" in json.dumps(view, ensure_ascii=False)  # the name, as typed, prefilled


def test_an_amount_of_12wan_stores_120000_and_the_text_as_typed(chinese):
    deal = new_deal(chinese, "华为云扩容（二期）", amount="12万", notes="预算：１２万（含税）")
    assert (deal.amount, deal.currency) == (Decimal("120000.00"), "CNY")
    assert (deal.name, deal.customer, deal.notes) == ("华为云扩容（二期）", "华为（深圳）", "预算：１２万（含税）")


@pytest.mark.parametrize("amount, stored", [("１２，５００", "12500.00"), ("¥12,000", "12000.00"), ("1.5万元", "15000.00"),
                                            ("RMB 3亿", "300000000.00")])
def test_full_width_and_yuan_amounts(chinese, amount, stored):
    deal = new_deal(chinese, amount=amount)
    assert deal.amount == Decimal(stored)


@pytest.mark.parametrize("values, field, message", [
    ({"amount": "十二万"}, "amount", "Amount must be a number, like 12500, 12,500.00, 12万, 1.5万 or ¥12,000."),
    ({"amount": "¥12,000", "currency": "USD"}, "amount", "The amount says CNY but the currency is USD."),
    ({"amount": "1.0000001万"}, "amount", "Amount can have at most 2 decimals."),
])
def test_a_bad_amount_is_pointed_at_and_nothing_is_stored(chinese, values, field, message):
    chinese.command("新建")
    reply = chinese.submit(chinese.last_view(), {"name": "华为云扩容", "customer": "华为", **values})
    assert reply.json["response_action"] == "errors" and reply.json["errors"] == {field: message}
    assert rows(chinese, Opportunity) == []


# ----- /opp 阶段 ---------------------------------------------------------------------------------

def test_opp_jieduan_with_a_full_width_ref_and_a_part_of_the_name(slack, clock):
    assert slack.create("Acme rollout").status == 200
    at = clock.advance(days=1)
    slack.command("阶段 OPP－1 design")
    assert "OPP-1 moved from *Prospect* to *Solution design*" in last_text(slack)
    slack.command("阶段 ＯＰＰ－１ eval")
    assert opp(slack).stage_id == stage_ids(slack)["Technical evaluation"]
    assert [c.changed_at for c in rows(slack, StageChange)][1:] == [at, at]


def test_chinese_stage_names_are_matched_by_a_part(chinese, clock):
    deal = new_deal(chinese)
    ids = stage_ids(chinese)
    clock.advance(hours=2)
    chinese.command("阶段 OPP－1 设计")
    assert "OPP-1 moved from *初步接触* to *方案设计*" in last_text(chinese)
    assert opp(chinese).stage_id == ids["方案设计"]
    chinese.command("阶段 OPP-1 谈判")
    assert opp(chinese).stage_id == ids["商务谈判"]
    chinese.command("阶段 OPP-1 ２")  # by number, full width
    assert opp(chinese).stage_id == ids["需求确认"]
    assert [c.to_stage_id for c in rows(chinese, StageChange, opportunity_id=deal.id)] == [
        ids["初步接触"], ids["方案设计"], ids["商务谈判"], ids["需求确认"]]


def test_listing_by_a_chinese_stage(chinese):
    new_deal(chinese, "一号项目")
    new_deal(chinese, "二号项目")
    chinese.command("阶段 OPP-2 确认")
    chinese.command("列表 确认")
    listed = json.dumps(chinese.last_response(), ensure_ascii=False)
    assert "二号项目" in listed and "一号项目" not in listed


def test_an_unknown_chinese_stage_lists_the_valid_ones_and_changes_nothing(chinese):
    new_deal(chinese)
    chinese.command("阶段 OPP-1 签约")
    assert "Unknown stage “签约”. Valid stages: 1. 初步接触, 2. 需求确认, 3. 方案设计, 4. 商务谈判." in last_text(chinese)
    assert opp(chinese).stage_id == stage_ids(chinese)["初步接触"]
    assert len(rows(chinese, StageChange)) == 1


@pytest.mark.parametrize("query, stage", [("商", "商务谈判"), ("认", "需求确认"), ("计", "方案设计"), ("需求", "需求确认")])
def test_one_character_of_a_chinese_stage_name_is_enough(chinese, query, stage):
    new_deal(chinese)
    chinese.command(f"阶段 OPP-1 {query}")
    assert opp(chinese).stage_id == stage_ids(chinese)[stage]


def test_a_part_in_two_stage_names_says_which(slack):
    # the built-in stages: "tion" is in Solution design, Technical evaluation and Negotiation
    assert slack.create("Acme rollout").status == 200
    slack.command("阶段 OPP-1 tion")
    assert "“tion” matches Solution design, Technical evaluation and Negotiation; say which." in last_text(slack)
    assert opp(slack).stage_id == stage_ids(slack)["Prospect"]
    assert len(rows(slack, StageChange)) == 1


# ----- /opp 跟进 ---------------------------------------------------------------------------------

def test_opp_genjin_tomorrow_9am_in_the_users_time_zone(chinese):
    new_deal(chinese)
    chinese.command("跟进 OPP-1 明天上午9点 回电话")
    [row] = rows(chinese, FollowUp)
    assert row.due_at == datetime(2026, 12, 2, 9, 0, tzinfo=SHANGHAI)
    assert (row.text, row.assignee_id, row.status) == ("回电话", "U0REP1", "pending")
    assert "Follow-up on OPP-1" in last_text(chinese)


def test_a_follow_up_is_read_in_each_users_own_time_zone(slack):
    assert slack.create("Acme rollout", owner="U0REP2", user="U0REP2").status == 200
    slack.command("跟进 OPP-1 明天上午9点回电话", user="U0REP2")  # U0REP2 is in Los Angeles
    [row] = rows(slack, FollowUp)
    assert row.due_at == datetime(2026, 12, 2, 9, 0, tzinfo=ZoneInfo("America/Los_Angeles"))
    assert row.text == "回电话"


@pytest.mark.parametrize("when, due_local, task", [
    ("3天后 发报价", datetime(2026, 12, 4, 17, 0), "发报价"),
    ("下周一 开会", datetime(2026, 12, 7, 9, 0), "开会"),
    ("半小时后打电话", datetime(2026, 12, 1, 17, 30), "打电话"),
    ("今晚8点 整理纪要", datetime(2026, 12, 1, 20, 0), "整理纪要"),
    ("１２月３日　１４：００ 评审合同", datetime(2026, 12, 3, 14, 0), "评审合同"),
])
def test_chinese_follow_up_times(chinese, when, due_local, task):
    new_deal(chinese)
    chinese.command(f"跟进 OPP-1 {when}")
    [row] = rows(chinese, FollowUp)
    assert (row.due_at, row.text) == (due_local.replace(tzinfo=SHANGHAI), task)


def test_a_moved_clock_reads_tomorrow_from_the_new_day(chinese, clock):
    new_deal(chinese)
    clock.advance(days=1)  # Wednesday 17:00 in Shanghai
    chinese.command("跟进 OPP-1 下午3点 回访")  # past today: tomorrow's 15:00
    [row] = rows(chinese, FollowUp)
    assert row.due_at == datetime(2026, 12, 3, 15, 0, tzinfo=SHANGHAI)


@pytest.mark.parametrize("text, says", [
    ("跟进 OPP-1 明天25点 回电话", "“25点” is not a time of day."),
    ("跟进 OPP-1 13月5日 回电话", "“13月5日” is not a real date."),
    ("跟进 OPP-1 今天上午9点 回电话", "is in the past; pick a later time."),
    ("跟进 OPP-1 回头 再说", "I can't read “回头 再说” as a time. Try “明天上午9点”"),
    ("跟进 OPP-1 明天上午9点", "Say what to do after the time"),
    ("跟进 OPP-9 明天 回电话", "OPP-9 doesn't exist"),
])
def test_bad_chinese_follow_ups_say_why_and_store_nothing(chinese, text, says):
    new_deal(chinese)
    chinese.command(text)
    assert says in last_text(chinese)
    assert rows(chinese, FollowUp) == []


# ----- /opp 赢单, 输单, 查看, 帮助 -------------------------------------------------------------------

def test_opp_yingdan_with_a_full_width_ref_wins_it(chinese, clock):
    new_deal(chinese)
    clock.advance(days=3)
    chinese.command("赢单 ＯＰＰ－１")
    assert "OPP-1 marked *Won*" in last_text(chinese)
    deal = opp(chinese)
    assert deal.status == "won"
    assert deal.closed_at == START + timedelta(days=3)


def test_a_chinese_subcommand_needs_no_space(chinese):
    new_deal(chinese)
    chinese.command("赢单ＯＰＰ－１")
    assert "OPP-1 marked *Won*" in last_text(chinese) and opp(chinese).status == "won"


def test_opp_shudan_keeps_the_reason_as_typed(chinese):
    new_deal(chinese)
    chinese.command("输单 OPP-1 预算（２０２７）被砍")
    deal = opp(chinese)
    assert (deal.status, deal.lost_reason) == ("lost", "预算（２０２７）被砍")


def test_opp_chakan_shows_the_card(chinese):
    new_deal(chinese, amount="12万")
    chinese.command("查看 OPP-1")
    assert "华为云扩容" in json.dumps(chinese.last_response(), ensure_ascii=False)


@pytest.mark.parametrize("text, says", [  # a command typed in Chinese is answered in Chinese, in one line
    ("新增 项目", ":warning: 没有“新增”这个命令。你是不是想输入 `/opp 新建`？输入 `/opp 帮助` 查看全部命令。"),
    ("赢单 商机一", ":warning: “商机一”不是商机编号，请写成 OPP-12 这样的格式。输入 `/opp 帮助` 查看全部命令。"),
    ("赢单", ":warning: 用法：/opp 赢单 OPP-12。输入 `/opp 帮助` 查看全部命令。"),
])
def test_bad_chinese_commands_are_answered_with_help_and_change_nothing(chinese, text, says):
    new_deal(chinese)
    reply = chinese.command(text)
    assert reply.status == 200 and reply.json["text"] == says and "blocks" not in reply.json
    assert opp(chinese).status == "open"


def test_opp_bangzhu_is_the_help(chinese):
    reply = chinese.command("帮助")
    assert reply.status == 200 and reply.json["text"] == "oppbot 帮助"
    assert "/opp 新建" in json.dumps(reply.json["blocks"], ensure_ascii=False)
