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
        val states = withTimeout(5_000) {
            val collected = CompletableDeferred<List<ClientState>>()
            val first = CompletableDeferred<Unit>()
            launch(Dispatchers.Default) {
                collected.complete(client.stateFlow().take(3).toListSignalling(first))
            }
            first.await()
            client.change(ClientState.ONLINE)
            client.change(ClientState.AUTH_EXPIRED)
            collected.await()
        }
        assertEquals(listOf(ClientState.CONNECTING, ClientState.ONLINE, ClientState.AUTH_EXPIRED), states)
        assertEquals(1, client.handles.single().cancels.get())
    }

    @Test
    fun stoppingCollectionEndsTheSubscription() = runBlocking<Unit> {
        val client = FakeClient(ClientState.ONLINE)
        assertEquals(ClientState.ONLINE, withTimeout(5_000) { client.stateFlow().first() })
        assertEquals(1, client.handles.single().cancels.get())

        val seen = CompletableDeferred<Unit>()
        val job = launch(Dispatchers.Default) { client.stateFlow().collect { seen.complete(Unit) } }
        withTimeout(5_000) { seen.await() }
        job.cancelAndJoin()
        assertEquals(1, client.handles[1].cancels.get())
    }

    @Test
    fun holdUntilCancelledEndsAPlainSubscriptionWithItsCoroutine() = runBlocking<Unit> {
        val handle = FakeTaskHandle()
        val job = launch(Dispatchers.Default) { handle.holdUntilCancelled() }
        kotlinx.coroutines.delay(50)
        assertEquals(0, handle.cancels.get())
        job.cancelAndJoin()
        assertEquals(1, handle.cancels.get())
    }
}

/** Collects all values, completing [first] once the first one arrived. */
private suspend fun <T> kotlinx.coroutines.flow.Flow<T>.toListSignalling(first: CompletableDeferred<Unit>): List<T> {
    val out = mutableListOf<T>()
    collect {
        out += it
        first.complete(Unit)
    }
    return out
}
