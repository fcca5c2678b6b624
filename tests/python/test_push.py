"""Push notifications on the phone through the generated Python bindings, against the real server.

A family phone registers its install for p_li with the server's `log` provider (the
development sink every test server has), the lead teacher posts a notice, and the teacher's
receipt report shows the push delivered; the phone's push handler (`push_received`) gets the
server told it is on the phone, tapping it (`push_opened`) leads to the notice in the store,
and the badge listener shows the unread count. Bad push data is a typed validation error.
Run by `cargo xtask test-bindings` like test_bindings.py; prints `N passed, N failed`.
"""

import asyncio

import lianxiao_ffi as lx

from test_bindings import MemoryStorage, PASSWORD, Server, accounts, run_tests, until


class BadgeCollector(lx.BadgeListener):
    """Every badge the core sent (on its own threads)."""

    def __init__(self):
        self.counts = []

    def on_badge(self, account_id, unread):
        self.counts.append((account_id, unread))


def reach_of(report, person_id):
    for cls in report.classes:
        for person in cls.not_read:
            if person.id == person_id:
                return person.push
    return None


async def a_notice_is_pushed_received_and_opened_on_the_phone(server):
    phone = accounts(server, MemoryStorage())
    parent = await phone.sign_in("p_li", PASSWORD)
    parent.start()
    parent_id = parent.user_id()
    devices = phone.devices()
    device_id = await devices.device_id()
    assert device_id == await devices.device_id()

    badges = BadgeCollector()
    handle = parent.notifications().subscribe_badge(badges)
    await until("the first badge", lambda: asyncio.sleep(0, bool(badges.counts)))
    assert badges.counts[0] == (parent_id, 0), badges.counts

    await devices.set_push_token(lx.RegisterDevice(
        platform=lx.DevicePlatform.ANDROID, provider=lx.PushProvider.LOG,
        token="py-log-token-1", app_version="1.0.0", locale="zh-CN"))

    async def registered():
        regs = await devices.registrations()
        return regs if regs and all(r.state == lx.RegistrationState.REGISTERED for r in regs) else None

    regs = await until("the registration", registered)
    assert [r.user_id for r in regs] == [parent_id]
    assert regs[0].provider == lx.PushProvider.LOG

    teacher = await accounts(server, MemoryStorage()).sign_in("t_wang", PASSWORD)
    await teacher.sync_now()
    classes = [c.id for c in await teacher.classes()]
    posted = await teacher.notices().post(lx.PostNotice(
        title="春游", body="周三上午出发", audience=lx.NoticeAudience.CLASSES(classes),
        requires_ack=False))
    teacher.start()

    async def sent():
        views = await teacher.notices().list(lx.NoticeFilter())
        ids = [v.notice.id for v in views if v.post == lx.DeliveryState.DELIVERED]
        return ids[0] if ids else None

    notice_id = await until("the post", sent)
    assert posted.notice.title == "春游"

    async def reach(expected):
        report = await teacher.notices().receipts(notice_id)
        return report if reach_of(report, parent_id) == expected else None

    await until("the push delivered", lambda: reach(lx.PushReach.DELIVERED))

    # What the shell's notification handler hands over: the provider's data as strings.
    data = {"kind": "notice", "id": notice_id, "account_id": parent_id, "badge": "1"}
    target = await devices.push_received(data)
    assert (target.account_id, target.kind, target.id) == (parent_id, lx.PushKind.NOTICE, notice_id)
    assert target.in_store
    await until("the badge after the push", lambda: asyncio.sleep(0, (parent_id, 1) in badges.counts))
    assert await parent.notifications().badge() == 1
    await until("on the phone", lambda: reach(lx.PushReach.ON_PHONE))

    opened = await devices.push_opened(data)
    assert opened.id == notice_id and opened.in_store

    await parent.notices().mark_read(notice_id)
    await until("the badge after reading", lambda: asyncio.sleep(0, badges.counts[-1] == (parent_id, 0)))

    try:
        await devices.push_received({"kind": "notice", "id": notice_id})
        raise AssertionError("a push without its account was accepted")
    except lx.LianxiaoError.Validation as e:
        assert e.field == "data", e
    try:
        await devices.push_opened(dict(data, account_id="someone-else"))
        raise AssertionError("a push for an account not on this phone was accepted")
    except lx.LianxiaoError.Validation as e:
        assert e.field == "account_id", e
    assert await devices.flush() == 0
    handle.cancel()


SERVER = None


def main():
    global SERVER
    SERVER = Server()
    run_tests(
        a_notice_is_pushed_received_and_opened_on_the_phone,
        server=SERVER,
    )


if __name__ == "__main__":
    main()
