"""The phone side of issue 13 through the generated Python bindings against the real server.

A client's background-task failures (panics: bugs) reach the app through a listener instead of
killing it; a parent's notification settings changed on a new phone before its first sync are
kept and reach the server; signing out the active account makes the other one active. Run by
`cargo xtask test-bindings` like test_bindings.py (same environment); prints
`N passed, N failed`.
"""

import asyncio
import tempfile

import lianxiao_ffi as lx

from test_bindings import MemoryStorage, PASSWORD, run_tests, until


class FailureCollector(lx.TaskFailureListener):
    """Every list the core sent (on its own threads)."""

    def __init__(self):
        self.lists = []

    def on_task_failures(self, failures):
        self.lists.append(failures)


def device(server):
    data = tempfile.mkdtemp(prefix="lianxiao-py-phone-")
    return lx.Accounts(lx.ClientConfig(server_url=server.url, data_dir=data,
                                       secure_storage=MemoryStorage()))


async def task_failures_reach_a_listener(server):
    client = await device(server).sign_in("p_li", PASSWORD)
    client.start()
    screen = FailureCollector()
    handle = screen_handle = client.subscribe_task_failures(screen)
    await until("the first list", lambda: asyncio.sleep(0, bool(screen.lists)))
    assert screen.lists[0] == [], screen.lists
    assert client.task_failures() == []
    await client.sync_now()
    assert client.task_failures() == [], "a healthy client has none"
    handle.cancel()
    del screen_handle
    client.stop()


async def settings_before_the_first_sync_are_kept(server):
    client = await device(server).sign_in("p_zhao", PASSWORD)
    night = lx.QuietHours(start_minute=21 * 60, end_minute=6 * 60)
    view = await client.notification_settings().set_quiet_hours(night)
    assert view.pending, view
    assert view.settings.quiet_hours == night
    client.start()

    async def settled():
        v = await client.notification_settings().get()
        return v if not v.pending else None

    view = await until("the server's answer", settled)
    assert view.settings.quiet_hours == night
    assert len(view.settings.children) == 2, "the server's children, filled in"
    assert await client.outbox_failures() == []
    client.stop()


async def signing_out_the_active_account_makes_the_other_active(server):
    phone = device(server)
    mother = await phone.sign_in("p_zhao", PASSWORD)
    child = await phone.sign_in("s_zhao01", PASSWORD)
    assert (await phone.active()).user_id() == child.user_id()
    await phone.sign_out(child.user_id())
    active = await phone.active()
    assert active is not None and active.user_id() == mother.user_id()


def main():
    run_tests(
        task_failures_reach_a_listener,
        settings_before_the_first_sync_are_kept,
        signing_out_the_active_account_makes_the_other_active,
    )


if __name__ == "__main__":
    main()
