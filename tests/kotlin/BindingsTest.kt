// Smoke tests of the Kotlin bindings on the JVM against a real lianxiao-server process.
// The Rust tests cover behaviour; these prove the surface works from Kotlin: suspend calls,
// listeners, closing handles, a SecureStorage written in Kotlin, typed exceptions.
package org.lianxiao.core.tests

import java.io.File
import java.nio.file.Files
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import javax.imageio.ImageIO
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
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
import org.lianxiao.core.EditHomework
import org.lianxiao.core.HandinState
import org.lianxiao.core.HomeworkHandle
import org.lianxiao.core.HomeworkView
import org.lianxiao.core.LianxiaoException
import org.lianxiao.core.NewHomework
import org.lianxiao.core.NoticeAudience
import org.lianxiao.core.NoticeFilter
import org.lianxiao.core.NoticeListener
import org.lianxiao.core.NoticeView
import org.lianxiao.core.PostNotice
import org.lianxiao.core.SecureStorage
import org.lianxiao.core.StudentReportLine
import org.lianxiao.core.ktx.EVENT_TIMEOUT_MS
import org.lianxiao.core.UploadPurpose
import org.lianxiao.core.UploadRequest
import org.lianxiao.core.UploadState
import org.lianxiao.core.WorkKind
import org.lianxiao.core.WorkState
import org.lianxiao.core.ktx.flow

private const val PASSWORD = "lianxiao-demo"
private const val DAY_MS = 86_400_000L

/**
 * Polls [check] until it is true, for at most [EVENT_TIMEOUT_MS] (generous: nothing is timed,
 * the bound turns a hang into a failure on a busy 2-core machine; 20 s was seen too short).
 */
suspend fun awaitTrue(what: String, check: suspend () -> Boolean) {
    val deadline = System.nanoTime() + EVENT_TIMEOUT_MS * 1_000_000
    while (!check()) {
        if (System.nanoTime() > deadline) fail("waited ${EVENT_TIMEOUT_MS / 1000} s for $what in vain")
        delay(50)
    }
}

/** A photo of a page as the picker hands it over: a PNG file at [file]'s path. */
private fun photo(file: File, width: Int = 2000, height: Int = 1500): String {
    val image = java.awt.image.BufferedImage(width, height, java.awt.image.BufferedImage.TYPE_INT_RGB)
    for (y in 0 until height step 8) for (x in 0 until width) image.setRGB(x, y, (x * 31 + y * 17) and 0xffffff)
    check(ImageIO.write(image, "png", file)) { "no PNG writer" }
    return file.path
}

private fun bytesFile(file: File, size: Int): String {
    file.writeBytes(ByteArray(size) { (it % 251).toByte() })
    return file.path
}

/**
 * What every test server starts with unless a test is about it (as tests/src/lib.rs does for the
 * Rust tests): pushes go out as they are queued, with no digest window holding a phone's next
 * pushes and no quiet hours holding them at night (the suite runs at any hour; 20:00 UTC is
 * 04:00 in China). A test about them passes its own values to [ServerProcess] and moves the
 * server's clock (LIANXIAO_TEST_CLOCK=1, PUT /v1/test/clock).
 */
val PUSH_ANY_HOUR = mapOf(
    "LIANXIAO_PUSH_QUIET_HOURS" to "none",
    "LIANXIAO_PUSH_DIGEST_WINDOW_SECS" to "0",
)

/** The real server binary in a fresh data directory; restartable on the same port. */
class ServerProcess(private val env: Map<String, String> = emptyMap()) {
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
        val builder = ProcessBuilder(binary, "serve", "--data-dir", dataDir.path, "--listen", listen)
            .redirectError(ProcessBuilder.Redirect.DISCARD)
        // A LiveKit address and key pair so interactive lessons mint tokens; no LiveKit server
        // runs here (joining needs none: the phone's media engine is a fake in the tests).
        builder.environment().putAll(
            mapOf(
                "LIANXIAO_LIVEKIT_URL" to "ws://127.0.0.1:7880",
                "LIVEKIT_API_KEY" to "APIlianxiaoKt",
                "LIVEKIT_API_SECRET" to "a-kotlin-test-secret-long-enough-for-hs256",
            ) + PUSH_ANY_HOUR + env,
        )
        val p = builder.start()
        val line = p.inputStream.bufferedReader().readLine() ?: error("the server printed nothing")
        url = line.trim().substringAfterLast(' ')
        process = p
    }

    /** The running server's process id. */
    fun pid(): Long = process!!.pid()

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
    fun next(seconds: Long = EVENT_TIMEOUT_MS / 1000): List<NoticeView> =
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

    private suspend fun until(what: String, check: suspend () -> Boolean) = awaitTrue(what, check)

    @Test fun theTestServerPushesAtAnyHour() {
        // A school that set no policy has the server's default: no quiet hours on a test server,
        // so a push queued at 04:00 China time goes out at once (PushTest waits for it).
        val http = java.net.http.HttpClient.newHttpClient()
        fun call(method: String, path: String, body: String?, token: String?): String {
            val request = java.net.http.HttpRequest.newBuilder(java.net.URI.create(server.url.trimEnd('/') + path))
                .header("Content-Type", "application/json")
                .method(
                    method,
                    body?.let { java.net.http.HttpRequest.BodyPublishers.ofString(it) }
                        ?: java.net.http.HttpRequest.BodyPublishers.noBody(),
                )
                .apply { if (token != null) header("Authorization", "Bearer $token") }
                .build()
            val answer = http.send(request, java.net.http.HttpResponse.BodyHandlers.ofString())
            assertEquals(answer.body(), 200, answer.statusCode())
            return answer.body()
        }
        fun field(json: String, name: String) =
            Regex(""""$name"\s*:\s*("([^"]*)"|-?\d+)""").find(json)!!.groupValues.let { it[2].ifEmpty { it[1] } }
        val signedIn = call("POST", "/v1/auth/login", """{"login":"sa_liu","password":"$PASSWORD"}""", null)
        val membership = Regex("""\{[^{}]*"role"\s*:\s*"school_admin"[^{}]*\}""").find(signedIn)!!.value
        val policy = call("GET", "/v1/schools/${field(membership, "school_id")}/push-policy", null, field(signedIn, "access_token"))
        assertEquals("no quiet hours: $policy", field(policy, "start_minute"), field(policy, "end_minute"))
        // No route shows the digest window: the process's own environment does (Linux).
        val environ = File("/proc/${server.pid()}/environ")
        if (environ.exists()) {
            val vars = environ.readText().split('\u0000')
            assertTrue("no digest window", "LIANXIAO_PUSH_DIGEST_WINDOW_SECS=0" in vars)
        }
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

    /** [homework]'s view once sync has brought it to this phone and [check] holds. */
    private suspend fun seen(client: Client, homework: HomeworkHandle, id: String, check: (HomeworkView) -> Boolean): HomeworkView {
        var view: HomeworkView? = null
        until("homework $id to be seen") {
            client.syncNow()
            view = try { homework.get(id) } catch (e: LianxiaoException.NotFound) { null }
            view?.let(check) == true
        }
        return view!!
    }

    @Test fun homeworkGoesFromTeacherToStudentToParent() = runBlocking<Unit> {
        val files = Files.createTempDirectory("lianxiao-kt-files-").toFile()
        val teacher = accounts.signIn("t_wang", PASSWORD)
        teacher.syncNow()
        teacher.start()
        val th = teacher.homework()
        val hw = th.assign(
            NewHomework(
                title = "看图写话",
                instructions = "拍下作业纸，再写两句话。",
                classIds = teacher.classes().map { it.id },
                dueAt = teacher.serverNow() + DAY_MS,
                acceptedKinds = listOf(WorkKind.TEXT, WorkKind.PHOTO),
                maxScore = 100u,
                requiresSignoff = true,
            ),
        )
        assertEquals(2, hw.classes.size)

        // A worksheet sent through the upload queue on its own, then attached by an edit.
        val uploads = teacher.uploads()
        val upload = uploads.enqueue(
            UploadRequest(
                path = bytesFile(File(files, "worksheet.pdf"), 30_000),
                purpose = UploadPurpose.INSTRUCTIONS,
                kind = WorkKind.FILE,
                fileName = "worksheet.pdf",
                contentType = "application/pdf",
            ),
        )
        val serverId = withTimeout(EVENT_TIMEOUT_MS) { uploads.wait(upload) }
        assertEquals(UploadState.DONE, uploads.status(upload)!!.state)
        assertEquals(30_000uL, uploads.status(upload)!!.sent)
        val edited = th.edit(hw.id, EditHomework(attachmentIds = listOf(serverId)))
        assertEquals(listOf("worksheet.pdf"), edited.attachments.map { it.fileName })

        // The student drafts: text, two photos from the picker, reordered, one removed.
        val student = accounts.signIn("s_li01", PASSWORD)
        student.start()
        val work = student.homework()
        val given = seen(student, work, hw.id) { it.homework.attachments.size == 1 }
        assertEquals(WorkState.NotStarted, given.work.single().state)
        work.setDraftText(hw.id, "图上有一只小猫。")
        work.addDraftFile(hw.id, photo(File(files, "IMG_0001.png")), WorkKind.PHOTO)
        var draft = work.addDraftFile(hw.id, photo(File(files, "IMG_0002.png")), WorkKind.PHOTO)
        val ids = draft.files.map { it.id }
        draft = work.reorderDraftFiles(hw.id, ids.reversed())
        assertEquals(ids.reversed(), draft.files.map { it.id })
        draft = work.removeDraftFile(hw.id, ids[0])
        assertEquals(listOf(ids[1]), draft.files.map { it.id })
        assertEquals("shrunk to a JPEG on the phone", "image/jpeg", draft.files[0].contentType)
        assertEquals(WorkState.Draft, work.get(hw.id).work.single().state)

        // Hand in, and follow it through the Flow over the core's listener until delivered.
        val handin = work.handIn(hw.id)
        assertTrue(handin.state != HandinState.FAILED)
        assertEquals("图上有一只小猫。", handin.text)
        val delivered = withTimeout(EVENT_TIMEOUT_MS) {
            work.flow(hw.id).first { it?.work?.single()?.state is WorkState.Delivered }
        }!!
        val state = delivered.work.single().state as WorkState.Delivered
        assertEquals(1u, state.attempt)
        assertTrue(!state.late)
        assertNull("the draft left the phone", work.draft(hw.id))
        assertTrue(student.uploads().list().any { it.homeworkId == hw.id && it.state == UploadState.DONE })

        // The teacher grades with a score, words and a voice file.
        val subs = th.fetchSubmissions(hw.id, null)
        assertEquals(1, subs.size)
        assertEquals(1, subs[0].attempts.single().attachments.size)
        th.grade(subs[0].id, 95u, "写得很好", bytesFile(File(files, "feedback.m4a"), 12_000))
        until("the grade to be delivered") { teacher.outboxPending() == 0uL }

        // The parent sees the grade, hears the feedback and signs off.
        val parent = accounts.signIn("p_li", PASSWORD)
        parent.start()
        val ph = parent.homework()
        val graded = seen(parent, ph, hw.id) { it.work.singleOrNull()?.state is WorkState.Graded }
        assertEquals(WorkState.Graded(95u, 100u), graded.work.single().state)
        assertTrue(graded.work.single().needsSignOff)
        val review = graded.work.single().submission!!.attempts.last().review!!
        assertEquals("写得很好", review.feedback)
        assertEquals(12_000L, File(ph.openAttachment(review.voice!!.id)).length())
        ph.signOff(graded.work.single().submission!!.id, "已检查")
        until("the sign-off to be delivered") { parent.outboxPending() == 0uL }

        val report = th.report(hw.id)
        assertEquals(1u, report.summary.classes.sumOf { it.signedOff })
        val lines: List<StudentReportLine> = report.classes.flatMap { it.students }
        assertEquals(95u, lines.single { it.submissionId != null }.score)
        assertTrue("others are reminded", th.remind(hw.id).reminded > 0u)
        try {
            th.delete(hw.id, false)
            fail("deleted handed-in work without confirming")
        } catch (e: LianxiaoException.Conflict) {
        }
        th.delete(hw.id, true)
    }
}
