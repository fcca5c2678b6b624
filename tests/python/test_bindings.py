"""Smoke test of the generated Python bindings against a real server.

Run by `cargo xtask test-bindings` with PYTHONPATH pointing at the generated module,
LIANXIAO_SERVER_BIN at the server binary and LIANXIAO_ROSTER_CSV at the demo roster.
Prints `N passed, N failed` and exits non-zero on failure.
"""

import asyncio
import os
import subprocess
import sys
import tempfile
import traceback

import lianxiao_ffi as lx

PASSWORD = "lianxiao-demo"


class Server:
    """The real lianxiao-server in a fresh data directory, on a free port."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="lianxiao-py-")
        binary = os.environ["LIANXIAO_SERVER_BIN"]
        subprocess.run(
            [binary, "import-roster", "--data-dir", self.dir, os.environ["LIANXIAO_ROSTER_CSV"]],
            check=True,
            capture_output=True,
        )
        self.proc = subprocess.Popen(
            [binary, "serve", "--data-dir", self.dir, "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = self.proc.stdout.readline()
        self.url = line.strip().rsplit(" ", 1)[-1]
        assert self.url.startswith("http://"), line

    def stop(self):
        self.proc.kill()
        self.proc.wait()


class MemoryStorage(lx.SecureStorage):
    def __init__(self):
        self.values = {}

    def get(self, key):
        return self.values.get(key)

    def set(self, key, value):
        self.values[key] = value

    def delete(self, key):
        self.values.pop(key, None)


def accounts(server, storage):
    data = tempfile.mkdtemp(prefix="lianxiao-py-phone-")
    return lx.Accounts(lx.ClientConfig(server_url=server.url, data_dir=data, secure_storage=storage))


async def sign_in_sync_and_list(server):
    storage = MemoryStorage()
    device = accounts(server, storage)
    teacher = await device.sign_in("t_wang", PASSWORD)
    await teacher.sync_now()
    classes = [c.id for c in await teacher.classes()]
    assert len(classes) == 2, classes
    posted = await teacher.notices().post(
        lx.PostNotice(
            title="家长会",
            body="周五下午三点",
            audience=lx.NoticeAudience.CLASSES(classes),
            requires_ack=True,
        )
    )
    assert posted.post == lx.DeliveryState.PENDING
    teacher.start()
    for _ in range(100):
        if await teacher.outbox_pending() == 0:
            break
        await asyncio.sleep(0.05)
    assert await teacher.outbox_pending() == 0
    assert any(k.startswith("lianxiao.tokens.") for k in storage.values), "tokens in the app's storage"

    parent = await device.sign_in("p_li", PASSWORD)
    await parent.sync_now()
    notices = await parent.notices().list(lx.NoticeFilter(unread_first=True))
    assert [n.notice.title for n in notices] == ["家长会"], notices
    view = await parent.notices().acknowledge(notices[0].notice.id)
    assert view.acknowledged in (lx.DeliveryState.PENDING, lx.DeliveryState.DELIVERED)
    names = sorted(a.login for a in await device.list())
    assert names == ["p_li", "t_wang"], names


async def typed_errors(server):
    device = accounts(server, MemoryStorage())
    try:
        await device.sign_in("p_li", "wrong-password")
        raise AssertionError("signed in with a wrong password")
    except lx.LianxiaoError.Unauthorized:
        pass
    parent = await device.sign_in("p_li", PASSWORD)
    try:
        await parent.notices().get("no-such-notice")
        raise AssertionError("found a notice that does not exist")
    except lx.LianxiaoError.NotFound:
        pass
    closed = lx.Accounts(
        lx.ClientConfig(server_url="http://127.0.0.1:9", data_dir=tempfile.mkdtemp(), secure_storage=MemoryStorage())
    )
    try:
        await closed.sign_in("p_li", PASSWORD)
        raise AssertionError("signed in to a closed port")
    except lx.LianxiaoError.Offline:
        pass


def main():
    server = Server()
    passed = failed = 0
    try:
        for test in (sign_in_sync_and_list, typed_errors):
            try:
                asyncio.run(test(server))
                print(f"PASS {test.__name__}")
                passed += 1
            except Exception:
                print(f"FAIL {test.__name__}")
                traceback.print_exc()
                failed += 1
    finally:
        server.stop()
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
