import time
from datetime import datetime, timedelta, timezone

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from tests.fakeslack import FakeSlack, check_blocks, check_view


@pytest.fixture
def fake():
    with FakeSlack() as f:
        yield f


@pytest.fixture
def client(fake):
    return WebClient(token="xoxb-test", base_url=fake.api_url, retry_handlers=[])


def section(text):
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def modal(title="Opp", blocks=None, **extra):
    return {"type": "modal", "title": {"type": "plain_text", "text": title}, "blocks": blocks or [], **extra}


def test_urls(fake):
    assert fake.api_url.startswith("http://127.0.0.1:") and fake.api_url.endswith("/api/")
    assert fake.api_url == fake.base_url + "/api/"
    assert fake.response_url("x") == fake.base_url + "/response/x"


def test_auth_test(fake, client):
    resp = client.auth_test()
    assert resp["user_id"] == "U0BOT" and resp["team_id"] == "T0TEST" and resp["bot_id"]
    call = fake.calls("auth.test")[0]
    assert call.headers["Authorization"] == "Bearer xoxb-test" and call.response["ok"] is True


def test_invalid_auth(fake):
    bad = WebClient(token="xoxb-wrong", base_url=fake.api_url)
    with pytest.raises(SlackApiError) as exc:
        bad.auth_test()
    assert exc.value.response["error"] == "invalid_auth"
    with pytest.raises(SlackApiError):
        WebClient(base_url=fake.api_url).chat_postMessage(channel="C1", text="x")
    assert len(fake.calls()) == 2


def test_token_param_accepted(fake):
    resp = WebClient(base_url=fake.api_url).api_call("auth.test", params={"token": "xoxb-test"})
    assert resp["ok"]


def test_unknown_method(client):
    with pytest.raises(SlackApiError) as exc:
        client.api_call("reactions.add", params={"channel": "C1"})
    assert exc.value.response["error"] == "unknown_method"


def test_post_update_and_permalink(fake, client):
    blocks = [section("*hello*")]
    r1 = client.chat_postMessage(channel="C1", text="hello", blocks=blocks)
    r2 = client.chat_postMessage(channel="C1", text="again")
    assert r1["ok"] and r1["channel"] == "C1"
    assert float(r2["ts"]) > float(r1["ts"])
    assert r1["message"]["blocks"] == blocks and r1["message"]["user"] == "U0BOT"
    assert fake.calls("chat.postMessage")[0].params["blocks"] == blocks

    up = client.chat_update(channel="C1", ts=r1["ts"], text="changed", blocks=[section("changed")])
    assert up["ts"] == r1["ts"] and up["text"] == "changed"
    assert fake.message("C1", r1["ts"])["blocks"] == [section("changed")]
    with pytest.raises(SlackApiError) as exc:
        client.chat_update(channel="C1", ts="1.000001", text="nope")
    assert exc.value.response["error"] == "message_not_found"

    link = client.chat_getPermalink(channel="C1", message_ts=r1["ts"])
    assert link["permalink"] == f"https://fake.slack.com/archives/C1/p{r1['ts'].replace('.', '')}"
    assert client.chat_postEphemeral(channel="C1", user="U1", text="psst")["message_ts"]


def test_form_encoded_json_params_are_decoded(fake, client):
    client.api_call("chat.postMessage", params={"channel": "C1", "text": "t", "blocks": '[{"type": "divider"}]'})
    assert fake.calls("chat.postMessage")[0].params["blocks"] == [{"type": "divider"}]


def test_post_errors(fake, client):
    fake.bot_not_in_channel("C2")
    fake.channel_not_found("C3")
    for kwargs, error in [({"channel": "C2", "text": "x"}, "not_in_channel"),
                          ({"channel": "C3", "text": "x"}, "channel_not_found"),
                          ({"channel": "", "text": "x"}, "channel_not_found"),
                          ({"channel": "C1"}, "no_text")]:
        with pytest.raises(SlackApiError) as exc:
            client.api_call("chat.postMessage", json=kwargs)  # bypasses the SDK's missing-text warning
        assert exc.value.response["error"] == error
    assert fake.messages() == []
    client.conversations_join(channel="C2")
    assert client.conversations_info(channel="C2")["channel"]["is_member"] is True
    assert client.chat_postMessage(channel="C2", text="x")["ok"]


def test_conversations(fake, client):
    opened = client.conversations_open(users="U123")
    assert opened["channel"]["id"] == "DU123"
    assert client.conversations_open(users="U123")["channel"]["id"] == "DU123"
    fake.bot_not_in_channel("DU123")  # DMs always work
    assert client.chat_postMessage(channel="DU123", text="hi")["ok"]
    fake.add_channel("C9", "sales", is_private=True)
    fake.add_channel("C8", "general")
    info = client.conversations_info(channel="C9")["channel"]
    assert info == {**info, "id": "C9", "name": "sales", "is_private": True, "is_member": True}
    listed = client.conversations_list(types="public_channel,private_channel")
    assert {c["id"] for c in listed["channels"]} == {"C8", "C9"}
    assert listed["response_metadata"]["next_cursor"] == ""


def test_views_open_trigger_reuse_and_expiry(fake, client):
    view = modal(blocks=[section("hi")], callback_id="new_opp", private_metadata="{}")
    resp = client.views_open(trigger_id="t1", view=view)
    assert resp["view"]["id"].startswith("V") and resp["view"]["hash"]
    assert resp["view"]["callback_id"] == "new_opp"
    with pytest.raises(SlackApiError) as exc:
        client.views_open(trigger_id="t1", view=view)
    assert exc.value.response["error"] == "expired_trigger_id"
    fake.expire_trigger("t2")
    with pytest.raises(SlackApiError) as exc:
        client.views_push(trigger_id="t2", view=view)
    assert exc.value.response["error"] == "expired_trigger_id"
    assert client.views_push(trigger_id="t3", view=view)["ok"]
    updated = client.views_update(view_id=resp["view"]["id"], view=modal(title="Edited"))
    assert updated["view"]["title"]["text"] == "Edited"
    assert len(fake.calls("views.open")) == 2


def test_views_publish_home(fake, client):
    home = {"type": "home", "blocks": [section("pipeline")]}
    first = client.views_publish(user_id="U1", view=home)["view"]
    again = client.views_publish(user_id="U1", view=home)["view"]
    assert first["id"] == again["id"]
    assert fake.home_view("U1")["blocks"] == home["blocks"]
    bad = {"type": "home", "blocks": [{"type": "input", "label": {"type": "plain_text", "text": "x"},
                                       "element": {"type": "plain_text_input", "action_id": "a"}}]}
    with pytest.raises(SlackApiError) as exc:
        client.views_publish(user_id="U1", view=bad)
    assert exc.value.response["error"] == "invalid_arguments"


def test_users_info(fake, client):
    fake.add_user("U1", name="alice", tz="Europe/Berlin", is_admin=True)
    user = client.users_info(user="U1")["user"]
    assert user["name"] == "alice" and user["tz"] == "Europe/Berlin" and user["is_admin"] is True
    assert user["tz_offset"] in (3600, 7200) and user["profile"]["display_name"] == "alice"
    assert "locale" not in user  # only when asked for, as Slack does
    fake.add_user("U2", locale="zh-CN")
    assert client.users_info(user="U2", include_locale=True)["user"]["locale"] == "zh-CN"
    with pytest.raises(SlackApiError) as exc:
        client.users_info(user="U404")
    assert exc.value.response["error"] == "user_not_found"


def test_usergroups(fake, client):
    assert client.usergroups_list()["usergroups"] == []
    fake.add_usergroup("S1", "sales-managers")
    assert client.usergroups_list()["usergroups"][0]["handle"] == "sales-managers"


def test_fail_next(fake, client):
    fake.fail_next("chat.postMessage", "channel_is_archived", times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as exc:
            client.chat_postMessage(channel="C1", text="x")
        assert exc.value.response["error"] == "channel_is_archived"
    assert client.chat_postMessage(channel="C1", text="x")["ok"]
    assert [c.response["ok"] for c in fake.calls("chat.postMessage")] == [False, False, True]


def test_rate_limit_retried(fake):
    client = WebClient(token="xoxb-test", base_url=fake.api_url,
                       retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)])
    fake.rate_limit_next("chat.postMessage", retry_after=1)
    assert client.chat_postMessage(channel="C1", text="x")["ok"]
    calls = fake.calls("chat.postMessage")
    assert [c.status for c in calls] == [429, 200]
    assert calls[0].response["error"] == "ratelimited"
    assert calls[1].at - calls[0].at >= 1.0


def test_rate_limit_without_retry(fake, client):
    fake.rate_limit_next("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel="C1", text="x")
    assert exc.value.response.status_code == 429
    assert exc.value.response.headers["Retry-After"] == "7"


@pytest.mark.parametrize("status", [500, 503])
def test_server_error(fake, client, status):
    fake.server_error_next("chat.postMessage", status=status)
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel="C1", text="x")
    assert exc.value.response.status_code == status
    assert len(fake.calls("chat.postMessage")) == 1 and fake.messages() == []


def test_block_kit_violations_rejected(fake, client):
    cases = [
        [{"type": "divider"}] * 51,
        [section("x" * 3001)],
        [{"type": "actions", "elements": [{"type": "static_select", "action_id": "s", "options": [
            {"text": {"type": "plain_text", "text": str(i)}, "value": str(i)} for i in range(101)]}]}],
        [{"type": "fancy"}],
    ]
    for blocks in cases:
        with pytest.raises(SlackApiError) as exc:
            client.chat_postMessage(channel="C1", text="x", blocks=blocks)
        assert exc.value.response["error"] == "invalid_blocks"
        assert exc.value.response["response_metadata"]["messages"]
    assert fake.messages() == []
    with pytest.raises(SlackApiError) as exc:
        client.views_open(trigger_id="t1", view=modal(title="x" * 25))
    assert exc.value.response["error"] == "invalid_arguments"
    assert "/view/title/text" in exc.value.response["response_metadata"]["messages"][0]
    assert client.views_open(trigger_id="t1", view=modal(title="x" * 24))["ok"]  # trigger not consumed


def test_check_functions_pure():
    assert check_blocks([section("ok"), {"type": "divider"}]) == []
    assert check_blocks([{"type": "divider"}] * 100, surface="modal") == []
    assert check_blocks([{"type": "divider"}] * 51)
    button = {"type": "button", "text": {"type": "plain_text", "text": "b" * 76}, "action_id": "a", "value": "v"}
    assert "/blocks/0/elements/0/text/text" in check_blocks([{"type": "actions", "elements": [button]}])[0]
    overflow = {"type": "overflow", "action_id": "o", "options": [
        {"text": {"type": "plain_text", "text": "o"}, "value": "v" * 151}] * 6}
    errors = check_blocks([{"type": "section", "text": {"type": "mrkdwn", "text": "t"}, "accessory": overflow}])
    assert len(errors) == 7  # too many options + 6 too-long values
    fields = [{"type": "mrkdwn", "text": "f"}] * 11
    assert check_blocks([{"type": "section", "fields": fields}])
    assert check_blocks([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}])
    assert check_view(modal(private_metadata="m" * 3001))
    assert check_view(modal(callback_id="c" * 256))
    assert check_view({"type": "home", "blocks": [section("x")]}) == []


def test_upload_flow(fake, client):
    resp = client.files_upload_v2(content=b"\x89PNG data", filename="x.png", channel="C1", title="Chart")
    file_id = resp["file"]["id"]
    assert file_id.startswith("F") and resp["file"]["title"] == "Chart"
    assert fake.uploaded(file_id) == b"\x89PNG data"
    complete = fake.calls("files.completeUploadExternal")[0]
    assert complete.params["channel_id"] == "C1"
    with pytest.raises(SlackApiError) as exc:
        client.files_completeUploadExternal(files=[{"id": "F404", "title": "t"}], channel_id="C1")
    assert exc.value.response["error"] == "file_not_found"


def test_response_url(fake):
    url = fake.response_url("r1")
    resp = WebhookClient(url).send(text="done", response_type="ephemeral", replace_original=True)
    assert resp.status_code == 200 and resp.body == "ok"
    call = fake.wait_for("response_url")[0]
    assert call.params["text"] == "done" and call.params["_name"] == "r1"
    assert call.params["replace_original"] is True


def test_wait_for_from_other_thread(fake, client):
    import threading

    timer = threading.Timer(0.2, lambda: client.chat_postMessage(channel="C1", text="later"))
    timer.start()
    calls = fake.wait_for("chat.postMessage", timeout=5, predicate=lambda c: c.params.get("text") == "later")
    timer.join()
    assert calls[0].params["channel"] == "C1"


def test_wait_for_timeout(fake, client):
    client.auth_test()
    start = time.monotonic()
    with pytest.raises(AssertionError) as exc:
        fake.wait_for("chat.postMessage", timeout=0.3)
    assert 0.25 <= time.monotonic() - start < 2
    assert "auth.test" in str(exc.value)


def test_reset(fake, client):
    fake.add_user("U1")
    fake.fail_next("auth.test", "boom")
    client.chat_postMessage(channel="C1", text="x")
    fake.reset()
    assert fake.calls() == [] and fake.messages() == []
    assert client.auth_test()["ok"]
    with pytest.raises(SlackApiError):
        client.users_info(user="U1")


# --------------------------------------------------------------------------- per-channel posting limit
class Clock:
    """limit_posts_per_channel(now=Clock()): like ``lambda: fake_clock.now().timestamp()``."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)

    def __call__(self) -> float:
        return self.now.timestamp()

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def limited(client, **kwargs):
    """Post and expect the per-channel 429; return its Retry-After (an int)."""
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(**kwargs)
    resp = exc.value.response
    assert resp.status_code == 429 and resp["ok"] is False and resp["error"] == "ratelimited"
    return int(resp.headers["Retry-After"])


def test_post_limit_burst_then_429(fake, client):
    fake.limit_posts_per_channel(rate=1.0, burst=3, now=Clock())
    sent = [client.chat_postMessage(channel="C1", text=f"m{i}")["ts"] for i in range(3)]
    assert limited(client, channel="C1", text="m3") == 1
    assert [m["ts"] for m in fake.messages("C1")] == sent  # the 429'd post was not delivered
    assert [c.status for c in fake.calls("chat.postMessage")] == [200, 200, 200, 429]
    (call,) = fake.rate_limited("chat.postMessage")
    assert call.params["text"] == "m3" and call.response == {"ok": False, "error": "ratelimited"}
    assert fake.rate_limited() == [call] and fake.rate_limited("chat.update") == []


def test_post_limit_moving_the_clock_frees_one_slot_per_interval(fake, client):
    clock = Clock()
    fake.limit_posts_per_channel(rate=0.5, burst=2, now=clock)  # one post every 2 s
    for i in range(2):
        client.chat_postMessage(channel="C1", text=f"m{i}")
    assert limited(client, channel="C1", text="x") == 2
    clock.advance(1.5)
    assert limited(client, channel="C1", text="x") == 1  # 0.5 s left, rounded up
    clock.advance(0.5)
    assert client.chat_postMessage(channel="C1", text="m2")["ok"]  # exactly one more
    assert limited(client, channel="C1", text="x") == 2
    clock.advance(10)  # idle time refills the burst, but no further
    for i in range(2):
        client.chat_postMessage(channel="C1", text=f"n{i}")
    limited(client, channel="C1", text="x")
    assert len(fake.messages("C1")) == 5 and len(fake.rate_limited()) == 4


def test_post_limit_fractional_interval_on_epoch_clock(fake, client):
    clock = Clock()
    start = clock.now
    fake.limit_posts_per_channel(rate=3.0, burst=1, now=clock)
    client.chat_postMessage(channel="C1", text="m")
    for k in range(1, 31):  # a datetime clock lands within a microsecond of each 1/3 s slot
        assert limited(client, channel="C1", text="x") == 1
        clock.now = start + timedelta(seconds=k / 3)
        assert client.chat_postMessage(channel="C1", text="m")["ok"]
    assert len(fake.messages("C1")) == 31


def test_post_limit_is_per_channel(fake, client):
    fake.limit_posts_per_channel(rate=1.0, burst=1, now=Clock())
    client.chat_postMessage(channel="C1", text="a")
    limited(client, channel="C1", text="b")
    assert client.chat_postMessage(channel="C2", text="a")["ok"]
    assert client.chat_postMessage(channel="C3", text="a", thread_ts="1.000001")["ok"]
    limited(client, channel="C2", text="b")
    assert [len(fake.messages(c)) for c in ("C1", "C2", "C3")] == [1, 1, 1]


def test_post_limit_spares_ephemerals_updates_views_and_users(fake, client):
    fake.limit_posts_per_channel(rate=1.0, burst=1, now=Clock())
    fake.add_user("U1")
    ts = client.chat_postMessage(channel="C1", text="a")["ts"]
    limited(client, channel="C1", text="b")
    for i in range(5):
        assert client.chat_postEphemeral(channel="C1", user="U1", text=f"e{i}")["ok"]
        assert client.chat_update(channel="C1", ts=ts, text=f"u{i}")["ok"]
        assert client.views_publish(user_id="U1", view={"type": "home", "blocks": [section("h")]})["ok"]
        assert client.views_open(trigger_id=f"t{i}", view=modal())["ok"]
        assert client.users_info(user="U1")["ok"]
    assert fake.message("C1", ts)["text"] == "u4"
    assert [c.method for c in fake.rate_limited()] == ["chat.postMessage"]


def test_post_limit_applies_to_dms(fake, client):
    fake.limit_posts_per_channel(rate=1.0, burst=2, now=Clock())
    dm = client.conversations_open(users="U7")["channel"]["id"]
    assert dm == "DU7"
    client.chat_postMessage(channel=dm, text="a")
    client.chat_postMessage(channel=dm, text="b")
    assert limited(client, channel=dm, text="c") == 1
    limited(client, channel="U7", text="c")  # posting to the user lands in the same DM
    assert client.chat_postMessage(channel="DU8", text="a")["ok"]
    assert len(fake.messages(dm)) == 2


def test_post_limit_counts_file_shares(fake, client):
    clock = Clock()
    fake.limit_posts_per_channel(rate=1.0, burst=1, now=clock)
    client.files_upload_v2(content=b"png", filename="a.png", channel="C1")
    limited(client, channel="C1", text="after the file")
    assert client.files_upload_v2(content=b"png", filename="b.png")["ok"]  # not shared: no channel post
    with pytest.raises(SlackApiError) as exc:
        client.files_upload_v2(content=b"png", filename="c.png", channel="C1")
    assert exc.value.response.status_code == 429
    assert [c.method for c in fake.rate_limited()] == ["chat.postMessage", "files.completeUploadExternal"]
    clock.advance(1)
    assert client.chat_postMessage(channel="C1", text="now")["ok"]


def test_post_limit_only_delivered_posts_use_a_slot(fake, client):
    fake.limit_posts_per_channel(rate=1.0, burst=1, now=Clock())
    fake.bot_not_in_channel("C2")
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel="C2", text="x")
    assert exc.value.response["error"] == "not_in_channel"
    fake.invite_bot("C2")
    assert client.chat_postMessage(channel="C2", text="x")["ok"]
    limited(client, channel="C2", text="y")


def test_post_limit_defaults_to_monotonic_clock(fake, client):
    fake.limit_posts_per_channel(burst=1)
    client.chat_postMessage(channel="C1", text="a")
    assert limited(client, channel="C1", text="b") == 1


def test_post_limit_off_by_default_and_after_reset(fake, client):
    for _ in range(10):
        client.chat_postMessage(channel="C1", text="x")
    fake.limit_posts_per_channel(rate=1.0, burst=1, now=Clock())
    client.chat_postMessage(channel="C1", text="x")
    limited(client, channel="C1", text="x")
    fake.reset()
    for _ in range(10):
        assert client.chat_postMessage(channel="C1", text="x")["ok"]
    assert fake.rate_limited() == [] and len(fake.messages("C1")) == 10


def test_post_limit_rejects_bad_parameters(fake):
    for rate, burst in [(0, 3), (-1, 3), (1.0, 0)]:
        with pytest.raises(ValueError):
            fake.limit_posts_per_channel(rate=rate, burst=burst)


def test_hang_next_holds_a_call_until_released(fake, client):
    import threading

    release = fake.hang_next("users.info")
    fake.add_user("U1")
    answers = []
    caller = threading.Thread(target=lambda: answers.append(client.users_info(user="U1")["user"]["id"]))
    caller.start()
    assert fake.wait_hanging(lambda n: n > 0) == 1 and answers == []
    release.set()
    caller.join(5)
    assert answers == ["U1"] and fake.hanging == 0


def test_hang_then_drop_is_a_timeout_for_the_client(fake):
    fake.hang_next("chat.postMessage", seconds=0.2, then="drop")
    quick = WebClient(token="xoxb-test", base_url=fake.api_url, timeout=2, retry_handlers=[])
    with pytest.raises(OSError):  # a dropped connection: ConnectionError, or URLError
        quick.chat_postMessage(channel="C1", text="x")
    assert fake.messages() == [] and fake.calls("chat.postMessage") == []


def test_lost_reply_delivers_but_answers_500(fake, client):
    fake.lose_reply_next("chat.postMessage", status=500)
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel="C1", text="hello")
    assert [m["text"] for m in fake.messages("C1")] == ["hello"]


def test_history_returns_metadata_only_when_asked(fake, client):
    meta = {"event_type": "oppbot_delivery", "event_payload": {"delivery_id": 7}}
    first = client.chat_postMessage(channel="C1", text="one", metadata=meta)["ts"]
    client.chat_postMessage(channel="C1", text="two")
    plain = client.conversations_history(channel="C1")["messages"]
    assert [m["text"] for m in plain] == ["two", "one"] and "metadata" not in plain[1]
    full = client.conversations_history(channel="C1", include_all_metadata=True, limit=1)
    assert full["has_more"] and full["messages"][0]["text"] == "two"
    rest = client.conversations_history(channel="C1", include_all_metadata=True, cursor=full["response_metadata"]["next_cursor"])
    assert rest["messages"][0]["metadata"] == meta and rest["messages"][0]["ts"] == first
    assert client.conversations_history(channel="C1", oldest=first)["messages"][0]["text"] == "two"


def test_connections_open_needs_the_app_token(fake):
    assert WebClient(token="xapp-test", base_url=fake.api_url).apps_connections_open(app_token="xapp-test")["ok"]
    with pytest.raises(SlackApiError) as exc:
        WebClient(base_url=fake.api_url).apps_connections_open(app_token="xapp-wrong")
    assert exc.value.response["error"] == "invalid_auth"
