// Kotlin Flow over the homework list and the upload queue, like the notices flow: the core
// sends the current list first, then the whole list after every change (a draft edited, sync,
// upload progress, delivery), from its worker threads; collecting owns the subscription.
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
import org.lianxiao.core.HomeworkHandleInterface
import org.lianxiao.core.HomeworkListener
import org.lianxiao.core.HomeworkView
import org.lianxiao.core.UploadListener
import org.lianxiao.core.UploadStatus
import org.lianxiao.core.UploadsInterface
import org.lianxiao.core.WorkState

/**
 * Every homework the account sees, latest due first: the current list at once, then the
 * whole list after every change. Conflated: a slow collector gets the newest list. Upload
 * progress of a hand-in shows as [WorkState.Uploading] in it.
 */
public fun HomeworkHandleInterface.flow(): Flow<List<HomeworkView>> =
    callbackFlow {
        val handle = subscribe(
            object : HomeworkListener {
                override fun onHomework(homework: List<HomeworkView>) {
                    trySend(homework)
                }
            },
        )
        awaitClose { handle.release() }
    }.buffer(Channel.CONFLATED)

/**
 * One homework from [flow], for its detail or draft screen: null until it is on the phone, or
 * after it was deleted. Emits only when that homework's view changed.
 */
public fun HomeworkHandleInterface.flow(homeworkId: String): Flow<HomeworkView?> =
    flow().map { list -> list.firstOrNull { it.homework.id == homeworkId } }.distinctUntilChanged()

/**
 * The upload queue with progress: the list at once, then after every change (a few times a
 * second while bytes move). Conflated like [flow].
 */
public fun UploadsInterface.flow(): Flow<List<UploadStatus>> =
    callbackFlow {
        val handle = subscribe(
            object : UploadListener {
                override fun onUploads(uploads: List<UploadStatus>) {
                    trySend(uploads)
                }
            },
        )
        awaitClose { handle.release() }
    }.buffer(Channel.CONFLATED)

/** One upload's status from the queue; null once it is gone (cancelled). */
public fun UploadsInterface.flow(id: Long): Flow<UploadStatus?> =
    flow().map { list -> list.firstOrNull { it.id == id } }.distinctUntilChanged()

/** Share of the file sent, 0.0 to 1.0, for a progress bar. */
public val UploadStatus.fraction: Float
    get() = if (total == 0uL) 0f else (sent.toDouble() / total.toDouble()).toFloat()

/** Share of a hand-in's files sent while it is [WorkState.Uploading]; null in other states. */
public val WorkState.uploadFraction: Float?
    get() = when (this) {
        is WorkState.Uploading ->
            if (totalBytes == 0uL) 0f else (sentBytes.toDouble() / totalBytes.toDouble()).toFloat()
        else -> null
    }
