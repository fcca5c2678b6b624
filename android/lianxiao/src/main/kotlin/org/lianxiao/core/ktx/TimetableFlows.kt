// Kotlin Flows over the timetable: the screen's snapshot (today, now, next, unseen changes),
// sent by the core at once, after every change and whenever a lesson starts or ends; and the
// reminders the core gives while the app runs. Collecting owns the subscription.
//
// Pure Kotlin (no android.*): compiled and tested on the JVM in CI.
package org.lianxiao.core.ktx

import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import org.lianxiao.core.LessonReminder
import org.lianxiao.core.ReminderListener
import org.lianxiao.core.TimetableInterface
import org.lianxiao.core.TimetableListener
import org.lianxiao.core.TimetableSnapshot

/** The timetable screen's data, newest first: conflated, a slow collector skips stale ones. */
public fun TimetableInterface.flow(): Flow<TimetableSnapshot> =
    callbackFlow {
        val handle = subscribe(
            object : TimetableListener {
                override fun onTimetable(snapshot: TimetableSnapshot) {
                    trySend(snapshot)
                }
            },
        )
        awaitClose { handle.release() }
    }.buffer(Channel.CONFLATED)

/**
 * Each lesson's reminder, once per lesson start. Not conflated: every reminder is delivered
 * (the core records it as given, so one missed here would not come again).
 */
public fun TimetableInterface.reminders(): Flow<LessonReminder> =
    callbackFlow {
        val handle = watchReminders(
            object : ReminderListener {
                override fun onReminder(reminder: LessonReminder) {
                    trySend(reminder)
                }
            },
        )
        awaitClose { handle.release() }
    }.buffer(Channel.UNLIMITED)
