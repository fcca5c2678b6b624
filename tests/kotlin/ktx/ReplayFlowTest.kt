// The replay Flows without a server: a stand-in for `Replays` that, like the core, sends the
// current list on subscribing and every later list from its own threads.
package org.lianxiao.core.ktx

import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Test
import org.lianxiao.core.DownloadState
import org.lianxiao.core.DownloadStatus
import org.lianxiao.core.NoHandle
import org.lianxiao.core.PersonRef
import org.lianxiao.core.Replay
import org.lianxiao.core.ReplayFilter
import org.lianxiao.core.ReplayListener
import org.lianxiao.core.ReplaySource
import org.lianxiao.core.ReplayStatus
import org.lianxiao.core.ReplayView
import org.lianxiao.core.ReplayVisibility
import org.lianxiao.core.Replays
import org.lianxiao.core.StorageUse
import org.lianxiao.core.TaskHandle

class FakeReplays(@Volatile var current: List<ReplayView> = emptyList()) : Replays(NoHandle) {
    val filters = CopyOnWriteArrayList<ReplayFilter>()
    val handles = CopyOnWriteArrayList<FakeTaskHandle>()
    private val listeners = CopyOnWriteArrayList<Pair<ReplayListener, FakeTaskHandle>>()
    private val subscribed = CountDownLatch(1)

    override fun subscribe(filter: ReplayFilter, listener: ReplayListener): TaskHandle {
        val handle = FakeTaskHandle()
        filters += filter
        handles += handle
        listeners += listener to handle
        val snapshot = current
        Thread { listener.onReplays(snapshot) }.apply { start(); join() }
        subscribed.countDown()
        return handle
    }

    fun push(list: List<ReplayView>) {
        current = list
        for ((listener, handle) in listeners) {
            if (!handle.isFinished()) Thread { listener.onReplays(list) }.apply { start(); join() }
        }
    }

    fun awaitSubscribed() {
        check(subscribed.await(EVENT_TIMEOUT_MS, TimeUnit.MILLISECONDS)) { "never subscribed" }
    }
}

private fun replayView(id: String, download: DownloadStatus? = null) = ReplayView(
    Replay(
        id, "lesson-$id", "语文", "古诗两首", 0L, ReplaySource.UPLOAD, ReplayStatus.APPROVED, null, null,
        ReplayVisibility.LESSON_CLASSES, 60_000L, emptyList(), PersonRef("t", "王老师"), null, 0L, 0L,
    ),
    null,
    download,
)

private fun download(id: String, state: DownloadState, done: ULong) =
    DownloadStatus(id, "low", state, done, 1000uL, 0u, null, 0u, null)

class ReplayFlowTest {
    @Test
    fun theListComesFirstWithTheFilterThenEachChange() = runBlocking<Unit> {
        val replays = FakeReplays(listOf(replayView("a")))
        val seen = Collecting(this, replays.flow(ReplayFilter("child-1")).take(2))
        assertEquals(listOf("a"), seen.next().map { it.replay.id })
        replays.push(listOf(replayView("a"), replayView("b")))
        assertEquals(listOf("a", "b"), seen.next().map { it.replay.id })
        seen.finish()
        assertEquals("child-1", replays.filters.single().childId)
        assertEquals(1, replays.handles.single().cancels.get())
    }

    @Test
    fun aDownloadsProgressArrivesAndOthersChangesDoNot() = runBlocking<Unit> {
        val replays = FakeReplays(listOf(replayView("a"), replayView("b")))
        val states = Collecting(this, replays.downloadFlow("a").take(3))
        assertNull(states.next())
        // b's download moves: nothing for a's.
        replays.push(listOf(replayView("a"), replayView("b", download("b", DownloadState.DOWNLOADING, 10uL))))
        replays.push(listOf(replayView("a", download("a", DownloadState.DOWNLOADING, 250uL)), replayView("b")))
        assertEquals(0.25f, states.next()!!.fraction)
        replays.push(listOf(replayView("a", download("a", DownloadState.DONE, 1000uL))))
        val done = states.next()!!
        assertEquals(DownloadState.DONE, done.state)
        assertEquals(1.0f, done.fraction)
        states.finish()
    }

    @Test
    fun theDownloadsScreenSeesOnlyReplaysWithADownload() = runBlocking<Unit> {
        val replays = FakeReplays(listOf(replayView("a", download("a", DownloadState.PAUSED, 500uL)), replayView("b")))
        val first = withTimeout(EVENT_TIMEOUT_MS) {
            val collected = CompletableDeferred<List<DownloadStatus>>()
            val job = launch(Dispatchers.Default) { replays.downloadsFlow().collect { collected.complete(it) } }
            val list = collected.await()
            job.cancelAndJoin()
            list
        }
        assertEquals(listOf("a"), first.map { it.replayId })
        assertEquals(1, replays.handles.single().cancels.get())
        assertEquals(0.5f, StorageUse(1uL shl 20, 2uL shl 20).fraction)
    }
}
