// Notification settings from Kotlin against the real server: p_zhao turns "homework graded"
// off for one child on one phone (shown at once, settled by the server), and the account's
// second phone sees it through the ktx Flow after sync; a child not hers is refused with the
// field named; the lead teacher lists the parents nothing has reached.
package org.lianxiao.core.tests

import java.nio.file.Files
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Before
import org.junit.Test
import org.lianxiao.core.Accounts
import org.lianxiao.core.Client
import org.lianxiao.core.ClientConfig
import org.lianxiao.core.LianxiaoException
import org.lianxiao.core.NotificationKinds
import org.lianxiao.core.ktx.EVENT_TIMEOUT_MS
import org.lianxiao.core.ktx.flow
import org.lianxiao.core.ktx.kindsOf

private const val SETTINGS_PASSWORD = "lianxiao-demo"

class NotificationSettingsTest {
    private lateinit var server: ServerProcess
    private val phones = mutableListOf<Accounts>()

    @Before fun setUp() {
        server = ServerProcess()
    }

    @After fun tearDown() {
        phones.forEach { it.close() }
        server.stop()
    }

    /** A new phone signed in as [login], synced, its background work running. */
    private suspend fun phone(login: String): Client {
        val dir = Files.createTempDirectory("lianxiao-kt-settings-").toString()
        val accounts = Accounts(ClientConfig(server.url, dir, MemoryStorage()))
        phones += accounts
        return accounts.signIn(login, SETTINGS_PASSWORD).also { it.syncNow(); it.start() }
    }

    @Test fun aParentsChangeReachesHerOtherPhone() = runBlocking<Unit> {
        val first = phone("p_zhao")
        val second = phone("p_zhao")
        val child = first.children().first { it.name == "赵雨轩" }
        val other = first.children().first { it.id != child.id }
        val off = NotificationKinds(notices = true, homeworkGraded = false, homeworkMissing = true, lessonStarting = true)

        val shown = first.notificationSettings().setKinds(child.id, off)
        assertFalse(shown.kindsOf(child.id)!!.homeworkGraded)
        assertTrue(shown.kindsOf(other.id)!!.homeworkGraded)
        val settled = withTimeout(EVENT_TIMEOUT_MS) { first.notificationSettings().flow().first { !it.pending } }
        assertEquals(0uL, first.outboxPending())
        assertTrue(settled.settings.updatedAt > 0)

        second.syncNow()
        val seen = withTimeout(EVENT_TIMEOUT_MS) {
            second.notificationSettings().flow().first { it.settings.updatedAt == settled.settings.updatedAt }
        }
        assertFalse(seen.kindsOf(child.id)!!.homeworkGraded)
        assertEquals(settled.settings, seen.settings)

        val stranger = phone("s_li01").profile()!!.id
        try {
            first.notificationSettings().setKinds(stranger, off)
            fail("a child not hers was accepted")
        } catch (e: LianxiaoException.Validation) {
            assertEquals("children", e.field)
        }
    }

    @Test fun theLeadTeacherSeesWhoNothingReaches() = runBlocking<Unit> {
        val classId = phone("s_li01").classes().first().id
        phone("p_zhao")
        val parents = phone("t_wang").notificationSettings().unreachableParents(classId)
        assertEquals(listOf("李建国"), parents.map { it.parent.name })
        assertEquals(null, parents.first().lastSeenAt)
    }
}
