"""Follow-ups and reminders, stage alerts and outcomes, notices, in the reader's language (issue #15).

A zh-CN workspace (`[workspace] language = "zh-CN"`) with zh-CN Slack users: `/opp followup` and its form,
the reminder DM with Done / Snooze, the nudge, the stalled-deal DM, a stage alert with Take it / Release
and what a click shows, the owner's "taken" notice, the won / lost announcements — all in Chinese, through
the Slack-shaped surface (signed requests to the running app, the fake Slack). A channel's messages are
in the workspace's language, a person's in theirs; an English workspace's are unchanged."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlmodel import Session, select

from bot.alerts.views import outcome_message, stage_alert_message
from bot.domain.values import LOST, OPEN, WON, FollowUpView, OpportunityView, Pipeline, Pipelines, StageInfo
from bot.followups.forms import validate_follow_up
from bot.followups.views import follow_up_modal, reminder_message
from bot.i18n import CHINESE, ENGLISH, translator
from bot.slack.ids import ADD_FOLLOW_UP_BUTTON, DONE_BUTTON, RELEASE_BUTTON, SNOOZE_SELECT, STAGE_SELECT, TAKE_BUTTON, WON_BUTTON
from bot.workspace.config import parse_config
from storage.models import FollowUp
from tests.driver import running_app
from tests.support import stage_ids

ZH = translator(CHINESE)
EN = translator(ENGLISH)

# A Chinese sales team: the workspace writes its channels in Chinese, its stages are named in Chinese.
ZH_CONFIG = """
[workspace]
currency = "CNY"
timezone = "Asia/Shanghai"
language = "zh-CN"
admins = ["U0ADMIN"]

[[teams]]
name = "华东"
manager = "U0MGR"
members = ["U0REP1", "U0REP2"]

[[stages]]
name = "初步接触"
probability = 10
max_days = 14

[[stages]]
name = "方案设计"
probability = 30
max_days = 21
alert_channel = "#solutions"
alert_usergroup = "S0SOLUTIONS"

[[stages]]
name = "商务谈判"
probability = 80
max_days = 21

[outcomes]
won_channel = "#wins"
lost_channel = "C0SALESOPS"
"""

# The same workspace in English, its stages named in English.
EN_CONFIG = (ZH_CONFIG.replace('language = "zh-CN"\n', "").replace('currency = "CNY"', 'currency = "USD"')
             .replace("初步接触", "Prospect").replace("方案设计", "Solution design").replace("商务谈判", "Negotiation").replace("华东", "East"))

DATA = ("华为云扩容", "华为（深圳）", "Huawei", "初步接触", "方案设计", "商务谈判", "Slack", "oppbot", "CNY", "UTC", "HH", "MM")
ALLOWED = {"call", "the", "buyer", "send", "quote", "went", "with", "a", "competitor"}  # the tasks and reasons typed in the tests


def english_words(text: str, *data: str) -> list[str]:
    """English words left in what a Chinese reader sees, once data, Slack tokens, emoji codes and OPP-n are taken out."""
    for value in (*DATA, *data):
        text = text.replace(value, " ")
    text = re.sub(r"<[^>]*>", " ", text)  # <@U…>, <!date^…|…>, <!subteam^…>, <#C…>, links
    text = re.sub(r":[a-z_]+:", " ", text)  # :bell:
    text = re.sub(r"OPP-\d+", " ", text)
    return [w for w in re.findall(r"[A-Za-z]{2,}", text) if w.lower() not in ALLOWED]


def shown(blocks: list[dict] | dict) -> str:
    """Every string a reader sees in Block Kit (texts, labels, placeholders, options, hints, titles)."""
    seen: list[str] = []

    def walk(node: object, key: str = "") -> None:
        if isinstance(node, dict):
            if node.get("type") in ("plain_text", "mrkdwn") and isinstance(node.get("text"), str):
                seen.append(node["text"])
            for k, v in node.items():
                if k not in ("action_id", "block_id", "value", "url", "callback_id", "private_metadata", "type", "initial_user", "initial_time"):
                    walk(v, k)
        elif isinstance(node, list):
            for item in node:
                walk(item, key)
    walk(blocks)
    return "\n".join(seen)


@pytest.fixture
def zh(engine, fake_slack, clock):
    for user, tz in (("U0REP1", "Asia/Shanghai"), ("U0REP2", "Asia/Shanghai"), ("U0MGR", "Asia/Shanghai"), ("U0OTHER", "Asia/Shanghai")):
        fake_slack.add_user(user, tz=tz, locale="zh-CN")
    for channel, name in (("C0SOLUTIONS", "solutions"), ("C0WINS", "wins"), ("C0SALESOPS", "sales-ops")):
        fake_slack.add_channel(channel, name)
    with running_app(engine=engine, fake=fake_slack, clock=clock, config=parse_config(ZH_CONFIG, "zh.toml")) as driver:
        yield driver


@pytest.fixture
def en(engine, fake_slack, clock):
    for channel, name in (("C0SOLUTIONS", "solutions"), ("C0WINS", "wins"), ("C0SALESOPS", "sales-ops")):
        fake_slack.add_channel(channel, name)
    with running_app(engine=engine, fake=fake_slack, clock=clock, config=parse_config(EN_CONFIG, "en.toml")) as driver:
        yield driver


def new_deal(slack, name: str = "华为云扩容", customer: str = "华为（深圳）", **values) -> int:
    slack.command(f"new {name}")
    reply = slack.submit(slack.last_view(), {"name": name, "customer": customer, **values})
    assert reply.status == 200 and reply.body == "", reply.body
    return slack.oppbot.services.deals.find(slack.oppbot.services.workspaces.context("T0TEST", "U0ADMIN"), number=1).id


def posts(fake, channel: str) -> list:
    return [c for c in fake.calls("chat.postMessage") if c.params["channel"] == channel and c.status == 200 and c.response.get("ok")]


def follow_ups(engine) -> list[FollowUp]:
    with Session(engine) as session:
        return list(session.scalars(select(FollowUp).order_by(FollowUp.id)))


def click_in(slack, posted, action_id: str, user: str, *, blocks: list[dict] | None = None, **action) -> None:
    """A click on a button (or a select) of a message the bot posted, as Slack sends it (with a response_url)."""
    blocks = blocks if blocks is not None else posted.params["blocks"]
    block = next(b for b in blocks if b["type"] == "actions")
    if "value" not in action and "selected_option" not in action:
        action["value"] = next(e["value"] for e in block["elements"] if e.get("action_id") == action_id)
    slack.interact({
        "type": "block_actions", "team": {"id": "T0TEST"}, "user": {"id": user}, "trigger_id": "t-zh",
        "container": {"type": "message", "channel_id": posted.params["channel"], "message_ts": posted.response["ts"], "is_ephemeral": False},
        "channel": {"id": posted.params["channel"]}, "response_url": slack.fake.response_url("zh"),
        "actions": [{"action_id": action_id, "block_id": block.get("block_id", "b"), "type": action.pop("type", "button"), **action}],
    })


def redrawn(slack) -> list[dict]:
    return [r for r in slack.responses() if r.get("replace_original")]


def elements(blocks: list[dict]) -> list[dict]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


# ----- /opp followup, its form, the reminder DM ---------------------------------------------------

def test_followup_command_and_the_reminder_dm_with_done_are_in_chinese(zh):
    new_deal(zh)
    zh.command("followup OPP-1 周八 回电话")
    assert "看不懂“周八 回电话”这个时间" in zh.last_response()["text"] and english_words(zh.last_response()["text"]) == [], zh.last_response()["text"]
    zh.command("followup OPP-1 tomorrow 9am")
    assert zh.last_response()["text"].endswith("请在时间后面写上要做的事，例如：/opp 跟进 OPP-12 明天上午9点 发报价。")
    zh.command("followup OPP-1 in 1 hour call the buyer")
    said = zh.last_response()["text"]
    assert said.startswith("已为你添加 OPP-1 的跟进：“call the buyer”，<!date^") and said.endswith(" 到期。")
    zh.clock.advance(hours=1)
    assert zh.oppbot.dispatcher.run_once().sent == 1
    [dm] = posts(zh.fake, "DU0REP1")[-1:]
    assert dm.params["text"] == "跟进到期：call the buyer — OPP-1 华为云扩容（华为（深圳））"
    section = dm.params["blocks"][0]["text"]["text"]
    assert section.startswith(":bell: *跟进到期*：call the buyer\n*OPP-1 · 华为云扩容*（华为（深圳））\n到期时间：<!date^")
    controls = elements(dm.params["blocks"])
    assert [c["action_id"] for c in controls] == [DONE_BUTTON, SNOOZE_SELECT, "card_details"]
    assert controls[0]["text"]["text"] == "完成" and controls[1]["placeholder"]["text"] == "稍后提醒…"
    assert [o["text"]["text"] for o in controls[1]["options"]] == ["1 小时后", "明天 9:00", "3 天后"]
    assert controls[2]["text"]["text"] == "打开商机"
    assert english_words(shown(dm.params["blocks"]) + dm.params["text"]) == []

    # Done: the DM is redrawn in Chinese; a second click is told, in Chinese, that it is already done
    row = follow_ups(zh.oppbot.engine)[0]
    click_in(zh, dm, DONE_BUTTON, "U0OTHER", value=str(row.id))  # not theirs: refused, in their language
    assert zh.last_response()["text"].endswith("这条跟进由 <@U0REP1> 负责；只有本人、商机负责人、负责人的销售经理或管理员可以修改。")
    click_in(zh, dm, DONE_BUTTON, "U0REP1", value=str(row.id))
    update = redrawn(zh)[-1]
    assert update["text"] == ":white_check_mark: 已完成：“call the buyer”（OPP-1）。 — call the buyer（OPP-1）"
    assert update["blocks"][0]["text"]["text"] == ":white_check_mark: 已完成：“call the buyer”（OPP-1）。\n*OPP-1 · 华为云扩容*（华为（深圳））"
    assert english_words(shown(update["blocks"])) == []
    click_in(zh, dm, DONE_BUTTON, "U0REP1", value=str(row.id))
    assert zh.last_response()["text"] == "已经完成了：“call the buyer”。"


def test_snooze_and_the_nudge_are_in_chinese(zh):
    new_deal(zh)
    zh.command("followup OPP-1 in 1 hour send the quote")
    zh.clock.advance(hours=1)
    zh.oppbot.dispatcher.run_once()
    [dm] = posts(zh.fake, "DU0REP1")[-1:]
    row = follow_ups(zh.oppbot.engine)[0]
    option = {"text": {"type": "plain_text", "text": "1 小时后"}, "value": f"{row.id}:1h"}
    click_in(zh, dm, SNOOZE_SELECT, "U0REP1", type="static_select", selected_option=option)
    assert re.fullmatch(r":zzz: 将在 <!date\^\d+\^[^|]+\|[^>]+> 再提醒：“send the quote”（OPP-1）。 — send the quote（OPP-1）", redrawn(zh)[-1]["text"])
    click_in(zh, dm, SNOOZE_SELECT, "U0REP1", type="static_select", selected_option=option)  # a double click
    assert re.fullmatch(r"已经设为 <!date[^>]+> 再提醒。", zh.last_response()["text"])
    # not done a day after it fell due again: the nudge
    zh.clock.advance(hours=1)
    zh.oppbot.dispatcher.run_once()
    zh.clock.advance(hours=24)
    zh.oppbot.dispatcher.run_once()
    nudge = posts(zh.fake, "DU0REP1")[-1]
    assert nudge.params["blocks"][0]["text"]["text"].startswith(":bell: *仍待跟进*：send the quote\n*OPP-1 · 华为云扩容*（华为（深圳））")
    assert english_words(shown(nudge.params["blocks"])) == []


def test_the_follow_up_form_and_its_errors_are_in_chinese(zh):
    deal = new_deal(zh)
    zh.click(ADD_FOLLOW_UP_BUTTON, value=str(deal))
    view = zh.last_view()
    assert (view["title"]["text"], view["submit"]["text"], view["close"]["text"]) == ("添加跟进", "保存", "取消")
    labels = [b["label"]["text"] for b in view["blocks"] if b["type"] == "input"]
    assert labels == ["跟进事项", "什么时候", "日期", "时间", "由谁跟进"]
    quick = next(b for b in view["blocks"] if b.get("block_id") == "quick")
    assert [o["text"]["text"] for o in quick["element"]["options"]] == ["明天 9:00", "3 天后", "下周一 9:00"]
    assert quick["hint"]["text"] == "也可以在下方选择日期和时间。"
    assert english_words(shown(view)) == []
    reply = zh.submit(view, {"assignee": "U0REP1"})
    assert reply.json["errors"] == {"what": "请写明要做什么，例如“给采购回电话”。", "date": "请选择日期，或选择上方的快捷选项。"}
    reply = zh.submit(view, {"what": "回电话", "date": "2026-11-30", "assignee": "U0REP1"})
    assert reply.json["errors"] == {"date": "这个时间已经过去了，请选择更晚的日期或时间。"}
    assert follow_ups(zh.oppbot.engine) == []
    reply = zh.submit(view, {"what": "回电话", "quick": "3d", "assignee": "U0REP2"})
    assert reply.status == 200 and reply.body == ""


def test_the_stalled_deal_dm_is_in_chinese(zh):
    new_deal(zh)
    zh.clock.advance(days=20)
    zh.oppbot.dispatcher.run_once()
    [dm] = [c for c in posts(zh.fake, "DU0REP1") if "已停滞" in c.params["text"]]
    assert dm.params["text"].startswith("OPP-1 华为云扩容 已停滞：")
    section = dm.params["blocks"][0]["text"]["text"]
    assert section.startswith(":hourglass: *OPP-1 · 华为云扩容*（华为（深圳））已停滞：") and section.endswith("。请推进阶段，或安排下一步跟进。")
    buttons = [e["text"]["text"] for e in elements(dm.params["blocks"]) if e["type"] == "button"]
    assert buttons == ["添加跟进", "打开商机"]
    assert english_words(shown(dm.params["blocks"]) + dm.params["text"]) == []


# ----- stage alerts, Take it / Release, the owner's notice -----------------------------------------

def test_a_stage_alert_and_take_it_and_release_are_in_chinese(zh):
    deal = new_deal(zh, amount="250000", next_step="和 IT 开研讨会")
    zh.click(STAGE_SELECT, selected=f"{deal}:{stage_ids(zh)['方案设计']}")
    zh.oppbot.dispatcher.run_once()
    [alert] = posts(zh.fake, "C0SOLUTIONS")
    assert alert.params["text"] == "OPP-1 华为云扩容（华为（深圳））进入阶段：方案设计"
    blocks = alert.params["blocks"]
    assert blocks[0]["text"]["text"] == "<!subteam^S0SOLUTIONS> :rotating_light: <@U0REP1> 已将 *OPP-1 · 华为云扩容* 移到 *方案设计* 阶段。"
    fields = [f["text"] for f in blocks[1]["fields"]]
    assert fields == ["*客户*\n华为（深圳）", "*金额*\n¥250,000.00", "*负责人*\n<@U0REP1>", "*预计成交日期*\n—", "*阶段*\n方案设计",
                      "*已走过的阶段*\n初步接触 › 方案设计"]
    assert blocks[2]["text"]["text"] == "*下一步：*和 IT 开研讨会"
    assert [e["text"]["text"] for e in elements(blocks)] == ["我来跟进", "打开"]
    assert english_words(shown(blocks) + alert.params["text"], "IT") == []

    # Take it: the alert is redrawn in the workspace's language, the owner is told in theirs
    click_in(zh, alert, TAKE_BUTTON, "U0OTHER")
    update = redrawn(zh)[-1]
    assert any(b["type"] == "context" and b["elements"][0]["text"] == ":raised_hand: 由 <@U0OTHER> 跟进" for b in update["blocks"])
    assert [e["text"]["text"] for e in elements(update["blocks"])] == ["放弃跟进", "打开"]
    assert english_words(shown(update["blocks"]), "IT") == []
    assert any(c.params["text"] == "<@U0OTHER> 接手了 OPP-1 华为云扩容 在 方案设计 阶段的跟进。" for c in posts(zh.fake, "DU0REP1"))
    # someone else clicks Take it: told who has it, in Chinese
    click_in(zh, alert, TAKE_BUTTON, "U0REP2")
    assert zh.last_response()["text"] == "<@U0OTHER> 已经在跟进了。"
    click_in(zh, alert, RELEASE_BUTTON, "U0REP2", blocks=update["blocks"])
    assert zh.last_response()["text"].endswith("这条由 <@U0OTHER> 跟进，只有本人（或管理员）可以放弃跟进。")
    # the taker releases it: free to take again
    click_in(zh, alert, RELEASE_BUTTON, "U0OTHER", blocks=update["blocks"])
    released = redrawn(zh)[-1]
    assert [e["text"]["text"] for e in elements(released["blocks"])] == ["我来跟进", "打开"]
    assert "由 <@U0OTHER> 跟进" not in shown(released["blocks"])


def test_a_zh_workspace_alerts_in_chinese_but_tells_an_english_owner_in_english(zh):
    zh.fake.add_user("U0REP1", tz="Asia/Shanghai", locale="en-US")
    deal = new_deal(zh)
    zh.click(STAGE_SELECT, selected=f"{deal}:{stage_ids(zh)['方案设计']}")
    zh.oppbot.dispatcher.run_once()
    [alert] = posts(zh.fake, "C0SOLUTIONS")
    assert "已将 *OPP-1 · 华为云扩容* 移到 *方案设计* 阶段。" in alert.params["blocks"][0]["text"]["text"]
    click_in(zh, alert, TAKE_BUTTON, "U0OTHER")
    assert any(c.params["text"] == "<@U0OTHER> took OPP-1 华为云扩容 for 方案设计." for c in posts(zh.fake, "DU0REP1"))


def test_the_admins_are_told_in_their_language_when_the_bot_cant_post_an_alert(zh):
    zh.fake.add_channel("C0SOLUTIONS", "solutions", is_private=True, is_member=False)
    zh.fake.add_user("U0ADMIN", tz="Europe/Berlin", locale="zh-CN")
    deal = new_deal(zh)
    zh.click(STAGE_SELECT, selected=f"{deal}:{stage_ids(zh)['方案设计']}")
    zh.oppbot.dispatcher.run_once()
    zh.oppbot.dispatcher.run_once()  # the admin notice goes out, in the admin's language
    [notice] = posts(zh.fake, "DU0ADMIN")
    assert notice.params["text"] == ("oppbot 无法在 <#C0SOLUTIONS> 发送阶段提醒：它不是该频道成员，也无法加入（method_not_supported_for_channel_type）。"
                                     "请在该频道用 `/invite @oppbot` 邀请它；一旦可以发送，待发的提醒会立即发出。")


def test_won_and_lost_are_announced_in_chinese(zh):
    deal = new_deal(zh, amount="1200000")
    zh.click(WON_BUTTON, value=str(deal))
    zh.command("new 阿里云迁移")
    zh.submit(zh.last_view(), {"name": "阿里云迁移", "customer": "阿里巴巴"})
    zh.command("lost OPP-2 went with a competitor")
    zh.oppbot.dispatcher.run_once()
    zh.command("followup OPP-1 tomorrow 9am call the buyer")
    assert zh.last_response()["text"].endswith("OPP-1 已赢单；请先重新打开，再安排跟进。")
    [won] = posts(zh.fake, "C0WINS")
    assert won.params["text"] == "OPP-1 华为云扩容 赢单"
    assert won.params["blocks"][0]["text"]["text"] == ":trophy: *OPP-1 · 华为云扩容*（华为（深圳））*赢单*！金额 ¥1,200,000.00，负责人 <@U0REP1>。"
    assert won.params["blocks"][1]["elements"][0]["text"] == "由 <@U0REP1> 标记"
    [lost] = posts(zh.fake, "C0SALESOPS")
    assert lost.params["text"] == "OPP-2 阿里云迁移 输单"
    assert lost.params["blocks"][0]["text"]["text"] == (
        ":small_red_triangle_down: *OPP-2 · 阿里云迁移*（阿里巴巴）*输单*，金额 —，负责人 <@U0REP1>。输单原因：went with a competitor")
    for message in (won, lost):
        assert english_words(shown(message.params["blocks"]) + message.params["text"], "阿里云迁移", "阿里巴巴") == []


# ----- an English workspace is unchanged -----------------------------------------------------------

def test_an_english_workspaces_reminder_and_alert_are_unchanged(en):
    deal = new_deal(en, "Acme rollout", "Acme Corp", amount="250000")
    en.command("followup OPP-1 in 1 hour call the buyer")
    assert re.fullmatch(r"Follow-up on OPP-1 for you: “call the buyer”, due <!date[^>]+>\.", en.last_response()["text"])
    en.clock.advance(hours=1)
    en.oppbot.dispatcher.run_once()
    [dm] = posts(en.fake, "DU0REP1")[-1:]
    assert dm.params["text"] == "Follow-up due: call the buyer — OPP-1 Acme rollout (Acme Corp)"
    assert dm.params["blocks"][0]["text"]["text"].startswith(":bell: *Follow-up due*: call the buyer\n*OPP-1 · Acme rollout* — Acme Corp\nDue <!date^")
    assert [o["text"]["text"] for o in elements(dm.params["blocks"])[1]["options"]] == ["1 hour", "Tomorrow 9:00", "3 days"]
    en.click(STAGE_SELECT, selected=f"{deal}:{stage_ids(en)['Solution design']}")
    en.oppbot.dispatcher.run_once()
    [alert] = posts(en.fake, "C0SOLUTIONS")
    assert alert.params["text"] == "OPP-1 Acme rollout (Acme Corp) entered Solution design"
    assert [f["text"] for f in alert.params["blocks"][1]["fields"]][:2] == ["*Customer*\nAcme Corp", "*Amount*\nUSD 250,000"]
    click_in(en, alert, TAKE_BUTTON, "U0OTHER")
    assert any(b["type"] == "context" and b["elements"][0]["text"] == ":raised_hand: Taken by <@U0OTHER>" for b in redrawn(en)[-1]["blocks"])
    assert any(c.params["text"] == "<@U0OTHER> took OPP-1 Acme rollout for Solution design." for c in posts(en.fake, "DU0REP1"))


# ----- the views, for each language -----------------------------------------------------------------

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
STAGES = Pipeline(stages=(StageInfo(1, 0, "初步接触", 10, 14), StageInfo(2, 1, "方案设计", 30, 21, alert_channel="#solutions")))


def opportunity(status: str = OPEN, amount: Decimal | None = Decimal("88000")) -> OpportunityView:
    return OpportunityView(id=7, team_id="T0TEST", number=12, name="华为云扩容", customer="华为（深圳）", amount=amount, currency="CNY",
                           close_date=None, stage_id=2, status=status, owner_id="U0REP1", created_by="U0REP1", created_at=NOW,
                           updated_at=NOW, stage_entered_at=NOW)


def follow_up() -> FollowUpView:
    return FollowUpView(id=3, team_id="T0TEST", opportunity_id=7, text="发报价", due_at=NOW, assignee_id="U0REP1", status="pending",
                        created_by="U0REP1")


def test_a_late_reminder_says_so_in_chinese():
    text, blocks = reminder_message(follow_up(), opportunity(), nudge=False, late_since=NOW - timedelta(hours=2), t=ZH)
    assert text == "跟进到期：发报价 — OPP-12 华为云扩容（华为（深圳））"
    assert re.search(r"\n_本应在 <!date[^>]+> 提醒你，但当时我不在线。_$", blocks[0]["text"]["text"])
    english, _ = reminder_message(follow_up(), opportunity(), nudge=False, late_since=NOW - timedelta(hours=2), t=EN)
    assert english == "Follow-up due: 发报价 — OPP-12 华为云扩容 (华为（深圳）)"


def test_the_modal_and_the_announcements_for_each_reader():
    assert follow_up_modal(opportunity(), {}, assignee_id="U0REP1", t=EN)["title"]["text"] == "Add follow-up"
    _, alert = stage_alert_message(opportunity(), Pipelines((STAGES,)), 5, "U0REP2", STAGES.stages[1], [1, 2], None, holder=None, t=ZH)
    assert alert[1]["fields"][1]["text"] == "*金额*\n¥88,000.00"
    _, won = outcome_message(opportunity(WON), WON, "U0MGR", None, t=EN)
    assert won[0]["text"]["text"] == ":trophy: *OPP-12 · 华为云扩容* (华为（深圳）) is *won* — CNY 88,000. Owner <@U0REP1>."
    _, lost = outcome_message(opportunity(LOST), LOST, "U0MGR", None, t=ZH)
    assert lost[0]["text"]["text"] == ":small_red_triangle_down: *OPP-12 · 华为云扩容*（华为（深圳））*输单*，金额 ¥88,000.00，负责人 <@U0REP1>。"


def test_the_forms_errors_for_each_reader():
    _, errors = validate_follow_up({"what": "x" * 501, "quick": "later", "assignee": "nobody"}, NOW, "Asia/Shanghai", t=ZH)
    assert errors == {"what": "太长了：501 个字符，最多 500 个。", "quick": "请从选项中选择一个。", "assignee": "请选择由谁跟进。"}
    _, errors = validate_follow_up({"what": "x" * 501, "quick": "later", "assignee": "nobody"}, NOW, "Asia/Shanghai", t=EN)
    assert errors == {"what": "Too long: 501 characters, at most 500.", "quick": "Pick one of the choices.", "assignee": "Pick who should do it."}
