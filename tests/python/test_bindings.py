"""Smoke test of the generated Python bindings against a real server.

Run by `cargo xtask test-bindings` with PYTHONPATH pointing at the generated module,
LIANXIAO_SERVER_BIN at the server binary and LIANXIAO_ROSTER_CSV at the demo roster.
Prints `N passed, N failed` and exits non-zero on failure.
"""

import asyncio
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
import zlib

import lianxiao_ffi as lx

PASSWORD = "lianxiao-demo"
DAY_MS = 86_400_000


# What every test server starts with unless a test is about it (as tests/src/lib.rs does for
# the Rust tests): pushes go out as they are queued, with no digest window holding a phone's
# next pushes and no quiet hours holding them at night (the suite runs at any hour; 20:00 UTC
# is 04:00 in China). A test about quiet hours or the digest passes its own values to
# `Server(env=...)` and moves the server's clock (LIANXIAO_TEST_CLOCK=1, PUT /v1/test/clock).
PUSH_ANY_HOUR = {
    "LIANXIAO_PUSH_QUIET_HOURS": "none",
    "LIANXIAO_PUSH_DIGEST_WINDOW_SECS": "0",
}


class Server:
    """The real lianxiao-server in a fresh data directory, on a free port."""

    def __init__(self, env=None):
        self.dir = tempfile.mkdtemp(prefix="lianxiao-py-")
        binary = os.environ["LIANXIAO_SERVER_BIN"]
        subprocess.run(
            [binary, "import-roster", "--data-dir", self.dir, os.environ["LIANXIAO_ROSTER_CSV"]],
            check=True,
            capture_output=True,
        )
        # A LiveKit address and key pair so interactive lessons mint tokens; no LiveKit server
        # runs here (joining needs none: the phone's media engine is a fake in these tests).
        process_env = dict(
            os.environ,
            LIANXIAO_LIVEKIT_URL="ws://127.0.0.1:7880",
            LIVEKIT_API_KEY="APIlianxiaoPy",
            LIVEKIT_API_SECRET="a-python-test-secret-long-enough-for-hs256",
            **PUSH_ANY_HOUR,
        )
        process_env.update(env or {})
        self.proc = subprocess.Popen(
            [binary, "serve", "--data-dir", self.dir, "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=process_env,
        )
        line = self.proc.stdout.readline()
        self.url = line.strip().rsplit(" ", 1)[-1]
        assert self.url.startswith("http://"), line

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def exit_now(failed):
    """Ends the test process with its verdict, skipping the interpreter's finalisation: the
    library's own threads (its runtime, listener callbacks) may still call into Python then,
    and CPython aborts such a thread ("FATAL: exception not rethrown"), failing a run whose
    tests all passed."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1 if failed else 0)


def run_tests(*tests, server=None):
    """Runs each async test against one server (a new one unless given), prints PASS or FAIL
    for each and the summary line `xtask test-bindings` reads, stops the server and ends the
    process with the verdict."""
    server = server or Server()
    passed = failed = 0
    try:
        for test in tests:
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
    exit_now(failed)


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

    async def drained():
        return await teacher.outbox_pending() == 0

    await until("empty outbox", drained)
    assert any(k.startswith("lianxiao.tokens.") for k in storage.values), "tokens in the app's storage"

    parent = await device.sign_in("p_li", PASSWORD)
    await parent.sync_now()
    notices = await parent.notices().list(lx.NoticeFilter(unread_first=True))
    assert [n.notice.title for n in notices] == ["家长会"], notices
    view = await parent.notices().acknowledge(notices[0].notice.id)
    assert view.acknowledged in (lx.DeliveryState.PENDING, lx.DeliveryState.DELIVERED)
    names = sorted(a.login for a in await device.list())
    assert names == ["p_li", "t_wang"], names


def http_json(server, method, path, body=None, token=None):
    """One plain HTTP call to the server (no core in between); the decoded JSON answer."""
    request = urllib.request.Request(
        server.url.rstrip("/") + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=EVENT_TIMEOUT_S) as answer:
        return json.loads(answer.read())


async def the_test_server_pushes_at_any_hour(server):
    # The school's policy when it set none is the server's default: no quiet hours here, so a
    # push queued at 04:00 China time goes out at once (test_push.py waits for it).
    signed_in = http_json(server, "POST", "/v1/auth/login", {"login": "sa_liu", "password": PASSWORD})
    school = next(m["school_id"] for m in signed_in["user"]["memberships"] if m["role"] == "school_admin")
    policy = http_json(server, "GET", f"/v1/schools/{school}/push-policy", token=signed_in["access_token"])
    quiet = policy["quiet_hours"]
    assert quiet["start_minute"] == quiet["end_minute"], f"the test server keeps quiet hours: {policy}"
    # No route shows the digest window: the process's own environment does (Linux).
    environ = f"/proc/{server.proc.pid}/environ"
    if os.path.exists(environ):
        with open(environ, "rb") as f:
            variables = dict(v.split(b"=", 1) for v in f.read().split(b"\0") if b"=" in v)
        assert variables.get(b"LIANXIAO_PUSH_DIGEST_WINDOW_SECS") == b"0", "the test server holds pushes in a digest"


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


def png(path, width=640, height=480):
    """A photo as the picker hands it over: an RGB PNG written by hand (no imaging library)."""

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    rows = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in (x % 256, y % 256, (x + y) % 256))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    return path


# How long a test waits for an event (a push delivered, an outbox drained, a grade synced)
# before it fails. Nothing is timed: this only turns a hang into a failure. Generous because
# the suite runs on busy 2-core machines (a load of 5 beside other builds) where the server,
# the core's tasks and Python share two cores; 5 s and 20 s were seen to be too short there.
EVENT_TIMEOUT_S = 120.0


async def until(what, check, timeout=EVENT_TIMEOUT_S, poll=0.05):
    """Polls `check` (a coroutine function) until it returns something true."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:.0f} s for {what} in vain")
        await asyncio.sleep(poll)


class HomeworkCollector(lx.HomeworkListener):
    """Keeps the latest list the core sent (on its own threads)."""

    def __init__(self):
        self.latest = None
        self.calls = 0

    def on_homework(self, homework):
        self.latest = homework
        self.calls += 1


async def seen(client, homework_id, check):
    """The homework's view once sync brought it to this phone and `check` holds."""

    async def look():
        await client.sync_now()
        try:
            view = await client.homework().get(homework_id)
        except lx.LianxiaoError.NotFound:
            return None
        return view if check(view) else None

    return await until(f"homework {homework_id}", look)


async def homework_from_teacher_to_student_to_parent(server):
    files = tempfile.mkdtemp(prefix="lianxiao-py-files-")
    device = accounts(server, MemoryStorage())
    teacher = await device.sign_in("t_wang", PASSWORD)
    await teacher.sync_now()
    teacher.start()
    th = teacher.homework()
    hw = await th.assign(
        lx.NewHomework(
            title="看图写话",
            instructions="拍下作业纸，再写两句话。",
            class_ids=[c.id for c in await teacher.classes()],
            due_at=teacher.server_now() + DAY_MS,
            accepted_kinds=[lx.WorkKind.TEXT, lx.WorkKind.PHOTO],
            max_score=100,
            requires_signoff=True,
        )
    )
    assert len(hw.classes) == 2, hw.classes

    student = await device.sign_in("s_li01", PASSWORD)
    student.start()
    work = student.homework()
    collector = HomeworkCollector()
    handle = work.subscribe(collector)
    view = await seen(student, hw.id, lambda v: True)
    assert view.work[0].state == lx.WorkState.NOT_STARTED(), view.work[0].state

    await work.set_photo_size(lx.PhotoSize.MAX_PIXELS(800))
    assert await work.photo_size() == lx.PhotoSize.MAX_PIXELS(800)
    await work.set_draft_text(hw.id, "图上有一只小猫。")
    await work.add_draft_file(hw.id, png(os.path.join(files, "IMG_0001.png"), 1000, 750), lx.WorkKind.PHOTO)
    draft = await work.add_draft_file(hw.id, png(os.path.join(files, "IMG_0002.png")), lx.WorkKind.PHOTO)
    ids = [f.id for f in draft.files]
    draft = await work.reorder_draft_files(hw.id, ids[::-1])
    assert [f.id for f in draft.files] == ids[::-1]
    draft = await work.remove_draft_file(hw.id, ids[1])
    assert [f.id for f in draft.files] == [ids[0]]
    assert draft.files[0].content_type == "image/jpeg", draft.files[0]
    try:
        await work.add_draft_file(hw.id, png(os.path.join(files, "clip.mp4")), lx.WorkKind.VIDEO)
        raise AssertionError("added a kind the homework does not take")
    except lx.LianxiaoError.Validation as e:
        assert e.field == "kind", e.field

    handin = await work.hand_in(hw.id)
    assert handin.state != lx.HandinState.FAILED, handin
    assert await work.draft(hw.id) is None

    async def delivered():
        mine = [v for v in collector.latest or [] if v.homework.id == hw.id]
        return mine and mine[0].work[0].state.is_DELIVERED()

    await until("the listener to report the hand-in delivered", delivered)
    handle.cancel()

    async def ended():
        return handle.is_finished()

    await until("the subscription to end", ended)
    calls = collector.calls
    done = [u for u in await student.uploads().list() if u.homework_id == hw.id]
    assert [u.state for u in done] == [lx.UploadState.DONE], done
    assert done[0].sent == done[0].total and done[0].server_id
    uploads = student.uploads()
    assert (await uploads.status(done[0].id)).server_id == done[0].server_id
    assert await uploads.wait(done[0].id) == done[0].server_id
    assert uploads.link().next_chunk > 0
    uploads.set_stall_timeout_ms(30_000)
    try:
        await uploads.cancel(done[0].id)
        raise AssertionError("cancelled a file of handed-in work")
    except lx.LianxiaoError.Conflict:
        pass

    subs = await th.fetch_submissions(hw.id, None)
    assert len(subs) == 1 and len(subs[0].attempts[0].attachments) == 1, subs
    voice = os.path.join(files, "feedback.m4a")
    with open(voice, "wb") as f:
        f.write(bytes(range(256)) * 40)
    await th.grade(subs[0].id, 95, "写得很好", voice)

    async def grade_sent():
        return await teacher.outbox_pending() == 0

    await until("the grade to be delivered", grade_sent)

    parent = await device.sign_in("p_li", PASSWORD)
    parent.start()
    graded = await seen(parent, hw.id, lambda v: v.work and v.work[0].state.is_GRADED())
    mine = graded.work[0]
    assert mine.state == lx.WorkState.GRADED(score=95, max_score=100), mine.state
    assert mine.needs_sign_off
    review = mine.submission.attempts[-1].review
    heard = await parent.homework().open_attachment(review.voice.id)
    assert os.path.getsize(heard) == 256 * 40
    await parent.homework().sign_off(mine.submission.id, "已检查")

    async def signed():
        return await parent.outbox_pending() == 0

    await until("the sign-off to be delivered", signed)
    report = await th.report(hw.id)
    assert sum(c.signed_off for c in report.summary.classes) == 1
    lines = [s for c in report.classes for s in c.students if s.submission_id]
    assert isinstance(lines[0], lx.StudentReportLine) and lines[0].score == 95, lines
    assert collector.calls == calls, "no callbacks after cancel"


class TimetableCollector(lx.TimetableListener):
    def __init__(self):
        self.snapshots = []

    def on_timetable(self, snapshot):
        self.snapshots.append(snapshot)


async def timetable_with_a_clash(server):
    device = accounts(server, MemoryStorage())
    teacher = await device.sign_in("t_wang", PASSWORD)
    await teacher.sync_now()
    classes = [c.id for c in await teacher.classes()]
    start = teacher.server_now() + DAY_MS
    lesson = lx.ScheduleLesson(
        subject="语文", title="古诗两首", starts_at=start, ends_at=start + 2_400_000,
        mode=lx.LessonMode.INTERACTIVE, lead_class_id=classes[0], receiving=[],
        lead_teacher_id=None, weekly_until=start + 8 * DAY_MS,
    )
    scheduled = await teacher.timetable().schedule(lesson)
    assert len(scheduled.lessons) == 2, scheduled
    clash = lx.ScheduleLesson(
        subject="语文", title="另一课", starts_at=start + 600_000, ends_at=start + 3_000_000,
        mode=lx.LessonMode.BROADCAST, lead_class_id=classes[1], receiving=[],
        lead_teacher_id=None, weekly_until=None,
    )
    try:
        await teacher.timetable().schedule(clash)
        raise AssertionError("a double-booked teacher was scheduled")
    except lx.LianxiaoError.Conflict as e:
        assert scheduled.series_id in str(e), e

    student = await device.sign_in("s_li01", PASSWORD)
    await student.sync_now()
    collector = TimetableCollector()
    handle = student.timetable().subscribe(collector)
    async def delivered():
        return collector.snapshots

    snap = await until("the first snapshot", delivered)
    assert snap[-1].next.id == scheduled.lessons[0].id, snap[-1]
    handle.cancel()
    await teacher.timetable().cancel(scheduled.lessons[1].id, lx.CancelLesson(reason="运动会", and_following=False))
    await student.sync_now()
    after = await student.timetable().snapshot()
    assert [c.kind for c in after.changes] == [lx.LessonChangeKind.CANCELLED], after.changes
    await student.timetable().acknowledge_changes()
    assert (await student.timetable().snapshot()).changes == []


class FakeMedia(lx.MediaSession):
    """The shell's LiveKit engine, recording what the core asks of it."""

    def __init__(self):
        self.calls = []

    def connect(self, url, token):
        self.calls.append(("connect", url, token))

    def disconnect(self):
        self.calls.append(("disconnect",))

    def set_camera(self, on):
        self.calls.append(("camera", on))

    def set_microphone(self, on):
        self.calls.append(("microphone", on))

    def set_video_quality(self, quality):
        self.calls.append(("quality", quality))

    def set_video_enabled(self, enabled):
        self.calls.append(("video", enabled))


class LiveCollector(lx.LiveListener):
    def __init__(self):
        self.states = []
        self.renditions = []
        self.rooms = []

    def on_state(self, state):
        self.states.append(state)

    def on_rendition(self, choice):
        self.renditions.append(choice)

    def on_room(self, room):
        self.rooms.append(room)


async def live_lessons_interactive_and_broadcast(server):
    device = accounts(server, MemoryStorage())
    teacher = await device.sign_in("t_wang", PASSWORD)
    await teacher.sync_now()
    class_id = (await teacher.classes())[0].id
    now = teacher.server_now()

    async def lesson_soon(mode, in_ms):
        lesson = lx.ScheduleLesson(
            subject="数学", title="分数的意义", starts_at=now + in_ms, ends_at=now + in_ms + 300_000,
            mode=mode, lead_class_id=class_id, receiving=[], lead_teacher_id=None, weekly_until=None,
        )
        return (await teacher.timetable().schedule(lesson)).lessons[0].id

    interactive = await lesson_soon(lx.LessonMode.INTERACTIVE, 60_000)
    broadcast = await lesson_soon(lx.LessonMode.BROADCAST, 480_000)

    # The lead teacher joins the interactive lesson: the core hands the ticket's URL and token
    # to the shell's engine; once the engine says it connected, camera and microphone go on.
    media, states = FakeMedia(), LiveCollector()
    session = teacher.live().join(interactive, media, states)
    assert session.lesson_id() == interactive

    async def connected():
        return [c for c in media.calls if c[0] == "connect"]

    (_, url, token) = (await until("the connect call", connected))[0]
    assert url == "ws://127.0.0.1:7880" and token.count(".") == 2, (url, token)
    ticket = session.ticket()
    assert ticket.role == lx.LessonRole.LEAD and ticket.livekit.token == token, ticket
    session.media_event(lx.MediaEvent.CONNECTED())

    async def live():
        return session.state().is_LIVE()

    await until("the session to be live", live)
    assert session.state().can_publish, session.state()
    assert ("camera", True) in media.calls and ("microphone", True) in media.calls, media.calls
    assert states.states[0] == lx.LiveState.JOINING(), states.states

    # The live room: the lead's chat reaches the room's view once the server has it; a quiz
    # opens with its options and closes with its counts.
    await session.send_chat("同学们好")

    async def chatted():
        return any(m.text == "同学们好" for m in session.room().chat)

    await until("the chat in the room", chatted)
    assert session.room().unsent_chat == [], session.room()
    assert states.rooms and states.rooms[-1].lesson_id == interactive, states.rooms
    quiz = await session.open_quiz("1/2 和 2/4 一样大吗？", ["一样大", "不一样"], 0)
    assert quiz.options == ["一样大", "不一样"] and quiz.closed_at is None, quiz
    closed = await session.close_quiz(quiz.id)
    assert closed.closed_at is not None and closed.correct == 0, closed
    session.leave()

    async def ended():
        return session.state().is_ENDED()

    await until("the session to end", ended)
    assert session.state().cause == lx.EndCause.LEFT()
    assert media.calls[-1] == ("disconnect",), media.calls

    # A student watches the broadcast lesson: no room, the HLS rendition the core picks.
    student = await device.sign_in("s_li01", PASSWORD)
    await student.sync_now()
    live_api = student.live()
    assert await live_api.data_saver() is False
    media, states = FakeMedia(), LiveCollector()
    session = live_api.join(broadcast, media, states)

    async def first_rendition():
        return states.renditions

    first = (await until("a rendition", first_rendition))[0]
    state = session.state()
    assert state.is_FALLBACK_TO_BROADCAST() and "/master.m3u8?" in state.hls_url, state
    assert not [c for c in media.calls if c[0] == "connect"], media.calls
    assert first.name == "low" and first.reason == lx.RenditionReason.START, first
    assert first.url.startswith(server.url + "/v1/hls/") and "sig=" in first.url, first.url
    assert session.rendition() == first
    # Two segments fetched slower than the video plays: audio only.
    session.report_throughput(150_000)
    session.report_throughput(150_000)

    async def audio():
        return len(states.renditions) >= 2

    await until("audio only", audio)
    assert states.renditions[-1].name == "audio", states.renditions
    assert states.renditions[-1].reason == lx.RenditionReason.THROUGHPUT
    # The data saver on Wi-Fi caps at the lowest video: turning it on while on audio only for
    # throughput changes nothing to play; it is kept for the account.
    session.set_metered(False)
    await live_api.set_data_saver(True)
    assert await live_api.data_saver() is True
    session.leave()
    await until("the broadcast session to end", lambda: ended_of(session))


async def ended_of(session):
    return session.state().is_ENDED()


def main():
    run_tests(
        the_test_server_pushes_at_any_hour,
        sign_in_sync_and_list,
        typed_errors,
        homework_from_teacher_to_student_to_parent,
        timetable_with_a_clash,
        live_lessons_interactive_and_broadcast,
    )


if __name__ == "__main__":
    main()
