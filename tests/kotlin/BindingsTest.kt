// Smoke tests of the Kotlin bindings on the JVM against a real lianxiao-server process.
// The Rust tests cover behaviour; these prove the surface works from Kotlin: suspend calls,
// listeners, closing handles, a SecureStorage written in Kotlin, typed exceptions.
package org.lianxiao.core.tests

import java.io.File
import java.nio.file.Files
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Before
import org.junit.Test
import org.lianxiao.core.Accounts
import org.lianxiao.core.Client
import org.lianxiao.core.ClientConfig
import org.lianxiao.core.DeliveryState
import org.lianxiao.core.LianxiaoException
import org.lianxiao.core.NoticeAudience
import org.lianxiao.core.NoticeFilter
import org.lianxiao.core.NoticeListener
import org.lianxiao.core.NoticeView
import org.lianxiao.core.PostNotice
import org.lianxiao.core.SecureStorage

private const val PASSWORD = "lianxiao-demo"

/** The real server binary in a fresh data directory; restartable on the same port. */
class ServerProcess {
    private val binary = System.getenv("LIANXIAO_SERVER_BIN") ?: error("LIANXIAO_SERVER_BIN is not set")
    private val dataDir: File = Files.createTempDirectory("lianxiao-kt-").toFile()
    private var process: Process? = null
    var url: String = ""
        private set

    init {
        val roster = System.getenv("LIANXIAO_ROSTER_CSV") ?: error("LIANXIAO_ROSTER_CSV is not set")
        val import = ProcessBuilder(binary, "import-roster", "--data-dir", dataDir.path, roster)
            .redirectErrorStream(true).start()
        check(import.waitFor() == 0) { "roster import failed: " + import.inputStream.bufferedReader().readText() }
        start("127.0.0.1:0")
    }

    private fun start(listen: String) {
        val p = ProcessBuilder(binary, "serve", "--data-dir", dataDir.path, "--listen", listen)
            .redirectError(ProcessBuilder.Redirect.DISCARD).start()
        val line = p.inputStream.bufferedReader().readLine() ?: error("the server printed nothing")
        url = line.trim().substringAfterLast(' ')
        process = p
    }

    fun stop() {
        process?.destroyForcibly()?.waitFor()
        process = null
    }

    fun restart() {
        stop()
        start(url.removePrefix("http://"))
    }
}

/** The app's secure storage, in Kotlin: the core must keep its tokens here. */
class MemoryStorage : SecureStorage {
    val values = java.util.concurrent.ConcurrentHashMap<String, String>()
    override fun get(key: String): String? = values[key]
    override fun set(key: String, value: String) { values[key] = value }
    override fun delete(key: String) { values.remove(key) }
}

class Collector : NoticeListener {
    val lists = LinkedBlockingQueue<List<NoticeView>>()
    override fun onNotices(notices: List<NoticeView>) { lists.put(notices) }
    fun next(seconds: Long = 20): List<NoticeView> =
        lists.poll(seconds, TimeUnit.SECONDS) ?: error("no callback within $seconds s")
}

class BindingsTest {
    private lateinit var server: ServerProcess
    private val storage = MemoryStorage()
    private lateinit var accounts: Accounts

    @Before fun setUp() {
        server = ServerProcess()
        accounts = Accounts(ClientConfig(server.url, Files.createTempDirectory("lianxiao-kt-phone-").toString(), storage))
    }

    @After fun tearDown() {
        accounts.close()
        server.stop()
    }

    private suspend fun until(what: String, check: suspend () -> Boolean) {
        repeat(400) {
            if (check()) return
            delay(50)
        }
        fail("timed out waiting for $what")
    }

    private suspend fun postToMyClasses(teacher: Client, title: String, ack: Boolean): String {
        teacher.syncNow()
        val classes = teacher.classes().map { it.id }
        teacher.notices().post(PostNotice(title, "$title：请家长知悉。", NoticeAudience.Classes(classes), false, ack, null))
        teacher.start()
        until("the post to be delivered") { teacher.outboxPending() == 0uL }
        return teacher.notices().list(NoticeFilter(null, false)).first { it.notice.title == title }.notice.id
    }

    @Test fun signInKeepsTokensInTheAppsStorageAndListsNotices() = runBlocking<Unit> {
        val teacher = accounts.signIn("t_wang", PASSWORD)
        assertTrue("tokens in the Kotlin storage", storage.values.keys.any { it.startsWith("lianxiao.tokens.") })
        val id = postToMyClasses(teacher, "家长会", ack = true)
        val parent = accounts.signIn("p_li", PASSWORD)
        parent.syncNow()
        val list = parent.notices().list(NoticeFilter(null, true))
        assertEquals(listOf(id), list.map { it.notice.id })
        assertTrue(list[0].unread)
        assertEquals(1, list[0].notice.receipt!!.children.size)
    }

    @Test fun anAcknowledgmentMadeWhileTheServerIsDownIsDeliveredWhenItReturns() = runBlocking<Unit> {
        val teacher = accounts.signIn("t_wang", PASSWORD)
        val id = postToMyClasses(teacher, "回执", ack = true)
        teacher.stop()
        val parent = accounts.signIn("p_li", PASSWORD)
        parent.syncNow()
        parent.start()
        server.stop()
        val view = parent.notices().acknowledge(id)
        assertEquals(DeliveryState.PENDING, view.acknowledged)
        assertEquals(1uL, parent.outboxPending())
        server.restart()
        parent.networkChanged(true)
        until("the acknowledgment to be delivered") {
            parent.notices().get(id).acknowledged == DeliveryState.DELIVERED
        }
        assertEquals(1u, teacher.notices().receipts(id).summary.acknowledged)
    }

    @Test fun aListenerGetsTheCurrentListThenChangesAndNothingAfterClose() = runBlocking<Unit> {
        val teacher = accounts.signIn("t_wang", PASSWORD)
        val parent = accounts.signIn("p_li", PASSWORD)
        parent.start()
        val collector = Collector()
        val handle = parent.notices().subscribe(NoticeFilter(null, false), collector)
        assertEquals("the current list comes first", 0, collector.next().size)
        val id = postToMyClasses(teacher, "明天带雨伞", ack = false)
        var latest = collector.next()
        while (latest.none { it.notice.id == id }) latest = collector.next()
        handle.close()
        collector.lists.clear()
        postToMyClasses(teacher, "关闭之后", ack = false)
        parent.syncNow()
        assertNull("no callbacks after close", collector.lists.poll(1500, TimeUnit.MILLISECONDS))
    }

    @Test fun accountsSwitchOnASharedPhone() = runBlocking<Unit> {
        val mother = accounts.signIn("p_zhao", PASSWORD)
        val child = accounts.signIn("s_zhao01", PASSWORD)
        assertEquals(setOf("p_zhao", "s_zhao01"), accounts.list().map { it.login }.toSet())
        assertEquals(child.userId(), accounts.active()!!.userId())
        accounts.switchTo(mother.userId())
        assertEquals(mother.userId(), accounts.active()!!.userId())
        mother.syncNow()
        assertEquals(2, mother.children().size)
    }

    @Test fun failuresArriveAsTypedExceptions() = runBlocking<Unit> {
        try {
            accounts.signIn("p_li", "not-the-password")
            fail("signed in with a wrong password")
        } catch (e: LianxiaoException.Unauthorized) {
            assertTrue(e.detail.isNotEmpty())
        }
        val parent = accounts.signIn("p_li", PASSWORD)
        try {
            parent.notices().get("no-such-notice")
            fail("found a notice that does not exist")
        } catch (e: LianxiaoException.NotFound) {
        }
        try {
            parent.notices().post(PostNotice("t", "b", NoticeAudience.Classes(emptyList()), false, false, null))
            fail("posted to no class")
        } catch (e: LianxiaoException.Validation) {
            assertEquals("audience.class_ids", e.field)
        }
        server.stop()
        try {
            parent.notices().receipts("anything")
            fail("reached a stopped server")
        } catch (e: LianxiaoException.Offline) {
        }
    }
}
