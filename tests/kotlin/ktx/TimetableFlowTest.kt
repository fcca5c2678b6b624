package org.lianxiao.core.ktx

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Test

class TimetableFlowTest {
    @Test
    fun snapshotComesFirstThenEachChangeAndCollectingOwnsTheSubscription() = runBlocking<Unit> {
        val timetable = FakeTimetable()
        val seen = Collecting(this, timetable.flow().take(2))
        assertNull(seen.next().next)
        timetable.source.push(timetableSnapshot(next = lesson("a", 1_000L)))
        assertEquals("a", seen.next().next?.id)
        seen.finish()
        assertEquals(1, timetable.source.handles.single().cancels.get())
    }

    @Test
    fun everyReminderIsDelivered() = runBlocking<Unit> {
        val timetable = FakeTimetable()
        val got = withTimeout(EVENT_TIMEOUT_MS) {
            timetable.reminders().take(2).also {
                launch(Dispatchers.Default) {
                    timetable.reminders.awaitSubscribed()
                    timetable.reminders.push(LessonReminderOf("a"))
                    timetable.reminders.push(LessonReminderOf("b"))
                }
            }.toList()
        }
        assertEquals(listOf("a", "b"), got.map { it.lesson.id })
        assertEquals(1, timetable.reminders.handles.single().cancels.get())
    }

    @Suppress("TestFunctionName")
    private fun LessonReminderOf(id: String) =
        org.lianxiao.core.LessonReminder(lesson = lesson(id, 600_000L), remindAt = 0L)
}
