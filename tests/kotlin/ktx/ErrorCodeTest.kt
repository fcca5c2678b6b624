package org.lianxiao.core.ktx

import java.io.File
import java.net.ServerSocket
import java.nio.file.Files
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import org.lianxiao.core.Accounts
import org.lianxiao.core.ClientConfig
import org.lianxiao.core.LianxiaoException

/**
 * Error codes, checked against the real core: a phone with no server to reach gets
 * "offline", which the UI shows as "no network" rather than an error.
 */
class ErrorCodeTest {
    private val dataDir: File = Files.createTempDirectory("lianxiao-ktx").toFile()

    @After
    fun cleanUp() {
        dataDir.deleteRecursively()
    }

    /** A local port with nothing listening. */
    private fun closedPortUrl(): String {
        val port = ServerSocket(0).use { it.localPort }
        return "http://127.0.0.1:$port"
    }

    private fun accounts() = Accounts(ClientConfig(closedPortUrl(), dataDir.absolutePath, MemorySecureStorage()))

    @Test
    fun signingInWithoutAServerIsOffline() = runBlocking<Unit> {
        accounts().use { accounts ->
            try {
                accounts.signIn("parent01", "not-checked")
                fail("signed in without a server")
            } catch (e: LianxiaoException) {
                assertTrue("got ${e.javaClass.simpleName}", e is LianxiaoException.Offline)
                assertEquals("offline", e.code)
            }
        }
    }

    @Test
    fun catchingLianxiaoReturnsTheTypedError() = runBlocking<Unit> {
        accounts().use { accounts ->
            val result = catchingLianxiao { accounts.signIn("parent01", "not-checked") }
            assertEquals("offline", (result.exceptionOrNull() as LianxiaoException).code)
        }
    }

    @Test
    fun eachErrorClassHasTheCoresCode() {
        val base = LianxiaoException::class.java
        val codes = base.declaredClasses
            .filter { base.isAssignableFrom(it) && it != base }
            .associate { it.simpleName to instance(it).code }
        assertTrue("found ${codes.keys}", codes.size >= 10)
        for ((name, code) in codes) {
            assertTrue("$name -> $code", code.matches(Regex("[a-z]+(_[a-z]+)*")))
        }
        assertEquals("offline", codes["Offline"])
        assertEquals("unauthorized", codes["Unauthorized"])
        assertEquals("not_found", codes["NotFound"])
        assertEquals("validation", codes["Validation"])
        assertEquals("rate_limited", codes["RateLimited"])
        assertEquals("internal", codes["Internal"])
    }

    /** One exception of [type], built through its constructor with blank fields. */
    private fun instance(type: Class<*>): LianxiaoException {
        val constructor = type.constructors.first()
        val args: List<Any?> = constructor.parameterTypes.map { p ->
            when (p) {
                String::class.java -> ""
                java.lang.Boolean.TYPE -> false
                java.lang.Long.TYPE -> 0L
                java.lang.Integer.TYPE -> 0
                else -> null
            }
        }
        return constructor.newInstance(*args.toTypedArray()) as LianxiaoException
    }

    @Test
    fun aNewDeviceHasNoAccounts() = runBlocking<Unit> {
        accounts().use { accounts ->
            assertEquals(emptyList<Any>(), accounts.list())
            assertNull(accounts.active())
        }
    }
}
