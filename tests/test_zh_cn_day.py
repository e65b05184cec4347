"""A Chinese sales team's whole day through the Slack-shaped surface (issue #15, "done when"): a workspace with
`language = "zh-CN"` whose people's Slack locale is zh-CN goes through new, list, show, a stage by a part of its name,
a follow-up `明天上午9点`, the reminder DM, a stage alert and Take it, won and lost, the funnel and its chart, a
report, the export opened as Excel opens it, the digest and the App Home — and nothing oppbot wrote them is English.

Everything oppbot sent is collected from the fake Slack (ephemeral answers, opened and published views, posted and
updated messages, uploaded files' comments) and checked by `english_in`: what is left of a text once data (names,
OPP-n, currency codes, ids), Slack tokens, emoji codes and `code` are taken out must hold no English word.
"""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from bot.slack.ids import TAKE_BUTTON
from bot.workspace.config import parse_config
from tests.driver import running_app

CONFIG = """
[workspace]
currency = "CNY"
timezone = "Asia/Shanghai"
language = "zh-CN"
admins = ["U0ADMIN"]
industries = ["制造业", "医疗", "金融"]

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
alert_channel = "C0SOLUTIONS"

[[stages]]
name = "商务谈判"
probability = 80
max_days = 21

[outcomes]
won_channel = "C0WINS"
lost_channel = "C0WINS"

[[teams]]
name = "华东"
manager = "U0MGR"
members = ["U0REP1", "U0REP2"]
channel = "C0EAST"
timezone = "Asia/Shanghai"
"""

# Words that may stay as they are in a Chinese UI: product and format names.
ALLOWED = {"oppbot", "Slack", "CSV", "Excel", "OPP", "UTF", "BOM", "ID"}


def english_in(text: str) -> list[str]:
    """The English words of a text oppbot wrote, once the data and the Slack syntax are taken out."""
    text = re.sub(r"<[^>]*>", " ", text)                      # <@U…>, <#C…>, <!date^…|…>, <url|label>
    text = re.sub(r"`[^`]*`", " ", text)                      # `code`: commands as typed
    text = re.sub(r":[a-z0-9_+-]+:", " ", text)               # :emoji:
    text = re.sub(r"\bOPP-\d+\b", " ", text)
    text = re.sub(r"\b[A-Z]{3}\b", " ", text)                 # currency codes
    text = re.sub(r"\b[UCWS]0[A-Z0-9]+\b", " ", text)         # ids
    text = re.sub(r"\b[A-Z][a-z]+/[A-Za-z_]+\b", " ", text)    # time zone names (Asia/Shanghai)
    return [w for w in re.findall(r"[A-Za-z]{2,}", text) if w not in ALLOWED]


def texts_of(value) -> list[str]:
    """Every human-readable string in a Slack payload (Block Kit text objects, `text`, labels, placeholders, hints)."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("text", "title", "label", "placeholder", "hint", "submit", "close", "initial_comment", "comment") and isinstance(item, str):
                found.append(item)
            elif key not in ("action_id", "block_id", "callback_id", "value", "url", "type", "style", "private_metadata", "channel",
                             "user", "user_id", "ts", "thread_ts", "metadata", "initial_conversation", "image_url", "alt_text"):
                found.extend(texts_of(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(texts_of(item))
    return found


def everything_sent(fake, responses) -> list[str]:
    texts = []
    for method in ("chat.postMessage", "chat.update", "chat.postEphemeral", "views.open", "views.publish", "views.update", "views.push",
                   "files.completeUploadExternal"):
        for call in fake.calls(method):
            texts.extend(texts_of(call.params))
    for response in responses:
        texts.extend(texts_of(response))
    return [t for t in texts if t]


@pytest.fixture
def team(engine, fake_slack, clock):
    for user in ("U0REP1", "U0REP2", "U0MGR", "U0ADMIN"):
        fake_slack.add_user(user, tz="Asia/Shanghai", locale="zh-CN")
    for channel, name in (("C0SOLUTIONS", "方案组"), ("C0WINS", "战报"), ("C0EAST", "华东销售"), ("C0SALES", "销售")):
        fake_slack.add_channel(channel, name)
    with running_app(engine=engine, fake=fake_slack, clock=clock, config=parse_config(CONFIG, "zh.toml")) as driver:
        yield driver


def new_deal(slack, name: str, amount: str, industry: str = "制造业") -> None:
    slack.command(f"新建 {name}")
    view = slack.last_view()
    reply = slack.submit(view, {"name": name, "customer": "华为（深圳）", "amount": amount, "industry": industry})
    assert reply.status == 200 and reply.body == "", reply.body
    slack.deliver()


def test_a_chinese_teams_day_has_no_english(team, clock):
    slack, fake = team, team.fake
    new_deal(slack, "华为云扩容", "12万")
    slack.command("列表")
    slack.command("查看 OPP-1")
    slack.command("阶段 OPP-1 设计")          # a part of 方案设计: the stage alert goes to C0SOLUTIONS
    slack.deliver()
    [alert] = [c for c in fake.calls("chat.postMessage") if c.params["channel"] == "C0SOLUTIONS" and c.response.get("ok")]
    block = next(b for b in alert.params["blocks"] if b["type"] == "actions")
    value = next(e["value"] for e in block["elements"] if e.get("action_id") == TAKE_BUTTON)
    slack.interact({"type": "block_actions", "team": {"id": "T0TEST"}, "user": {"id": "U0REP2"}, "trigger_id": "t-1",
                    "container": {"type": "message", "channel_id": "C0SOLUTIONS", "message_ts": alert.response["ts"], "is_ephemeral": False},
                    "channel": {"id": "C0SOLUTIONS"}, "response_url": fake.response_url("alert"),
                    "actions": [{"action_id": TAKE_BUTTON, "block_id": block["block_id"], "type": "button", "value": value}]})
    slack.deliver()
    slack.command("跟进 OPP-1 明天上午9点 回电话")
    clock.advance(hours=24)
    slack.deliver()                          # the reminder DM, due at 9:00 Shanghai time
    new_deal(slack, "平安保险渠道", "80万", industry="金融")
    slack.command("输单 OPP-2 预算不足")
    slack.command("赢单 OPP-1")
    slack.deliver()
    slack.command("漏斗", user="U0MGR")
    slack.command("报表 按行业", user="U0MGR")
    slack.command("导出", user="U0MGR")
    slack.deliver()
    slack.oppbot.services.digests.plan_now("华东")
    for _ in range(3):
        slack.deliver()
    slack.event({"type": "app_home_opened", "user": "U0REP1", "tab": "home"})
    slack.event({"type": "app_home_opened", "user": "U0MGR", "tab": "home"})

    sent = everything_sent(fake, slack.responses())
    assert len(sent) > 40  # the day's answers, cards, alert, reminder, announcements, funnel, report, digest and Homes
    english = {text: english_in(text) for text in sent if english_in(text)}
    assert not english, json.dumps(english, ensure_ascii=False, indent=1)[:4000]

    # a few of the day's messages, read as a Chinese rep would
    everything = "\n".join(sent)
    for words in ("华为云扩容", "¥120,000.00", "方案设计", "赢单", "输单", "预算不足", "回电话"):
        assert words in everything, words
    reminder = [c for c in fake.calls("chat.postMessage") if c.params["channel"] == "DU0REP1" and "回电话" in json.dumps(c.params, ensure_ascii=False)]
    assert reminder, "the reminder DM"

    # the export opens in Excel: a UTF-8 BOM, Chinese headers, the Chinese customer read back
    [file_id] = [c.response["file_id"] for c in fake.calls("files.getUploadURLExternal") if c.params["filename"].endswith(".csv")]
    data = fake.uploaded(file_id)
    assert data[:3] == b"\xef\xbb\xbf"
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert not english_in(" ".join(rows[0])), rows[0]
    assert any("华为（深圳）" in cell for row in rows[1:] for cell in row)
    # the time zone is the workspace's: the export's times are Shanghai's, to the second
    assert any(re.fullmatch(r"20\d\d-\d\d-\d\d \d\d:\d\d:\d\d", cell) for cell in rows[1])


def test_an_english_workspaces_day_is_unchanged(slack):
    """The same commands in English keep the English words the rest of the suite pins."""
    slack.create("Acme rollout", amount="1000")
    slack.command("show OPP-1")
    slack.command("funnel")
    assert "Prospect → Solution design" in slack.last_response()["text"]
    assert "/opp new" in json.dumps(slack.command("help").json)  # help is answered in the acknowledgement itself
