// Kotlin Flow over the core's failed background work: a panic in sync, the outbox, uploads,
// replays or a listener is caught, the task is started again, and the failure is listed here
// (the task's name and the panic's message, nothing personal) for the app to report.
//
// Pure Kotlin (no android.*): compiled and tested on the JVM in CI.
package org.lianxiao.core.ktx

import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import org.lianxiao.core.ClientInterface
import org.lianxiao.core.TaskFailure
import org.lianxiao.core.TaskFailureListener

/**
 * The client's task failures: the list so far at once, then the whole list after each new
 * one. Conflated: a slow collector sees the newest list, which holds every earlier failure.
 * ```
 * client.taskFailuresFlow().collect { crashReporter.record(it.last()) }
 * ```
 */
public fun ClientInterface.taskFailuresFlow(): Flow<List<TaskFailure>> =
    callbackFlow {
        val handle = subscribeTaskFailures(
            object : TaskFailureListener {
                override fun onTaskFailures(failures: List<TaskFailure>) {
                    trySend(failures)
                }
            },
        )
        awaitClose { handle.release() }
    }.buffer(Channel.CONFLATED)
