"""The dispatcher: retries with backoff (longer when the server asks), then success or a dead letter."""

from __future__ import annotations

import threading

from notifiers.telegram import TelegramChannel
from notifiers.webhook import WebhookChannel
from notify.delivery import Dispatcher
from soc_core.notify import Message, Recipient, message_key
from tests.notify.servers import HttpStub, http_stub


def note(chat: str) -> Message:
    r = Recipient("telegram", chat)
    return Message(key=message_key("alert", r, "g"), kind="alert", recipient=r, subject="s", text="t")


def telegram(http: HttpStub, attempts: int, max_s: float, pauses: list[float]) -> Dispatcher:
    """A dispatcher over the Bot API stand-in that records its pauses instead of sleeping."""
    channel = TelegramChannel("1:t", http.url, timeout_s=5)
    return Dispatcher(
        {"telegram": channel}, attempts=attempts, initial_s=1.0, max_s=max_s, sleep=pauses.append
    )


def test_retries_with_backoff_until_delivered(http: HttpStub) -> None:
    pauses: list[float] = []
    dispatcher = telegram(http, 5, 30.0, pauses)
    http.answer(502, {"ok": False, "description": "Bad Gateway"})
    http.answer(429, {"ok": False, "description": "Too Many Requests", "parameters": {"retry_after": 20}})
    http.answer(500, {"ok": False, "description": "Internal"})
    assert dispatcher.deliver([note("42")]) == []
    assert len(http.requests) == 4
    assert len(pauses) == 3
    assert 1.0 <= pauses[0] <= 2.0  # first backoff: initial plus jitter
    assert pauses[1] == 20.0  # the Bot API's retry_after, longer than the backoff
    assert 4.0 <= pauses[2] <= 5.0  # doubling again


def test_gives_up_after_the_attempts_with_the_last_reason(http: HttpStub) -> None:
    pauses: list[float] = []
    dispatcher = telegram(http, 3, 2.0, pauses)
    for _ in range(3):
        http.answer(
            429, {"ok": False, "description": "Too Many Requests", "parameters": {"retry_after": 600}}
        )
    [letter] = dispatcher.deliver([note("42")])
    assert pauses == [2.0, 2.0]  # the server's 600 s capped at the maximum
    assert letter.reason.startswith("telegram to telegram:42: gave up after 3: HTTP 429: Too Many Requests")
    assert letter.id == f"notify-{note('42').key}" and letter.format_tried == "telegram"


def test_a_stuck_channel_does_not_hold_back_the_others(http: HttpStub) -> None:
    hooks = http
    hooks.hold = threading.Event()  # the webhook receiver hangs until released
    bot = http_stub()
    telegram_server = next(bot)
    try:
        dispatcher = Dispatcher(
            {
                "webhook": WebhookChannel("k", timeout_s=30),
                "telegram": TelegramChannel("1:t", telegram_server.url, timeout_s=5),
            },
            attempts=1,
            initial_s=0,
            max_s=0,
        )
        hook = Recipient("webhook", f"{hooks.url}/h")
        stuck = Message(
            key=message_key("alert", hook, "g"), kind="alert", recipient=hook, subject="s", text="t"
        )
        done: list[object] = []
        worker = threading.Thread(target=lambda: done.append(dispatcher.deliver([stuck, note("42")])))
        worker.start()
        [req] = telegram_server.wait_for(1)  # delivered while the webhook is still stuck
        assert req.json()["chat_id"] == "42" and hooks.requests == [] and done == []
        hooks.hold.set()
        worker.join(30)
        assert done == [[]] and len(hooks.requests) == 1
    finally:
        hooks.hold.set()
        bot.close()


class Broken:
    """A channel with a bug: it raises what the port does not allow."""

    name = "email"

    def send(self, message: Message) -> None:
        raise KeyError("bug")

    def close(self) -> None:
        return None


def test_a_channel_bug_fails_its_message_only(http: HttpStub) -> None:
    dispatcher = Dispatcher(
        {"email": Broken(), "telegram": TelegramChannel("1:t", http.url, timeout_s=5)},
        attempts=3,
        initial_s=0,
        max_s=0,
    )
    r = Recipient("email", "a@x.vn")
    broken = Message(key=message_key("alert", r, "g"), kind="alert", recipient=r, subject="s", text="t")
    [letter] = dispatcher.deliver([broken, note("42")])
    assert letter.reason == "email to email:a@x.vn: failed: KeyError: 'bug'"
    assert len(http.requests) == 1
