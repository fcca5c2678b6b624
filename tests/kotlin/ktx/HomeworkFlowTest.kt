package org.lianxiao.core.ktx

import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertSame
import org.junit.Assert.assertTrue
import org.junit.Test
import org.lianxiao.core.HomeworkView
import org.lianxiao.core.UploadStatus
import org.lianxiao.core.WorkState

class HomeworkFlowTest {
    @Test
    fun emitsTheCurrentListFirstThenEachChange() = runBlocking<Unit> {
        val first = ArrayList<HomeworkView>()
        val second = ArrayList<HomeworkView>()
        val homework = FakeHomework(first)
        val seen = Collecting(this, homework.flow().take(2))
        assertSame(first, seen.next())
        homework.source.push(second)
        assertSame(second, seen.next())
        seen.finish()
        assertEquals(1, homework.source.handles.single().cancels.get())
    }

    @Test
    fun cancellingTheCollectorEndsTheSubscription() = runBlocking<Unit> {
        val homework = FakeHomework()
        val received = CompletableDeferred<Unit>()
        val job = launch(Dispatchers.Default) { homework.flow().collect { received.complete(Unit) } }
        withTimeout(EVENT_TIMEOUT_MS) { received.await() }
        assertEquals(0, homework.source.handles[0].cancels.get())
        job.cancelAndJoin()
        assertEquals(1, homework.source.handles[0].cancels.get())
        homework.source.push(ArrayList())
    }

    @Test
    fun oneHomeworkFollowsItsStateAndSkipsOthersChanges() = runBlocking<Unit> {
        val homework = FakeHomework(listOf(homeworkView("a"), homeworkView("b")))
        val states = Collecting(this, homework.flow("a").take(3))
        assertEquals(WorkState.NotStarted, states.next()!!.work[0].state)
        // b changes: nothing for a's screen.
        homework.source.push(listOf(homeworkView("a"), homeworkView("b", WorkState.Draft)))
        homework.source.push(listOf(homeworkView("a", WorkState.Uploading(500uL, 1000uL))))
        assertEquals(0.5f, states.next()!!.work[0].state.uploadFraction)
        homework.source.push(emptyList())
        assertNull("gone once deleted", states.next())
        states.finish()
        assertNull(WorkState.Draft.uploadFraction)
    }

    @Test
    fun uploadProgressArrivesAndASlowCollectorGetsTheNewest() = runBlocking<Unit> {
        val uploads = FakeUploads(listOf(upload(1, 0uL)))
        val gate = CompletableDeferred<Unit>()
        val seen = mutableListOf<List<UploadStatus>>()
        withTimeout(EVENT_TIMEOUT_MS) {
            val job = launch(Dispatchers.Default) {
                uploads.flow().collect {
                    seen += it
                    gate.await()
                    if (it.single().sent == 1000uL) throw StopCollecting()
                }
            }
            uploads.source.awaitSubscribed()
            for (sent in 100uL..1000uL step 100) uploads.source.push(listOf(upload(1, sent)))
            gate.complete(Unit)
            job.join()
        }
        assertEquals(1f, seen.last().single().fraction)
        assertTrue("conflated: ${seen.size} lists seen", seen.size <= 3)
        assertEquals(1, uploads.source.handles.single().cancels.get())
    }

    @Test
    fun oneUploadIsNullOnceCancelled() = runBlocking<Unit> {
        val uploads = FakeUploads(listOf(upload(7, 250uL)))
        val seen = Collecting(this, uploads.flow(7L).take(2))
        // The current queue first; pushing before the collector had it would let the conflated
        // flow drop it (the timeouts seen under load).
        assertEquals(0.25f, seen.next()!!.fraction)
        uploads.source.push(listOf(upload(8, 0uL)))
        assertNull(seen.next())
        seen.finish()
        assertEquals(1, uploads.source.handles.single().cancels.get())
        assertEquals("an empty file is not divided by zero", 0f, upload(9, 0uL, 0uL).fraction)
    }

    private class StopCollecting : kotlinx.coroutines.CancellationException("done")
}
