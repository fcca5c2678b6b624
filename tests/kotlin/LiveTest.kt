// Smoke test of the live-lesson surface from Kotlin against the real server: a MediaSession
// written in Kotlin (the fake of the shell's LiveKit engine) receives the ticket's URL and
// token, the SDK's events go back through `mediaEvent`, and a broadcast plays the rendition
// the core picks, through the ktx Flow.
package org.lianxiao.core.tests

import java.nio.file.Files
import java.util.concurrent.CopyOnWriteArrayList
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.filterIsInstance
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.launchIn
import kotlinx.coroutines.flow.onEach
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
import org.lianxiao.core.EndCause
import org.lianxiao.core.LessonMode
import org.lianxiao.core.LessonRole
import org.lianxiao.core.LiveListener
import org.lianxiao.core.LiveRoom
import org.lianxiao.core.LiveSession
import org.lianxiao.core.LiveState
import org.lianxiao.core.MediaEvent
import org.lianxiao.core.MediaSession
import org.lianxiao.core.RenditionChoice
import org.lianxiao.core.RenditionReason
import org.lianxiao.core.ScheduleLesson
import org.lianxiao.core.VideoQuality
import org.lianxiao.core.ktx.EVENT_TIMEOUT_MS
import org.lianxiao.core.ktx.LiveUpdate
import org.lianxiao.core.ktx.lesson

private const val LIVE_PASSWORD = "lianxiao-demo"

/** The shell's LiveKit engine, recording what the core asks of it. */
class RecordingMedia : MediaSession {
    val calls = CopyOnWriteArrayList<String>()
    override fun connect(url: String, token: String) { calls += "connect $url" }
    override fun disconnect() { calls += "disconnect" }
    override fun setCamera(on: Boolean) { calls += "camera $on" }
    override fun setMicrophone(on: Boolean) { calls += "microphone $on" }
    override fun setVideoQuality(quality: VideoQuality) { calls += "quality $quality" }
    override fun setVideoEnabled(enabled: Boolean) { calls += "video $enabled" }
}

class StateRecorder : LiveListener {
    val states = CopyOnWriteArrayList<LiveState>()
    override fun onState(state: LiveState) { states += state }
    override fun onRendition(choice: RenditionChoice) {}
    override fun onRoom(room: LiveRoom) {}
}

class LiveTest {
    private lateinit var server: ServerProcess
    private lateinit var accounts: Accounts

    @Before fun setUp() {
        server = ServerProcess()
        accounts = Accounts(ClientConfig(server.url, Files.createTempDirectory("lianxiao-kt-live-").toString(), MemoryStorage()))
    }

    @After fun tearDown() {
        accounts.close()
        server.stop()
    }

    private suspend fun until(what: String, check: () -> Boolean) = awaitTrue(what) { check() }

    private suspend fun lessonSoon(teacher: Client, mode: LessonMode, inMs: Long): String {
        val start = teacher.serverNow() + inMs
        val lesson = ScheduleLesson(
            "数学", "分数的意义", start, start + 300_000L, mode,
            teacher.classes().first().id, emptyList(), null, null,
        )
        return teacher.timetable().use { it.schedule(lesson).lessons.first().id }
    }

    @Test fun theLeadConnectsWithTheTicketAndPublishesOnceConnected() = runBlocking<Unit> {
        val teacher = accounts.signIn("t_wang", LIVE_PASSWORD)
        teacher.syncNow()
        val id = lessonSoon(teacher, LessonMode.INTERACTIVE, 60_000L)
        val media = RecordingMedia()
        val states = StateRecorder()
        teacher.live().use { live ->
            live.join(id, media, states).use { session ->
                until("the connect call") { media.calls.any { it.startsWith("connect ") } }
                assertEquals("connect ws://127.0.0.1:7880", media.calls.first { it.startsWith("connect") })
                assertEquals(LessonRole.LEAD, session.ticket()?.role)
                session.mediaEvent(MediaEvent.Connected)
                until("live") { session.state() is LiveState.Live }
                assertTrue((session.state() as LiveState.Live).canPublish)
                assertTrue(media.calls.contains("camera true") && media.calls.contains("microphone true"))
                // The room's calls are suspend functions on the session.
                session.sendChat("同学们好")
                until("the chat in the room") { session.room().chat.any { it.text == "同学们好" } }
                session.leave()
                until("the end") { session.state() is LiveState.Ended }
                assertEquals(LiveState.Ended(EndCause.Left), session.state())
                assertEquals(LiveState.Joining, states.states.first())
            }
        }
    }

    @Test fun aStudentWatchesTheBroadcastInTheRenditionTheCorePicks() = runBlocking<Unit> {
        val teacher = accounts.signIn("t_wang", LIVE_PASSWORD)
        teacher.syncNow()
        val id = lessonSoon(teacher, LessonMode.BROADCAST, 60_000L)
        val student = accounts.signIn("s_li01", LIVE_PASSWORD)
        student.syncNow()
        val live = student.live()
        assertFalse(live.dataSaver())
        val renditions = CopyOnWriteArrayList<RenditionChoice>()
        withTimeout(EVENT_TIMEOUT_MS) {
            var session: LiveSession? = null
            // Collecting joins; cancelling the collector leaves.
            val job = live.lesson(id, RecordingMedia()).onEach {
                when (it) {
                    is LiveUpdate.Joined -> session = it.session
                    is LiveUpdate.Rendition -> renditions += it.choice
                    is LiveUpdate.State, is LiveUpdate.Room -> {}
                }
            }.launchIn(this)
            until("the first rendition") { renditions.isNotEmpty() }
            val first = renditions.first()
            assertEquals("low", first.name)
            assertEquals(RenditionReason.START, first.reason)
            assertTrue(first.url, first.url.startsWith(server.url + "/v1/hls/"))
            val state = session!!.state()
            assertTrue("$state", state is LiveState.FallbackToBroadcast)
            // The player fetched two segments slower than the video plays: audio only.
            session!!.reportThroughput(150_000uL)
            session!!.reportThroughput(150_000uL)
            until("audio only") { renditions.size >= 2 }
            assertEquals("audio", renditions.last().name)
            assertEquals(renditions.last(), session!!.rendition())
            job.cancel()
        }
        // The data saver on mobile data: a broadcast joined now plays audio only.
        live.setDataSaver(true)
        assertTrue(live.dataSaver())
        withTimeout(EVENT_TIMEOUT_MS) {
            val choice = live.lesson(id, RecordingMedia())
                .filterIsInstance<LiveUpdate.Rendition>()
                .first().choice
            assertEquals("audio", choice.name)
            assertTrue(choice.audioOnly)
            assertEquals(RenditionReason.DATA_SAVER, choice.reason)
        }
        live.close()
    }
}
