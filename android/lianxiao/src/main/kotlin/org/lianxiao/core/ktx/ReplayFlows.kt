// Kotlin Flow over the replay list and its downloads, like the homework flow: the core sends
// the current list first, then the whole list after every change (sync, a watch position, a
// download's progress a few times a second), from its worker threads; collecting owns the
// subscription.
//
// Pure Kotlin (no android.*): compiled and tested on the JVM in CI.
package org.lianxiao.core.ktx

import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.flow.distinctUntilChanged
import kotlinx.coroutines.flow.map
import org.lianxiao.core.DownloadStatus
import org.lianxiao.core.ReplayFilter
import org.lianxiao.core.ReplayListener
import org.lianxiao.core.ReplayView
import org.lianxiao.core.ReplaysInterface
import org.lianxiao.core.StorageUse

/** Every replay the account may watch (a parent: every child's). */
public val ALL_REPLAYS: ReplayFilter = ReplayFilter(childId = null)

/**
 * The replays matching [filter], newest lesson first: the current list at once, then the
 * whole list after every change. Conflated: a slow collector gets the newest list.
 */
public fun ReplaysInterface.flow(filter: ReplayFilter = ALL_REPLAYS): Flow<List<ReplayView>> =
    callbackFlow {
        val handle = subscribe(
            filter,
            object : ReplayListener {
                override fun onReplays(replays: List<ReplayView>) {
                    trySend(replays)
                }
            },
        )
        awaitClose { handle.release() }
    }.buffer(Channel.CONFLATED)

/** One replay from [flow], for its player screen: null until it is on the phone. */
public fun ReplaysInterface.flow(replayId: String): Flow<ReplayView?> =
    flow().map { list -> list.firstOrNull { it.replay.id == replayId } }.distinctUntilChanged()

/**
 * The downloads with their progress, for the downloads screen: every replay that has one,
 * in the list's order. Emits only when a download changed.
 */
public fun ReplaysInterface.downloadsFlow(): Flow<List<DownloadStatus>> =
    flow().map { list -> list.mapNotNull { it.download } }.distinctUntilChanged()

/** One replay's download; null while there is none (never started, or deleted). */
public fun ReplaysInterface.downloadFlow(replayId: String): Flow<DownloadStatus?> =
    flow(replayId).map { it?.download }.distinctUntilChanged()

/** Share of the rendition on the phone, 0.0 to 1.0, for a progress bar. */
public val DownloadStatus.fraction: Float
    get() = if (bytesTotal == 0uL) 0f else (bytesDone.toDouble() / bytesTotal.toDouble()).toFloat()

/** Share of the cap the downloads hold, 0.0 to 1.0 (more when the cap was lowered). */
public val StorageUse.fraction: Float
    get() = if (capBytes == 0uL) 1f else (reservedBytes.toDouble() / capBytes.toDouble()).toFloat()
