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
import org.junit.Test
import org.lianxiao.core.ClientState

class StateFlowTest {
    @Test
    fun emitsTheCurrentStateThenChanges() = runBlocking<Unit> {
        val client = FakeClient(ClientState.CONNECTING)
        val states = Collecting(this, client.stateFlow().take(3))
        assertEquals(ClientState.CONNECTING, states.next())
        // One change at a time: the flow is conflated, so two changes in a row may reach the
        // collector as the newest only (this test was flaky when it sent both at once).
        client.change(ClientState.ONLINE)
        assertEquals(ClientState.ONLINE, states.next())
        client.change(ClientState.AUTH_EXPIRED)
        assertEquals(ClientState.AUTH_EXPIRED, states.next())
        states.finish()
        assertEquals(1, client.handles.single().cancels.get())
    }

    @Test
    fun stoppingCollectionEndsTheSubscription() = runBlocking<Unit> {
        val client = FakeClient(ClientState.ONLINE)
        assertEquals(ClientState.ONLINE, withTimeout(EVENT_TIMEOUT_MS) { client.stateFlow().first() })
        assertEquals(1, client.handles.single().cancels.get())

        val seen = CompletableDeferred<Unit>()
        val job = launch(Dispatchers.Default) { client.stateFlow().collect { seen.complete(Unit) } }
        withTimeout(EVENT_TIMEOUT_MS) { seen.await() }
        job.cancelAndJoin()
        assertEquals(1, client.handles[1].cancels.get())
    }

    @Test
    fun holdUntilCancelledEndsAPlainSubscriptionWithItsCoroutine() = runBlocking<Unit> {
        val handle = FakeTaskHandle()
        // Wait until the coroutine runs: cancelled before it started, it would never reach
        // holdUntilCancelled (a 50 ms sleep stood for "started" and was not always enough).
        val started = CompletableDeferred<Unit>()
        val job = launch(Dispatchers.Default) {
            started.complete(Unit)
            handle.holdUntilCancelled()
        }
        withTimeout(EVENT_TIMEOUT_MS) { started.await() }
        assertEquals(0, handle.cancels.get())
        job.cancelAndJoin()
        assertEquals(1, handle.cancels.get())
    }
}
