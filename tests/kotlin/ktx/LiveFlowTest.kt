package org.lianxiao.core.ktx

import java.util.concurrent.atomic.AtomicInteger
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.Assert.assertEquals
import org.junit.Assert.assertSame
import org.junit.Assert.assertTrue
import org.junit.Test
import org.lianxiao.core.EndCause
import org.lianxiao.core.Live
import org.lianxiao.core.LiveListener
import org.lianxiao.core.LiveSession
import org.lianxiao.core.LiveState
import org.lianxiao.core.MediaSession
import org.lianxiao.core.NoHandle
import org.lianxiao.core.RenditionChoice
import org.lianxiao.core.RenditionReason
import org.lianxiao.core.VideoQuality

/** Counts leaves and closes, as the core's session leaves the lesson. */
class FakeLiveSession : LiveSession(NoHandle) {
    val leaves = AtomicInteger()
    val closes = AtomicInteger()

    override fun leave() {
        leaves.incrementAndGet()
    }

    override fun close() {
        closes.incrementAndGet()
    }
}

/**
 * Like the core: `join` tells the listener `Joining` from another thread before it returns,
 * then plays [script] from another thread.
 */
class FakeLive(private val script: List<(LiveListener) -> Unit>) : Live(NoHandle) {
    val session = FakeLiveSession()

    override fun join(lessonId: String, media: MediaSession, listener: LiveListener): LiveSession {
        Thread { listener.onState(LiveState.Joining) }.apply { start(); join() }
        Thread { script.forEach { it(listener) } }.start()
        return session
    }
}

object NoMedia : MediaSession {
    override fun connect(url: String, token: String) {}
    override fun disconnect() {}
    override fun setCamera(on: Boolean) {}
    override fun setMicrophone(on: Boolean) {}
    override fun setVideoQuality(quality: VideoQuality) {}
    override fun setVideoEnabled(enabled: Boolean) {}
}

private fun choice(name: String, reason: RenditionReason) =
    RenditionChoice(name, "http://s/v1/hls/l1/$name/index.m3u8", 52_800uL, name == "audio", reason, null)

class LiveFlowTest {
    @Test
    fun theSessionComesFirstThenEveryUpdateInOrderAndTheEndCompletesTheFlow() = runBlocking<Unit> {
        val live = FakeLive(
            listOf(
                { it.onState(LiveState.FallbackToBroadcast("http://s/master.m3u8")) },
                { it.onRendition(choice("low", RenditionReason.START)) },
                { it.onRendition(choice("audio", RenditionReason.THROUGHPUT)) },
                { it.onState(LiveState.Ended(EndCause.LessonOver)) },
            ),
        )
        val updates = withTimeout(EVENT_TIMEOUT_MS) { live.lesson("l1", NoMedia).toList() }
        assertSame(live.session, (updates[0] as LiveUpdate.Joined).session)
        assertEquals(
            listOf(
                LiveUpdate.State(LiveState.Joining),
                LiveUpdate.State(LiveState.FallbackToBroadcast("http://s/master.m3u8")),
                LiveUpdate.Rendition(choice("low", RenditionReason.START)),
                LiveUpdate.Rendition(choice("audio", RenditionReason.THROUGHPUT)),
                LiveUpdate.State(LiveState.Ended(EndCause.LessonOver)),
            ),
            updates.drop(1),
        )
        assertEquals(1, live.session.closes.get())
    }

    @Test
    fun cancellingTheCollectorLeavesTheLesson() = runBlocking<Unit> {
        val live = FakeLive(emptyList())
        val first = withTimeout(EVENT_TIMEOUT_MS) { live.lesson("l1", NoMedia).take(2).toList() }
        assertTrue(first[0] is LiveUpdate.Joined)
        assertEquals(LiveUpdate.State(LiveState.Joining), first[1])
        assertEquals(1, live.session.leaves.get())
        assertEquals(1, live.session.closes.get())
        // Collecting again joins again.
        withTimeout(EVENT_TIMEOUT_MS) { live.lesson("l1", NoMedia).first() }
        assertEquals(2, live.session.leaves.get())
    }
}
