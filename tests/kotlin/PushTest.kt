// Push on the phone from Kotlin against the real server: the install registers its push token
// (the server's `log` provider) for p_li, a notice from the lead teacher is pushed, the
// phone's push handler leads to it, and the badge Flow counts it and drops on reading.
package org.lianxiao.core.tests

import java.nio.file.Files
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Before
import org.junit.Test
import org.lianxiao.core.Accounts
import org.lianxiao.core.ClientConfig
import org.lianxiao.core.DevicePlatform
import org.lianxiao.core.LianxiaoException
import org.lianxiao.core.NoticeAudience
import org.lianxiao.core.NoticeFilter
import org.lianxiao.core.PostNotice
import org.lianxiao.core.PushKind
import org.lianxiao.core.PushProvider
import org.lianxiao.core.RegisterDevice
import org.lianxiao.core.RegistrationState
import org.lianxiao.core.ktx.EVENT_TIMEOUT_MS
import org.lianxiao.core.ktx.badgeFlow
import org.lianxiao.core.ktx.pushData

private const val PUSH_PASSWORD = "lianxiao-demo"

class PushTest {
    private lateinit var server: ServerProcess
    private val phones = mutableListOf<Accounts>()

    @Before fun setUp() {
        server = ServerProcess()
    }

    @After fun tearDown() {
        phones.forEach { it.close() }
        server.stop()
    }

    private fun phone(): Accounts {
        val dir = Files.createTempDirectory("lianxiao-kt-push-").toString()
        return Accounts(ClientConfig(server.url, dir, MemoryStorage())).also { phones += it }
    }

    @Test fun aPushedNoticeLeadsToItsScreenAndCountsInTheBadge() = runBlocking<Unit> {
        val family = phone()
        val parent = family.signIn("p_li", PUSH_PASSWORD).also { it.start() }
        val devices = family.devices()
        devices.setPushToken(RegisterDevice(DevicePlatform.ANDROID, PushProvider.LOG, "kt-log-1", "1.0.0", "zh-CN"))
        withTimeout(EVENT_TIMEOUT_MS) {
            while (devices.registrations().any { it.state != RegistrationState.REGISTERED }) delay(100)
        }
        assertEquals(listOf(parent.userId()), devices.registrations().map { it.userId })
        assertEquals(0u, parent.notifications().badgeFlow().first())

        val teacher = phone().signIn("t_wang", PUSH_PASSWORD).also { it.syncNow() }
        val classes = teacher.classes().map { it.id }
        teacher.notices().post(PostNotice(title = "运动会", body = "周五", audience = NoticeAudience.Classes(classes)))
        teacher.start()
        val noticeId = withTimeout(EVENT_TIMEOUT_MS) {
            var id: String? = null
            while (id == null) {
                id = teacher.notices().list(NoticeFilter(null, false)).firstOrNull { !it.notice.id.startsWith("local-") }?.notice?.id
                if (id == null) delay(100)
            }
            id
        }

        val data = pushData(mapOf("kind" to "notice", "id" to noticeId, "account_id" to parent.userId(), "badge" to 1, "aps" to null))
        val target = devices.pushOpened(data)
        assertEquals(PushKind.NOTICE, target.kind)
        assertEquals(noticeId, target.id)
        assertTrue(target.inStore)
        assertEquals(1u, withTimeout(EVENT_TIMEOUT_MS) { parent.notifications().badgeFlow().first { it == 1u } })

        parent.notices().markRead(noticeId)
        assertEquals(0u, withTimeout(EVENT_TIMEOUT_MS) { parent.notifications().badgeFlow().first { it == 0u } })

        try {
            devices.pushReceived(mapOf("kind" to "notice"))
            fail("a push without its account was accepted")
        } catch (e: LianxiaoException.Validation) {
            assertEquals("data", e.field)
        }
    }
}
