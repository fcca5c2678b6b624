// Kotlin Flow over the core's listener subscriptions. The core sends the current value first,
// then every change, from its own worker threads; these adapters turn that into a cold Flow
// whose collection owns the subscription: stop collecting and the subscription ends.
//
// Pure Kotlin (no android.*): compiled and tested on the JVM in CI.
package org.lianxiao.core.ktx

import kotlinx.coroutines.awaitCancellation
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import org.lianxiao.core.ClientInterface
import org.lianxiao.core.ClientState
import org.lianxiao.core.NoticeFilter
import org.lianxiao.core.NoticeListener
import org.lianxiao.core.NoticeView
import org.lianxiao.core.NoticesInterface
import org.lianxiao.core.StateListener
import org.lianxiao.core.TaskHandle

/** Unread notices first, then newest first, for every child: what the notice screen shows. */
public val UNREAD_FIRST: NoticeFilter = NoticeFilter(childId = null, unreadFirst = true)

/**
 * The notices matching [filter]: the current list at once, then the whole list again after
 * every change (sync, realtime event, this phone's read or acknowledgment, delivery).
 *
 * Each emission is a complete snapshot, so a slow collector only gets the newest one
 * (conflated). Collect on the dispatcher you need: emissions are not on the main thread until
 * you collect there (`collectAsState()` and `lifecycleScope` do).
 */
public fun NoticesInterface.flow(filter: NoticeFilter = UNREAD_FIRST): Flow<List<NoticeView>> =
    callbackFlow {
        val handle = subscribe(
            filter,
            object : NoticeListener {
                override fun onNotices(notices: List<NoticeView>) {
                    trySend(notices)
                }
            },
        )
        awaitClose { handle.release() }
    }.buffer(Channel.CONFLATED)

/**
 * The connection state (offline, connecting, online, sign-in expired): the current state at
 * once, then each change. Conflated: a slow collector sees the latest state.
 */
public fun ClientInterface.stateFlow(): Flow<ClientState> =
    callbackFlow {
        val handle = subscribeState(
            object : StateListener {
                override fun onState(state: ClientState) {
                    trySend(state)
                }
            },
        )
        awaitClose { handle.release() }
    }.buffer(Channel.CONFLATED)

/**
 * Keeps a subscription made with a plain listener alive for as long as the calling coroutine
 * runs, and ends it when that coroutine is cancelled:
 * ```
 * scope.launch { notices.subscribe(filter, listener).holdUntilCancelled() }
 * ```
 */
public suspend fun TaskHandle.holdUntilCancelled(): Nothing {
    try {
        awaitCancellation()
    } finally {
        release()
    }
}

/**
 * Stops the task now, then frees the handle. `cancel()` first because `close()` only frees the
 * Rust object once no call on it is in flight; the subscription must stop at once regardless.
 */
internal fun TaskHandle.release() {
    try {
        cancel()
    } finally {
        close()
    }
}
