package org.lianxiao.core.ktx

import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.Assert.assertEquals
import org.junit.Assert.assertSame
import org.junit.Assert.assertTrue
import org.junit.Test
import org.lianxiao.core.NoticeFilter
import org.lianxiao.core.NoticeView

class NoticesFlowTest {
    @Test
    fun emitsTheCurrentListFirstThenEachChange() = runBlocking<Unit> {
        val first = snapshot()
        val second = snapshot()
        val notices = FakeNotices(current = first)
        val seen = Collecting(this, notices.flow().take(2))
        assertSame(first, seen.next())
        notices.push(second)
        assertSame(second, seen.next())
        seen.finish()
    }

    @Test
    fun takingTheFirstListEndsTheSubscription() = runBlocking<Unit> {
        val notices = FakeNotices()
        withTimeout(EVENT_TIMEOUT_MS) { notices.flow().first() }
        assertEquals(1, notices.handles.size)
        assertEquals(1, notices.handles[0].cancels.get())
    }

    @Test
    fun cancellingTheCollectorEndsTheSubscription() = runBlocking<Unit> {
        val notices = FakeNotices()
        val received = CompletableDeferred<Unit>()
        val job = launch(Dispatchers.Default) { notices.flow().collect { received.complete(Unit) } }
        withTimeout(EVENT_TIMEOUT_MS) { received.await() }
        assertEquals(0, notices.handles[0].cancels.get())
        job.cancelAndJoin()
        assertEquals(1, notices.handles[0].cancels.get())
        // Later changes reach nobody and do not fail.
        notices.push(snapshot())
    }

    @Test
    fun eachCollectionHasItsOwnSubscription() = runBlocking<Unit> {
        val notices = FakeNotices()
        val flow = notices.flow()
        withTimeout(EVENT_TIMEOUT_MS) {
            flow.first()
            flow.first()
        }
        assertEquals(2, notices.handles.size)
        assertTrue(notices.handles.all { it.cancels.get() == 1 })
    }

    @Test
    fun passesTheFilterToTheCore() = runBlocking<Unit> {
        val notices = FakeNotices()
        withTimeout(EVENT_TIMEOUT_MS) {
            notices.flow(NoticeFilter(childId = "child-7", unreadFirst = false)).first()
            notices.flow().first()
        }
        assertEquals(NoticeFilter(childId = "child-7", unreadFirst = false), notices.filters[0])
        assertEquals(UNREAD_FIRST, notices.filters[1])
        assertEquals(true, UNREAD_FIRST.unreadFirst)
    }

    @Test
    fun aSlowCollectorGetsTheNewestList() = runBlocking<Unit> {
        val notices = FakeNotices()
        val last = snapshot()
        val gate = CompletableDeferred<Unit>()
        val seen = mutableListOf<List<NoticeView>>()
        withTimeout(EVENT_TIMEOUT_MS) {
            val job = launch(Dispatchers.Default) {
                notices.flow().collect {
                    seen += it
                    gate.await() // busy with the first list while 50 more arrive
                    if (it === last) throw StopCollecting()
                }
            }
            notices.awaitSubscribed()
            repeat(49) { notices.push(snapshot()) }
            notices.push(last)
            gate.complete(Unit)
            job.join()
        }
        assertSame(last, seen.last())
        assertTrue("conflated: ${seen.size} lists seen", seen.size <= 3)
    }

    private class StopCollecting : kotlinx.coroutines.CancellationException("done")
}
