package org.lianxiao.core.ktx

import java.util.concurrent.CopyOnWriteArrayList
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Test
import org.lianxiao.core.Client
import org.lianxiao.core.NoHandle
import org.lianxiao.core.TaskFailure
import org.lianxiao.core.TaskFailureListener
import org.lianxiao.core.TaskHandle

/** Like the core: the list so far from another thread at once, then the list after [fail]. */
private class FailingClient : Client(NoHandle) {
    val failures = CopyOnWriteArrayList<TaskFailure>()
    val handles = CopyOnWriteArrayList<FakeTaskHandle>()
    private val listeners = CopyOnWriteArrayList<TaskFailureListener>()

    override fun taskFailures(): List<TaskFailure> = failures.toList()

    override fun subscribeTaskFailures(listener: TaskFailureListener): TaskHandle {
        val handle = FakeTaskHandle()
        handles += handle
        listeners += listener
        val now = failures.toList()
        Thread { listener.onTaskFailures(now) }.apply { start(); join() }
        return handle
    }

    fun fail(task: String) {
        failures += TaskFailure(task, "boom", true, 0L)
        val now = failures.toList()
        for (listener in listeners) Thread { listener.onTaskFailures(now) }.apply { start(); join() }
    }
}

class TaskFailureFlowTest {
    @Test
    fun emitsTheFailuresSoFarThenEachNewList() = runBlocking<Unit> {
        val client = FailingClient()
        client.failures += TaskFailure("sync", "boom", true, 0L)
        val lists = Collecting(this, client.taskFailuresFlow().take(2))
        assertEquals(listOf("sync"), lists.next().map { it.task })
        client.fail("outbox")
        assertEquals(listOf("sync", "outbox"), lists.next().map { it.task })
        lists.finish()
        assertEquals(1, client.handles.single().cancels.get())
    }
}
