// Smoke test of the replay surface from Kotlin against the real server and a real ffmpeg: a
// teacher's recording (lavfi MP4, sent with tus by the core) approved by the school admin is
// listed on a student's phone, downloaded while a Kotlin ReplayListener and the ktx Flow see
// its progress, played from the local copy and deleted.
package org.lianxiao.core.tests

import java.io.File
import java.nio.file.Files
import java.util.concurrent.CopyOnWriteArrayList
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Before
import org.junit.Test
import org.lianxiao.core.Accounts
import org.lianxiao.core.Client
import org.lianxiao.core.ClientConfig
import org.lianxiao.core.DownloadState
import org.lianxiao.core.LessonMode
import org.lianxiao.core.LianxiaoException
import org.lianxiao.core.NewRecording
import org.lianxiao.core.ReplayFilter
import org.lianxiao.core.ReplayListener
import org.lianxiao.core.ReplayStatus
import org.lianxiao.core.ReplayView
import org.lianxiao.core.ReplayVisibility
import org.lianxiao.core.ScheduleLesson
import org.lianxiao.core.ktx.downloadFlow
import org.lianxiao.core.ktx.flow
import org.lianxiao.core.ktx.fraction

private const val REPLAY_PASSWORD = "lianxiao-demo"

/** A few seconds of test picture and tone, as a classroom recorder leaves it. */
private fun recording(dir: File): String {
    val file = File(dir, "第一课.mp4")
    val ffmpeg = ProcessBuilder(
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", "testsrc=size=320x240:rate=15:duration=4",
        "-f", "lavfi", "-i", "sine=frequency=440:duration=4",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-shortest", file.path,
    ).redirectErrorStream(true).start()
    check(ffmpeg.waitFor() == 0) { "ffmpeg failed: " + ffmpeg.inputStream.bufferedReader().readText() }
    return file.path
}

class ReplayRecorder : ReplayListener {
    val lists = CopyOnWriteArrayList<List<ReplayView>>()
    override fun onReplays(replays: List<ReplayView>) { lists += replays }
    fun statesOf(id: String): List<DownloadState> =
        lists.mapNotNull { list -> list.firstOrNull { it.replay.id == id }?.download?.state }
}

class ReplaysTest {
    private lateinit var server: ServerProcess
    private lateinit var accounts: Accounts

    @Before fun setUp() {
        server = ServerProcess()
        accounts = Accounts(ClientConfig(server.url, Files.createTempDirectory("lianxiao-kt-replays-").toString(), MemoryStorage()))
    }

    @After fun tearDown() {
        accounts.close()
        server.stop()
    }

    /** Transcoding on a busy machine: a generous deadline, never asserted as a time. */
    private suspend fun until(what: String, check: suspend () -> Boolean) {
        repeat(3000) {
            if (check()) return
            delay(100)
        }
        fail("timed out waiting for $what")
    }

    private suspend fun signedIn(login: String): Client =
        accounts.signIn(login, REPLAY_PASSWORD).also { it.syncNow(); it.start() }

    /** An approved replay of a lesson of s_li01's class. */
    private suspend fun approvedReplay(student: Client): String {
        val teacher = signedIn("t_wang")
        val start = teacher.serverNow() + 86_400_000L
        val lesson = ScheduleLesson(
            "语文", "古诗两首", start, start + 2_400_000L, LessonMode.INTERACTIVE,
            student.classes().first().id, emptyList(), null, null,
        )
        val lessonId = teacher.timetable().use { it.schedule(lesson).lessons.first().id }
        val file = recording(Files.createTempDirectory("lianxiao-kt-rec-").toFile())
        val id = teacher.replays().use {
            it.uploadRecording(NewRecording(lessonId, file, null, ReplayVisibility.LESSON_CLASSES)).id
        }
        val admin = signedIn("sa_liu")
        admin.replays().use { replays ->
            until("the transcoded recording") {
                admin.syncNow()
                try {
                    replays.get(id).replay.status == ReplayStatus.PENDING_REVIEW
                } catch (e: LianxiaoException.NotFound) {
                    false
                }
            }
            assertEquals(ReplayStatus.APPROVED, replays.review(id, true, null, null).status)
        }
        return id
    }

    @Test fun aStudentListsDownloadsAndPlaysTheLocalCopy() = runBlocking<Unit> {
        val student = signedIn("s_li01")
        val id = approvedReplay(student)
        student.syncNow()
        val replays = student.replays()
        assertEquals(listOf(id), replays.list(ReplayFilter(null)).map { it.replay.id })
        assertFalse(replays.play(id).local)

        val recorder = ReplayRecorder()
        val handle = replays.subscribe(ReplayFilter(null), recorder)
        // Without a network the download waits queued; then it runs to the end.
        student.networkChanged(false)
        val started = replays.download(id, "low")
        assertEquals(DownloadState.QUEUED, started.state)
        until("the queued download in the listener") { recorder.statesOf(id).lastOrNull() == DownloadState.QUEUED }
        student.networkChanged(true)
        val done = withTimeout(120_000) { replays.downloadFlow(id).first { it?.state == DownloadState.DONE }!! }
        assertEquals(1.0f, done.fraction)
        assertEquals(started.bytesTotal, done.bytesDone)
        until("the finished download in the listener") { recorder.statesOf(id).lastOrNull() == DownloadState.DONE }
        handle.close()

        val local = replays.play(id)
        assertTrue(local.url, local.local && local.url.startsWith("file:"))
        assertTrue(File(local.path!!).readText().startsWith("#EXTM3U"))
        assertEquals(started.bytesTotal, replays.storage().reservedBytes)
        replays.deleteDownload(id)
        assertEquals(0uL, replays.storage().reservedBytes)
        assertEquals(null, replays.flow(id).first()?.download)
        replays.close()
    }
}
