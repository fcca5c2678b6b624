"""Notification settings through the generated Python bindings against the real server.

p_zhao (two children) turns "homework graded" off for one child on one phone; the change shows
at once, the server's answer settles it, and a second phone of the same account sees it after
sync, its listener told. A child not theirs is refused with the field named. The lead teacher
lists the class's parents nothing has reached. Run by `cargo xtask test-bindings` like
test_bindings.py (same environment); prints `N passed, N failed`.
"""

import asyncio

import lianxiao_ffi as lx

from test_bindings import MemoryStorage, PASSWORD, Server, accounts, run_tests, until


class SettingsCollector(lx.NotificationSettingsListener):
    """Every view the core sent (on its own threads)."""

    def __init__(self):
        self.views = []

    def on_settings(self, view):
        self.views.append(view)


def kinds_of(view, child_id):
    return next(c.kinds for c in view.settings.children if c.child_id == child_id)


async def signed_in(login):
    client = await accounts(SERVER, MemoryStorage()).sign_in(login, PASSWORD)
    await client.sync_now()
    client.start()
    return client


async def a_parent_turns_homework_graded_off_for_one_child_and_the_other_phone_sees_it(server):
    first = await signed_in("p_zhao")
    second = await signed_in("p_zhao")
    children = await first.children()
    assert len(children) == 2, children
    child = next(c for c in children if c.name == "赵雨轩")
    other = next(c for c in children if c.id != child.id)

    before = await first.notification_settings().get()
    assert not before.pending
    assert kinds_of(before, child.id).homework_graded

    screen = SettingsCollector()
    handle = second.notification_settings().subscribe(screen)
    await until("the second phone's first view", lambda: asyncio.sleep(0, bool(screen.views)))

    off = lx.NotificationKinds(notices=True, homework_graded=False, homework_missing=True,
                               lesson_starting=True)
    shown = await first.notification_settings().set_kinds(child.id, off)
    assert not kinds_of(shown, child.id).homework_graded
    assert kinds_of(shown, other.id).homework_graded, "the other child keeps it"

    async def sent():
        view = await first.notification_settings().get()
        return view if not view.pending else None

    settled = await until("the server's answer on the first phone", sent)
    assert await first.outbox_pending() == 0
    assert settled.settings.updated_at > 0

    async def seen_there():
        views = [v for v in screen.views if v.settings.updated_at == settled.settings.updated_at]
        return views[-1] if views else None

    await second.sync_now()
    view = await until("the change on the second phone", seen_there)
    assert not kinds_of(view, child.id).homework_graded
    assert kinds_of(view, other.id).homework_graded
    stored = await second.notification_settings().get()
    assert stored.settings == settled.settings

    stranger = (await (await signed_in("s_li01")).profile()).id
    try:
        await first.notification_settings().set_kinds(stranger, off)
        raise AssertionError("a child not theirs was accepted")
    except lx.LianxiaoError.Validation as e:
        assert e.field == "children", e
    handle.cancel()


async def the_lead_teacher_sees_who_nothing_reaches(server):
    teacher = await signed_in("t_wang")
    student = await signed_in("s_li01")
    class_id = (await student.classes())[0].id
    await signed_in("p_zhao")  # in touch: synced
    parents = await teacher.notification_settings().unreachable_parents(class_id)
    names = [p.parent.name for p in parents]
    assert names == ["李建国"], names  # p_li never opened the app
    assert parents[0].last_seen_at is None
    assert [c.name for c in parents[0].children] == ["李明"]
    parent = await signed_in("p_li")
    try:
        await parent.notification_settings().unreachable_parents(class_id)
        raise AssertionError("a parent saw the list")
    except lx.LianxiaoError.Forbidden:
        pass


SERVER = None


def main():
    global SERVER
    SERVER = Server()
    run_tests(
        a_parent_turns_homework_graded_off_for_one_child_and_the_other_phone_sees_it,
        the_lead_teacher_sees_who_nothing_reaches,
        server=SERVER,
    )


if __name__ == "__main__":
    main()
