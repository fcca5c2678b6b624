"""Replays through the generated Python bindings against the real server and a real ffmpeg.

A teacher's phone uploads a classroom recording (an MP4 made with ffmpeg's lavfi, sent with
tus by the core), the school admin approves it, a parent lists it under their child, a student
plays the signed stream, reports progress, downloads the low rendition to the end while the
subscription reports progress, plays the local copy, and deletes it. Run by
`cargo xtask test-bindings` like test_bindings.py (same environment); prints
`N passed, N failed`.
"""

import os
import subprocess
import tempfile
import urllib.request

import lianxiao_ffi as lx

from test_bindings import MemoryStorage, PASSWORD, accounts, run_tests
from test_bindings import until as wait_until

# Transcoding on a busy 2-core machine: a generous deadline, never asserted as a time.
SLOW_TIMEOUT_S = 300.0


async def until(what, check):
    return await wait_until(what, check, timeout=SLOW_TIMEOUT_S, poll=0.1)


def mp4(path, secs=6):
    """A test picture with a tone, as a classroom recorder would leave it."""
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc=size=320x240:rate=15:duration={secs}",
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={secs}",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-shortest", path],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return path


class ReplayCollector(lx.ReplayListener):
    """Every list the core sent (on its own threads)."""

    def __init__(self):
        self.lists = []

    def on_replays(self, replays):
        self.lists.append(replays)

    def views_of(self, replay_id):
        return [v for lst in self.lists for v in lst if v.replay.id == replay_id]


async def signed_in(device, login):
    client = await device.sign_in(login, PASSWORD)
    await client.sync_now()
    client.start()
    return client


async def a_recording_is_uploaded_approved_listed_played_and_downloaded(server):
    device = accounts(server, MemoryStorage())
    student = await signed_in(device, "s_li01")
    class_id = (await student.classes())[0].id
    teacher = await signed_in(device, "t_wang")
    now = teacher.server_now()
    lesson = lx.ScheduleLesson(
        subject="语文", title="古诗两首", starts_at=now + 86_400_000, ends_at=now + 88_800_000,
        mode=lx.LessonMode.INTERACTIVE, lead_class_id=class_id, receiving=[],
        lead_teacher_id=None, weekly_until=None,
    )
    lesson_id = (await teacher.timetable().schedule(lesson)).lessons[0].id

    # The recording stays where it is until it is up.
    path = mp4(os.path.join(tempfile.mkdtemp(prefix="lianxiao-py-rec-"), "第一课.mp4"))
    created = await teacher.replays().upload_recording(
        lx.NewRecording(lesson_id=lesson_id, path=path, title=None,
                        visibility=lx.ReplayVisibility.LESSON_CLASSES)
    )
    assert created.lesson_id == lesson_id and created.title == "古诗两首", created
    assert created.source == lx.ReplaySource.UPLOAD, created
    replay_id = created.id

    # The school admin sees it once transcoded; a rejection without a reason is refused
    # before anything is sent, and the replay stays pending.
    admin = await signed_in(device, "sa_liu")

    async def pending():
        await admin.sync_now()
        try:
            view = await admin.replays().get(replay_id)
        except lx.LianxiaoError.NotFound:
            return None
        assert view.replay.status in (lx.ReplayStatus.PROCESSING, lx.ReplayStatus.PENDING_REVIEW), view
        return view.replay.status == lx.ReplayStatus.PENDING_REVIEW

    await until("the recording to be transcoded", pending)
    try:
        await admin.replays().review(replay_id, False, None, None)
        raise AssertionError("rejected without a reason")
    except lx.LianxiaoError.Validation as e:
        assert e.field == "reason", e
    assert (await admin.replays().get(replay_id)).replay.status == lx.ReplayStatus.PENDING_REVIEW
    approved = await admin.replays().review(replay_id, True, None, None)
    assert approved.status == lx.ReplayStatus.APPROVED and approved.review.approved, approved
    assert [r.name for r in approved.renditions] == ["low", "audio"], approved.renditions

    # The parent lists it under their child.
    parent = await signed_in(device, "p_li")
    child = (await parent.children())[0].id
    listed = await parent.replays().list(lx.ReplayFilter(child_id=child))
    assert [v.replay.id for v in listed] == [replay_id], listed
    assert listed[0].replay.status == lx.ReplayStatus.APPROVED

    # The student streams it: the signed master playlist, fetched as a player would.
    await student.sync_now()
    replays = student.replays()
    stream = await replays.play(replay_id)
    assert not stream.local and stream.path is None and stream.expires_at is not None, stream
    assert stream.url.startswith(server.url + "/v1/") and "sig=" in stream.url, stream.url
    with urllib.request.urlopen(stream.url) as r:
        assert r.read().startswith(b"#EXTM3U")
    ticket = await replays.ticket(replay_id)
    assert {r.name for r in ticket.renditions} == {"low", "audio"}, ticket

    # Progress is recorded at once and delivered through the outbox.
    await replays.report_progress(replay_id, 3_000, 3_000)
    place = await replays.place(replay_id)
    assert place.position_ms == 3_000 and place.watched_ms >= 3_000, place

    async def delivered():
        p = await replays.place(replay_id)
        return p.unsent_watched_ms == 0 and await student.outbox_pending() == 0

    await until("the watch report to be delivered", delivered)

    # Downloaded to the end; the subscription reports each step. Without a network the
    # download waits queued; paused and resumed, it goes on once the network is back.
    collector = ReplayCollector()
    handle = replays.subscribe(lx.ReplayFilter(child_id=None), collector)
    student.network_changed(False)
    status = await replays.download(replay_id, "low")
    assert status.rendition == "low" and status.state == lx.DownloadState.QUEUED, status
    assert status.bytes_total > 0 and status.bytes_done == 0, status

    def last_state():
        views = collector.views_of(replay_id)
        return views[-1].download.state if views and views[-1].download else None

    async def state_is(state):
        return last_state() == state

    await until("the queued download in the list", lambda: state_is(lx.DownloadState.QUEUED))
    await replays.pause_download(replay_id)
    await until("the paused download in the list", lambda: state_is(lx.DownloadState.PAUSED))
    await replays.resume_download(replay_id)
    student.network_changed(True)
    await until("the download to finish", lambda: state_is(lx.DownloadState.DONE))
    states = [v.download.state for v in collector.views_of(replay_id) if v.download]
    assert states.index(lx.DownloadState.PAUSED) < states.index(lx.DownloadState.DONE), states
    finished = collector.views_of(replay_id)[-1].download
    assert finished.bytes_done == finished.bytes_total == status.bytes_total, finished
    assert finished.segments_total == finished.segments_done > 0, finished
    assert [d.replay_id for d in await replays.downloads()] == [replay_id]
    assert (await replays.download_status(replay_id)).state == lx.DownloadState.DONE

    local = await replays.play(replay_id)
    assert local.local and local.url.startswith("file://") and os.path.isfile(local.path), local
    assert local.position_ms == 3_000, local
    with open(local.path, "rb") as f:
        assert f.read().startswith(b"#EXTM3U")

    # Storage against the cap; deleting frees the files and the cap; a download over a
    # lowered cap is refused and nothing is queued.
    use = await replays.storage()
    assert use.reserved_bytes == status.bytes_total and use.cap_bytes == 2 * 1024 ** 3, use
    await replays.delete_download(replay_id)
    assert await replays.downloads() == []
    assert (await replays.storage()).reserved_bytes == 0
    assert not os.path.exists(local.path), local.path
    assert not (await replays.play(replay_id)).local
    await replays.set_storage_cap_bytes(status.bytes_total - 1)
    try:
        await replays.download(replay_id, "low")
        raise AssertionError("downloaded over the cap")
    except lx.LianxiaoError.Validation as e:
        assert e.field == "storage_cap", e
    assert await replays.downloads() == []
    assert (await replays.storage()).cap_bytes == status.bytes_total - 1
    handle.cancel()
    for c in (student, teacher, admin, parent):
        c.stop()


def main():
    run_tests(
        a_recording_is_uploaded_approved_listed_played_and_downloaded,
    )


if __name__ == "__main__":
    main()
