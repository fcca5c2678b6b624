// Kotlin Flow over the account's notification settings: the core sends the current settings
// first, then again after every change (sync from another phone, a change on this one, the
// server's answer), from its worker threads; collecting owns the subscription.
//
// Pure Kotlin (no android.*): compiled and tested on the JVM in CI.
package org.lianxiao.core.ktx

import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import org.lianxiao.core.NotificationKinds
import org.lianxiao.core.NotificationSettingsHandleInterface
import org.lianxiao.core.NotificationSettingsListener
import org.lianxiao.core.SettingsView

/**
 * The settings as the screen shows them (a change made here over the server's copy, with
 * `pending` until the server confirms it): at once, then after every change. Conflated.
 */
public fun NotificationSettingsHandleInterface.flow(): Flow<SettingsView> =
    callbackFlow {
        val handle = subscribe(
            object : NotificationSettingsListener {
                override fun onSettings(view: SettingsView) {
                    trySend(view)
                }
            },
        )
        awaitClose { handle.release() }
    }.buffer(Channel.CONFLATED)

/** The kinds for one child (students and teachers: their own id); null if not listed. */
public fun SettingsView.kindsOf(childId: String): NotificationKinds? =
    settings.children.firstOrNull { it.childId == childId }?.kinds
