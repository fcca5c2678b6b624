// Stand-ins for core objects, for testing the ktx adapters without a server. They subclass
// the generated classes through their fake-object constructor and override only the calls
// under test, so new methods in the bindings do not break them.
package org.lianxiao.core.ktx

import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import org.lianxiao.core.Client
import org.lianxiao.core.ClientState
import org.lianxiao.core.NoHandle
import org.lianxiao.core.NoticeFilter
import org.lianxiao.core.NoticeListener
import org.lianxiao.core.NoticeView
import org.lianxiao.core.Notices
import org.lianxiao.core.SecureStorage
import org.lianxiao.core.StateListener
import org.lianxiao.core.TaskHandle

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

    fun awaitSubscribed() = check(subscribed.await(5, TimeUnit.SECONDS)) { "never subscribed" }
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
