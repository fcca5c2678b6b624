// Kotlin Flow over an account's badge (unread notices): the core sends the current count
// first, then every change (sync, a push's sync, a read on this phone), from its worker
// threads; collecting owns the subscription. The same number the server's pushes carry as
// `badge`, so the launcher icon can show either.
//
// Pure Kotlin (no android.*): compiled and tested on the JVM in CI.
package org.lianxiao.core.ktx

import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import org.lianxiao.core.BadgeListener
import org.lianxiao.core.NotificationsInterface

/** The account's unread count: at once, then after every change. Conflated. */
public fun NotificationsInterface.badgeFlow(): Flow<UInt> =
    callbackFlow {
        val handle = subscribeBadge(
            object : BadgeListener {
                override fun onBadge(accountId: String, unread: UInt) {
                    trySend(unread)
                }
            },
        )
        awaitClose { handle.release() }
    }.buffer(Channel.CONFLATED)

/**
 * A push's data as the core reads it: FCM's `RemoteMessage.data` and Getui's payload are
 * string maps already; other maps' values are turned into strings.
 */
public fun pushData(map: Map<String, Any?>): Map<String, String> =
    map.entries.filter { it.value != null }.associate { it.key to it.value.toString() }
