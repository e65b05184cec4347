"""The App Home, /opp config, assignment and teams in Simplified Chinese (issue #15): the views for a zh-CN reader
say real Chinese sentences, and through the Slack-shaped surface a zh-CN user's App Home and /opp config are in
Chinese while an English user's are unchanged."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from bot.assignment.scoring import Candidate, rank
from bot.assignment.views import suggestions_message
from bot.domain.money import ExchangeRate, Rates
from bot.domain.values import OppError, OpportunityView, Pipeline, StageInfo, TeamView
from bot.i18n import translator
from bot.teams.views import team_blocks
from bot.workspace.config import AssignmentConfig, parse_config
from bot.workspace.forms import read_rate_lines, validate_workspace_settings
from bot.workspace.views import config_modal
from storage import analytics
from tests.driver import running_app
from tests.fakeslack import check_view
from tests.support import TEST_CONFIG, context, create, text_of

ZH = translator("zh-CN")
EN = translator("en")
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
STAGES = Pipeline((StageInfo(11, 1, "Prospect", 10, 14), StageInfo(12, 2, "Negotiation", 80, 21)))
CNY = Rates("CNY", (ExchangeRate("USD", Decimal("7.1"), date(2026, 11, 30)),))


def english_words(text: str, *, allowed: set[str] = frozenset()) -> list[str]:
    """The English words left in what a Chinese reader sees, apart from data and Slack syntax: commands in
    backticks, <@U…>/<#C…>/<!date…> tokens, :emoji: codes, OPP-n, currency codes and the given names."""
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"\w*\d\w*", " ", text)  # ids and codes: S0123ABCD, C0EAST
    text = re.sub(r"<[^>]*>", " ", text)
    text = re.sub(r":[a-z_]+:", " ", text)
    words = re.findall(r"[A-Za-z]{2,}", text)
    data = {"OPP", "US", "USD", "CNY", "EUR", "ID", "Slack", "oppbot", "OPPBOT", "CONFIG", "teams", "S0123ABCD"} | set(allowed)
    return [w for w in words if w not in data]


def deal(**values) -> OpportunityView:
    fields = dict(id=7, team_id="T0TEST", number=7, name="云平台扩容", customer="华为", amount=Decimal("120000"), currency="CNY",
                  close_date=None, stage_id=11, status="open", owner_id="U0REP1", created_by="U0REP1", created_at=NOW, updated_at=NOW,
                  stage_entered_at=NOW)
    fields.update(values)
    return OpportunityView(**fields)


# ----- /opp config --------------------------------------------------------------------------------

def test_the_config_modal_for_a_chinese_admin():
    view = config_modal(STAGES, won_channel=None, lost_channel=None, rates=CNY, t=ZH)
    assert check_view(view) == []
    assert (view["title"]["text"], view["submit"]["text"], view["close"]["text"]) == ("销售管道设置", "保存", "取消")
    labels = [b["label"]["text"] for b in view["blocks"] if b["type"] == "input"]
    assert labels[:2] == ["管道名称", "说明"]
    assert labels[2:6] == ["1. Prospect · 通知频道", "1. Prospect · 要 @ 的用户组", "1. Prospect · 赢单概率（%）", "1. Prospect · 停留超过多少天算停滞"]
    assert labels[-3:] == ["赢单通知发到", "输单通知发到", "折算为 CNY 的汇率"]
    assert view["blocks"][-1]["hint"]["text"] == ("每行一个：币种代码，以及 1 单位该币种折合多少 CNY。合计金额按这些汇率折算；没有汇率的币种单独列出。"
                                                  "设定日期：USD（2026-11-30）。")
    assert next(b for b in view["blocks"] if b["block_id"].endswith(":channel"))["element"]["placeholder"]["text"] == "不发通知"
    assert english_words(text_of(view), allowed={"Prospect", "Negotiation"}) == []


def test_the_config_modal_in_english_is_unchanged():
    view = config_modal(STAGES, won_channel=None, lost_channel=None, rates=CNY, t=EN)
    assert (view["title"]["text"], view["submit"]["text"], view["close"]["text"]) == ("Pipeline settings", "Save", "Cancel")
    assert [b["label"]["text"] for b in view["blocks"] if b["type"] == "input"][-3:] == ["Announce won deals in", "Announce lost deals in", "Exchange rates into CNY"]
    assert view["blocks"][-1]["hint"]["text"] == ("One a line: a currency and what one unit is worth in CNY. Totals convert with these; "
                                                  "a currency without a rate is shown apart. Set: USD on 2026-11-30.")


@pytest.mark.parametrize("raw, said", [
    ("EUR 7,82", "“EUR 7,82”：汇率必须是小于 1,000,000 的正数，最多 6 位小数。"),
    ("欧元 7.82", "“欧元 7.82”：请写币种代码和汇率，例如“EUR 7.82”（1 EUR 折合多少 CNY）。"),
    ("CNY 1", "CNY 是本工作区的记账币种，不需要汇率。"),
    ("EUR 7.8\nEUR 7.9", "EUR 填了两次，请只保留一行。"),
    ("\n".join(f"X{i:02d} 1" for i in range(51)), "最多 50 个汇率，每行一个。"),
])
def test_the_rates_box_errors_in_chinese(raw, said):
    assert read_rate_lines(raw, "CNY", t=ZH) == ((), said)


def test_the_settings_errors_in_chinese():
    values = {"stage:11:channel": "#general", "stage:11:group": "team", "stage:11:probability": "百分之十", "stage:11:max_days": "0",
              "stage:12:probability": "120", "stage:12:max_days": "21"}
    settings, errors = validate_workspace_settings(values, STAGES, "CNY", t=ZH)
    assert settings is None
    assert errors == {"stage:11:channel": "请从列表中选择一个频道。",
                      "stage:11:group": "用户组 ID 形如 S0123ABCD（Slack 管理后台 → 用户组 → 复制 ID）。",
                      "stage:11:probability": "赢单概率必须是 0 到 100 之间的整数。",
                      "stage:11:max_days": "停滞天数必须在 1 到 3650 之间，不能是 0。",
                      "stage:12:probability": "赢单概率必须在 0 到 100 之间，不能是 120。"}
    _, english = validate_workspace_settings(values, STAGES, "CNY", t=EN)
    assert english["stage:12:probability"] == "Win probability must be from 0 to 100, not 120."


# ----- suggestions and their reasons ----------------------------------------------------------------

def record(owner, closed, won, similar_closed=None, similar_won=None, cycle_days=30.0):
    similar_closed = closed if similar_closed is None else similar_closed
    similar_won = won if similar_won is None else similar_won
    return analytics.RepRecord(owner, closed, won, similar_closed, similar_won, float(similar_closed), float(similar_won), similar_won * cycle_days)


def load(owner, open_count=5, weighted=Decimal("50000"), overdue=0):
    return analytics.RepLoad(owner, open_count, weighted, overdue)


WEIGHTS = AssignmentConfig()


def test_the_reasons_of_a_suggestion_in_chinese():
    ranked = rank([Candidate("U0A", record("U0A", 20, 12, cycle_days=12), load("U0A", 2, overdue=3)),
                   Candidate("U0B", None, load("U0B", 12))], WEIGHTS, NOW, similar_label="医疗 · 华北", currency="CNY")
    by = {s.user_id: s for s in ranked}
    assert by["U0A"].reasons_in(ZH) == "20 个类似商机（医疗 · 华北）中赢单 12 个；2 个进行中的商机，比团队平均少 5 个；3 条逾期跟进；平均 12 天 赢单，团队平均 12 天"
    assert by["U0B"].reasons_in(ZH) == "还没有已关闭的商机，按团队 60% 的赢率计算；12 个进行中的商机，比团队平均多 5 个"
    # the English, for logs and English readers, is the sentence it always was
    assert by["U0B"].reasons == by["U0B"].reasons_in(EN) == ("no closed deals yet, so counted at the team's 60% win rate; "
                                                            "12 open deals, 5 more than the team's average")


def test_the_suggestions_message_for_a_chinese_manager():
    ranked = rank([Candidate("U0A", record("U0A", 1, 1), load("U0A", 0))], WEIGHTS, NOW, similar_label="", currency="CNY")
    text, blocks = suggestions_message(deal(), ranked, requested_by="U0REP1", team_name="华东", t=ZH)
    assert text == "OPP-7 云平台扩容 需要分配负责人"
    said = text_of(blocks)
    assert ":busts_in_silhouette: *OPP-7 · 云平台扩容*（华为，¥120,000.00）需要分配负责人，由 <@U0REP1> 提出。" in said
    assert "*1. <@U0A>*：唯一一个已关闭的商机赢单了；没有进行中的商机，与团队平均持平" in said
    assert "按 华东 中类似商机的赢单情况、成交速度和当前工作量排序。也可以用 `/opp assign OPP-7 @销售` 直接分配。" in said
    assert [e["text"]["text"] for b in blocks if "accessory" in b for e in [b["accessory"]]] == ["分配"]
    assert english_words(said) == []
    _, none = suggestions_message(deal(), [], requested_by="U0REP1", team_name="华东", t=ZH)
    assert "华东 暂无可推荐的销售（团队里还没有人，或者都在休假）。请用 `/opp assign OPP-7 @销售` 手动分配。" in text_of(none)


def test_a_team_for_a_chinese_reader():
    team = TeamView(id=1, name="华东", manager_id="U0MGR", member_ids=("U0REP1", "U0REP2"), channel="C0EAST", digest="0 9 * * MON",
                    timezone=None, auto_assign=False, routing_channel=None)
    said = text_of(team_blocks(team, t=ZH))
    assert "*团队 华东*\n销售经理：<@U0MGR>\n销售（2）：<@U0REP1>、<@U0REP2>" in said
    assert "管道简报发送时间 `0 9 * * MON`（工作区时区）· 简报同时发到 <#C0EAST>。 销售经理可以用 `/opp team add @销售` 和 `/opp team remove @销售` 调整团队成员。" in said
    assert english_words(said) == []


# ----- through Slack --------------------------------------------------------------------------------

# The App Home shows lines that bot/deals/views.py writes (stalled_why, opportunity_line, follow_up_line): their words
# are that module's part of the catalogue, not this one's; the rest of the App Home must have no English left.
DEALS_FRAGMENTS = {"Overdue", "Next", "in", "stage", "days", "stalled", "after", "typical", "time", "there", "is", "from", "deals"}
MY_ENGLISH = ("Your pipeline", "New opportunity", "Follow-ups", "due today", "stalled deals", "Open:", "weighted", " open ", "more in",
              "funnel", "Won ", "Lost ", "no deals yet", "You have no")


def home_text(slack, user: str, *, chinese: bool = True) -> str:
    slack.event({"type": "app_home_opened", "user": user, "tab": "home"})
    view = slack.fake.home_view(user)
    assert view is not None and check_view(view) == []
    said = text_of(view["blocks"])
    if chinese:
        assert [w for w in MY_ENGLISH if w in said] == [], said
    return said


@pytest.fixture
def chinese_users(fake_slack):
    for user in ("U0REP1", "U0MGR", "U0ADMIN"):
        fake_slack.add_user(user, tz="Asia/Shanghai", locale="zh-CN")
    return fake_slack


def test_a_chinese_reps_app_home(chinese_users, slack, clock):
    services = slack.oppbot.services
    empty = home_text(slack, "U0REP1")
    assert "你目前没有进行中的商机。点上方按钮或用 `/opp new` 新建一个吧。" in empty and "我的销售管道" in empty and "新建商机" in empty
    create(services, "U0REP1", name="华为云扩容", amount=Decimal("120000"))
    create(services, "U0REP1", name="Acme rollout", amount=Decimal("5000"))
    services.follow_ups.add_from_text(context(services, "U0REP1"), 1, "in 2 hours 给客户回电话")
    clock.advance(days=20)  # both deals over Prospect's 14 days
    home = home_text(slack, "U0REP1")
    assert "*跟进：1 条逾期，0 条今天到期*" in home
    assert "*我的停滞商机（2）*" in home
    assert "• *OPP-1* 华为云扩容 · " in home
    assert "*进行中* 2 个商机 · US$125,000.00 · 加权金额 US$12,500.00" in home
    assert "*Prospect* · 进行中 2 个 · US$125,000.00 · 加权金额 US$12,500.00" in home
    assert [b for b in ("完成", "打开") if b not in home] == []
    assert english_words(home, allowed={"Prospect", "Acme", "rollout", "Cust"} | DEALS_FRAGMENTS) == [], home


def test_a_chinese_managers_app_home_shows_the_team_funnel_in_chinese(chinese_users, slack, clock):
    create(slack.oppbot.services, "U0REP2", name="Sleepy")
    clock.advance(days=20)
    home = home_text(slack, "U0MGR")
    assert "*团队销售漏斗*（到达各阶段的商机数 → 进入下一阶段的转化率，最后一个阶段为赢单转化率）" in home
    assert "赢单 0 · 输单 0" in home
    assert "*团队停滞商机（1）*\n• *OPP-1* Sleepy（<@U0REP2>）· " in home
    assert english_words(home, allowed={"Prospect", "Solution", "design", "Technical", "evaluation", "Negotiation", "Sleepy"} | DEALS_FRAGMENTS) == [], home


def test_an_english_users_app_home_is_unchanged(slack, clock):
    create(slack.oppbot.services, "U0REP2", name="Sleepy")
    clock.advance(days=20)
    home = home_text(slack, "U0MGR", chinese=False)
    assert "*Your team's funnel* (deals that reached each stage → conversion to the next, the last to Won)" in home
    assert "*Team's stalled deals (1)*\n• *OPP-1* Sleepy (<@U0REP2>) · 20 days in Prospect; stalled after 14" in home
    assert "Your pipeline" in home and "New opportunity" in home


def test_opp_config_for_a_chinese_admin_and_its_errors(chinese_users, slack):
    slack.command("config", user="U0ADMIN")
    view = slack.last_view()
    assert view["title"]["text"] == "销售管道设置"
    inputs = [b for b in view["blocks"] if b["type"] == "input"]
    labels = [b["label"]["text"] for b in inputs]
    assert "1. Prospect · 赢单概率（%）" in labels and "折算为 USD 的汇率" in labels
    values = {b["block_id"]: b["element"].get("initial_value", "") for b in inputs if b["element"]["type"] == "plain_text_input"}
    probability = next(b["block_id"] for b in inputs if b["block_id"].endswith(":probability"))
    values[probability] = "一百"
    values["exchange_rates"] = "CNY 0.14\nCNY 0.15"
    reply = slack.submit(view, values, user="U0ADMIN")
    errors = reply.json["errors"]
    assert errors[probability] == "赢单概率必须是 0 到 100 之间的整数。"
    assert errors["exchange_rates"] == "CNY 填了两次，请只保留一行。"


def test_opp_config_in_english_is_unchanged(slack):
    slack.command("config", user="U0ADMIN")
    view = slack.last_view()
    assert (view["title"]["text"], view["submit"]["text"]) == ("Pipeline settings", "Save")
    assert "1. Prospect · win probability (%)" in [b["label"]["text"] for b in view["blocks"] if b["type"] == "input"]


ZH_WORKSPACE = TEST_CONFIG.replace('timezone = "Asia/Shanghai"', 'timezone = "Asia/Shanghai"\nlanguage = "zh-CN"')


@pytest.fixture
def zh_workspace(engine, fake_slack, clock):
    for user in ("U0REP1", "U0MGR"):  # a locale oppbot doesn't write: the workspace's language
        fake_slack.add_user(user, tz="Asia/Shanghai", locale="fr-FR")
    with running_app(engine=engine, fake=fake_slack, clock=clock, config=parse_config(ZH_WORKSPACE, "zh.toml")) as driver:
        yield driver


def blocks_text(reply: dict) -> str:
    return text_of(reply.get("blocks") or [])


def test_a_workspace_in_chinese_answers_team_away_suggest_and_assign_in_chinese(zh_workspace):
    slack = zh_workspace
    services = slack.oppbot.services
    slack.command("team", user="U0REP1")
    said = slack.last_response()
    assert said["text"] == "团队 East"
    assert "*团队 East*\n销售经理：<@U0MGR>\n销售（2）：<@U0REP1>、<@U0REP2>" in blocks_text(said)
    slack.command("away until 2026-12-10", user="U0REP1")
    assert re.fullmatch(r"你休假到 <!date\^\d+\^[^>]+>：在此之前不会给你推荐或分配新商机。", slack.last_response()["text"])
    slack.command("away off", user="U0REP1")
    assert slack.last_response()["text"] == "欢迎回来：现在可以重新给你推荐和分配新商机了。"
    create(services, "U0REP1", name="华为云扩容", amount=Decimal("120000"))
    slack.command("suggest OPP-1", user="U0MGR")
    suggested = slack.last_response()
    assert suggested["text"] == "OPP-1 华为云扩容 需要分配负责人"
    assert "（华为云扩容" not in blocks_text(suggested) and "需要分配负责人，由 <@U0MGR> 提出。" in blocks_text(suggested)
    assert "按 本团队 中类似商机的赢单情况、成交速度和当前工作量排序。" in blocks_text(suggested)
    assert english_words(blocks_text(suggested), allowed={"Cust"}) == [], blocks_text(suggested)
    slack.command("assign OPP-1 <@U0REP2|rep2>", user="U0MGR")
    assert slack.last_response()["text"] == "OPP-1 现在由 <@U0REP2> 负责，我已通知对方。"
    slack.command("team remove <@U0REP2|rep2>", user="U0MGR")
    assert slack.last_response()["text"] == "<@U0REP2> 已离开 East。"
    slack.command("team add <@U0REP2|rep2>", user="U0MGR")
    assert slack.last_response()["text"] == "<@U0REP2> 已加入 East。"
    slack.command("team remove <@U0REP2|rep2> East", user="U0REP1")
    assert slack.last_response()["text"] == ":warning: 只有 East 的销售经理 <@U0MGR> 或管理员可以调整团队。"
    slack.command("away <@U0REP2|rep2> until 2026-12-10", user="U0REP1")
    assert slack.last_response()["text"] == ":warning: 你只能把自己或你管理的销售标记为休假。"


def test_refusals_of_assignment_and_teams_in_chinese(slack):
    services = slack.oppbot.services
    create(services, "U0REP1", name="华为云扩容")
    rep = context(services, "U0REP1")
    with pytest.raises(OppError) as refused:
        services.assignments.suggest(rep, 1)
    assert refused.value.text(ZH) == "只有团队的销售经理或管理员可以分配商机。你可以点“需要分配负责人”把自己的商机交回。"
    with pytest.raises(OppError) as refused:
        services.teams.add(rep.actor, "U0REP2", None)
    assert refused.value.text(ZH) == "请指明团队：East。"
    with pytest.raises(OppError) as refused:
        services.teams.add(context(services, "U0MGR").actor, "U0BOTUSER", None)
    assert refused.value.text(ZH) == "机器人不能加入团队，请选择一个人。"
    with pytest.raises(OppError) as refused:
        services.teams.add(context(services, "U0MGR").actor, "U0REP1", None)
    assert refused.value.text(ZH) == "<@U0REP1> 已经在 East 了。"
    assert str(refused.value) == "<@U0REP1> is already on East."
    with pytest.raises(OppError) as refused:
        services.assignments.set_away(rep, "U0REP2", "tomorrow")
    assert refused.value.text(ZH) == "你只能把自己或你管理的销售标记为休假。"


def test_a_deal_handed_back_goes_to_the_manager_in_chinese(zh_workspace):
    slack = zh_workspace
    services = slack.oppbot.services
    deal = create(services, "U0REP1", name="华为云扩容", amount=Decimal("120000"))
    answer = services.assignments.needs_owner(context(services, "U0REP1"), deal.id)
    assert answer == "OPP-1 需要负责人；我已把它连同推荐人选发给 <@U0MGR>。"
    for _ in range(3):
        slack.oppbot.dispatcher.run_once()
    [sent] = [c.params for c in slack.fake.calls("chat.postMessage") if c.params.get("text") == "OPP-1 华为云扩容 需要分配负责人"]
    said = text_of(sent["blocks"])
    assert ":busts_in_silhouette: *OPP-1 · 华为云扩容*（Cust，US$120,000.00）需要分配负责人，由 <@U0REP1> 提出。" in said
    assert "*2. <@U0REP2>*：还没有已关闭的商机，按团队 30% 的赢率计算；没有进行中的商机，与团队平均持平" in said
