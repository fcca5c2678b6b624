// Stand-ins for core objects, for testing the ktx adapters without a server. They subclass
// the generated classes through their fake-object constructor and override only the calls
// under test, so new methods in the bindings do not break them.
package org.lianxiao.core.ktx

import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.launch
import kotlinx.coroutines.withTimeout
import org.lianxiao.core.Client
import org.lianxiao.core.ClientState
import org.lianxiao.core.Homework
import org.lianxiao.core.HomeworkHandle
import org.lianxiao.core.HomeworkListener
import org.lianxiao.core.HomeworkView
import org.lianxiao.core.Lesson
import org.lianxiao.core.LessonMode
import org.lianxiao.core.LessonReminder
import org.lianxiao.core.LessonStatus
import org.lianxiao.core.NoHandle
import org.lianxiao.core.NoticeFilter
import org.lianxiao.core.NoticeListener
import org.lianxiao.core.NoticeView
import org.lianxiao.core.Notices
import org.lianxiao.core.PersonRef
import org.lianxiao.core.ReminderListener
import org.lianxiao.core.SecureStorage
import org.lianxiao.core.StateListener
import org.lianxiao.core.StudentWork
import org.lianxiao.core.TaskHandle
import org.lianxiao.core.Timetable
import org.lianxiao.core.TimetableListener
import org.lianxiao.core.TimetableSnapshot
import org.lianxiao.core.UploadListener
import org.lianxiao.core.UploadPurpose
import org.lianxiao.core.UploadState
import org.lianxiao.core.UploadStatus
import org.lianxiao.core.Uploads
import org.lianxiao.core.WorkKind
import org.lianxiao.core.WorkState

/**
 * How long a test waits for an event (a value through a Flow, a subscription) before it fails.
 * Nothing here is timed: the bound only turns a hang into a failure. Generous because the suite
 * runs on busy 2-core machines where the JVM (JIT, GC, thread start) can stall for seconds beside
 * other builds: 5 s timed out there.
 */
const val EVENT_TIMEOUT_MS = 120_000L

/**
 * Collects [flow] on [Dispatchers.Default] into an unbounded queue, so a test takes the values
 * one at a time with [next] and pushes the next change only after the collector has the last.
 * The adapters' Flows are conflated on purpose (a slow screen gets the newest list): a test that
 * pushes twice without waiting lets the first push be dropped, and a `take(n)` then waits for
 * ever. Step in lockstep with the collector instead.
 */
class Collecting<T>(scope: CoroutineScope, flow: Flow<T>) {
    private val values = Channel<T>(Channel.UNLIMITED)
    private val job: Job = scope.launch(Dispatchers.Default) {
        flow.collect { values.send(it) }
        values.close()
    }

    /** The next value the collector got. */
    suspend fun next(): T = withTimeout(EVENT_TIMEOUT_MS) { values.receive() }

    /** Waits for a finite flow (`take(n)`) to complete: its subscription has ended then. */
    suspend fun finish() = withTimeout(EVENT_TIMEOUT_MS) { job.join() }
}

/** Counts cancellations, as the core's handle stops its task. */
class FakeTaskHandle : TaskHandle(NoHandle) {
    val cancels = AtomicInteger()

    override fun cancel() {
        cancels.incrementAndGet()
    }

    override fun isFinished(): Boolean = cancels.get() > 0
}

/**
 * Like the core: `subscribe` sends [current] from another thread at once, [push] sends a new
 * list to every live subscription.
 */
class FakeNotices(@Volatile var current: List<NoticeView> = ArrayList()) : Notices(NoHandle) {
    val filters = CopyOnWriteArrayList<NoticeFilter>()
    val handles = CopyOnWriteArrayList<FakeTaskHandle>()
    private val listeners = CopyOnWriteArrayList<Pair<NoticeListener, FakeTaskHandle>>()
    private val subscribed = CountDownLatch(1)

    override fun subscribe(filter: NoticeFilter, listener: NoticeListener): TaskHandle {
        val handle = FakeTaskHandle()
        filters += filter
        handles += handle
        listeners += listener to handle
        val snapshot = current
        Thread { listener.onNotices(snapshot) }.apply { start(); join() }
        subscribed.countDown()
        return handle
    }

    fun push(list: List<NoticeView>) {
        current = list
        for ((listener, handle) in listeners) {
            if (!handle.isFinished()) Thread { listener.onNotices(list) }.apply { start(); join() }
        }
    }

    fun awaitSubscribed() = check(subscribed.await(EVENT_TIMEOUT_MS, TimeUnit.MILLISECONDS)) { "never subscribed" }
}

class FakeClient(@Volatile var state: ClientState = ClientState.OFFLINE) : Client(NoHandle) {
    val handles = CopyOnWriteArrayList<FakeTaskHandle>()
    private val listeners = CopyOnWriteArrayList<Pair<StateListener, FakeTaskHandle>>()

    override fun state(): ClientState = state

    override fun subscribeState(listener: StateListener): TaskHandle {
        val handle = FakeTaskHandle()
        handles += handle
        listeners += listener to handle
        val now = state
        Thread { listener.onState(now) }.apply { start(); join() }
        return handle
    }

    fun change(to: ClientState) {
        state = to
        for ((listener, handle) in listeners) {
            if (!handle.isFinished()) Thread { listener.onState(to) }.apply { start(); join() }
        }
    }
}

/** Tokens in memory, as the app's Keystore/Keychain storage would hold them. */
class MemorySecureStorage : SecureStorage {
    private val values = java.util.concurrent.ConcurrentHashMap<String, String>()

    override fun get(key: String): String? = values[key]

    override fun set(key: String, value: String) {
        values[key] = value
    }

    override fun delete(key: String) {
        values.remove(key)
    }
}

/** A distinct empty snapshot: flow tests tell emissions apart by identity. */
fun snapshot(): List<NoticeView> = ArrayList()

/**
 * A subscription source like the core's: `subscribe` sends [current] from another thread at
 * once, [push] sends a new value to every live subscription.
 */
class FakeSource<T>(@Volatile var current: T) {
    val handles = CopyOnWriteArrayList<FakeTaskHandle>()
    private val listeners = CopyOnWriteArrayList<Pair<(T) -> Unit, FakeTaskHandle>>()
    private val subscribed = CountDownLatch(1)

    fun subscribe(listener: (T) -> Unit): TaskHandle {
        val handle = FakeTaskHandle()
        handles += handle
        listeners += listener to handle
        val snapshot = current
        Thread { listener(snapshot) }.apply { start(); join() }
        subscribed.countDown()
        return handle
    }

    fun push(value: T) {
        current = value
        for ((listener, handle) in listeners) {
            if (!handle.isFinished()) Thread { listener(value) }.apply { start(); join() }
        }
    }

    fun awaitSubscribed() = check(subscribed.await(EVENT_TIMEOUT_MS, TimeUnit.MILLISECONDS)) { "never subscribed" }
}

class FakeHomework(list: List<HomeworkView> = ArrayList()) : HomeworkHandle(NoHandle) {
    val source = FakeSource(list)

    override fun subscribe(listener: HomeworkListener): TaskHandle = source.subscribe(listener::onHomework)
}

class FakeUploads(list: List<UploadStatus> = ArrayList()) : Uploads(NoHandle) {
    val source = FakeSource(list)

    override fun subscribe(listener: UploadListener): TaskHandle = source.subscribe(listener::onUploads)
}

/** A homework as a student sees it, in [state]. */
fun homeworkView(id: String, state: WorkState = WorkState.NotStarted): HomeworkView =
    HomeworkView(
        homework = Homework(
            id = id,
            title = "看图写话",
            instructions = "",
            attachments = emptyList(),
            author = PersonRef("t1", "王老师"),
            classes = emptyList(),
            dueAt = 0L,
            acceptsLate = true,
            acceptedKinds = listOf(WorkKind.TEXT, WorkKind.PHOTO),
            maxScore = 100u,
            requiresSignoff = false,
            maxSubmissionBytes = 1uL shl 20,
            assignedAt = 0L,
            editedAt = null,
            authored = false,
            remindedAt = null,
        ),
        work = listOf(StudentWork("s1", state, null, null, null, false, false)),
        summary = null,
    )

fun upload(id: Long, sent: ULong, total: ULong = 1000uL): UploadStatus =
    UploadStatus(
        id = id,
        state = if (sent == total) UploadState.DONE else UploadState.UPLOADING,
        sent = sent,
        total = total,
        serverId = null,
        fileName = "IMG_$id.jpg",
        purpose = UploadPurpose.SUBMISSION,
        kind = WorkKind.PHOTO,
        homeworkId = "hw",
        batch = null,
        attempts = 0u,
        error = null,
    )

class FakeTimetable(snapshot: TimetableSnapshot = timetableSnapshot()) : Timetable(NoHandle) {
    val source = FakeSource(snapshot)
    val reminders = FakeSource<LessonReminder?>(null)

    override fun subscribe(listener: TimetableListener): TaskHandle = source.subscribe(listener::onTimetable)

    override fun watchReminders(listener: ReminderListener): TaskHandle =
        reminders.subscribe { r -> if (r != null) listener.onReminder(r) }
}

fun lesson(id: String, startsAt: Long = 0L): Lesson =
    Lesson(
        id = id,
        seriesId = id,
        subject = "语文",
        title = "古诗两首",
        startsAt = startsAt,
        endsAt = startsAt + 2_400_000L,
        mode = LessonMode.INTERACTIVE,
        status = LessonStatus.SCHEDULED,
        leadTeacher = PersonRef(id = "t", name = "王丽"),
        classes = ArrayList(),
        movedFrom = null,
        cancelledAt = null,
        cancelReason = "",
        updatedAt = 0L,
    )

fun timetableSnapshot(next: Lesson? = null, serverTime: Long = 0L): TimetableSnapshot =
    TimetableSnapshot(today = ArrayList(), now = null, next = next, changes = ArrayList(), serverTime = serverTime)
