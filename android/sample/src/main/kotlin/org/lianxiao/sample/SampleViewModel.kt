// Screen state for the sample: which account is open and the calls the buttons make. Every
// decision (what is unread, what is pending, retries) is the core's; this only forwards.
package org.lianxiao.sample

import android.app.Application
import android.media.MediaPlayer
import android.net.Uri
import android.webkit.MimeTypeMap
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.viewModelScope
import java.io.File
import java.util.UUID
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import org.lianxiao.core.AccountInfo
import org.lianxiao.core.Child
import org.lianxiao.core.Client
import org.lianxiao.core.ClientState
import org.lianxiao.core.DraftFile
import org.lianxiao.core.HomeworkHandle
import org.lianxiao.core.HomeworkReport
import org.lianxiao.core.HomeworkView
import org.lianxiao.core.LianxiaoException
import org.lianxiao.core.NoticeView
import org.lianxiao.core.Notices
import org.lianxiao.core.Notifications
import org.lianxiao.core.PushTarget
import org.lianxiao.core.Submission
import org.lianxiao.core.WorkKind
import org.lianxiao.core.android.ConnectivityReachability
import org.lianxiao.sample.push.Push
import org.lianxiao.core.ktx.UNREAD_FIRST
import org.lianxiao.core.ktx.badgeFlow
import org.lianxiao.core.ktx.code
import org.lianxiao.core.ktx.flow
import org.lianxiao.core.ktx.stateFlow

/** The open account: its client, notices, homework and network watch, closed together. */
class Session(val client: Client, reachability: ConnectivityReachability) : AutoCloseable {
    val userId: String = client.userId()
    val notices: Notices = client.notices()
    val homework: HomeworkHandle = client.homework()
    val state: Flow<ClientState> = client.stateFlow()
    val list: Flow<List<NoticeView>> = notices.flow(UNREAD_FIRST)
    val homeworkList: Flow<List<HomeworkView>> = homework.flow()
    private val notifications: Notifications = client.notifications()
    /** Unread notices of this account: the top bar's badge. */
    val badge: Flow<UInt> = notifications.badgeFlow()
    private val watch = reachability.watch(client)

    init {
        client.start()
    }

    override fun close() {
        watch.close()
        client.stop()
        notices.close()
        homework.close()
        notifications.close()
        client.close()
    }
}

class SampleViewModel(app: Application) : AndroidViewModel(app) {
    private val accounts = (app as SampleApplication).accounts
    private val reachability = ConnectivityReachability(app)

    private val _session = MutableStateFlow<Session?>(null)
    val session: StateFlow<Session?> = _session.asStateFlow()

    private val _accountList = MutableStateFlow<List<AccountInfo>>(emptyList())
    val accountList: StateFlow<List<AccountInfo>> = _accountList.asStateFlow()

    /** The last error's stable code, for a message; null when there is none to show. */
    private val _error = MutableStateFlow<String?>(null)
    val error: StateFlow<String?> = _error.asStateFlow()

    private val _busy = MutableStateFlow(false)
    val busy: StateFlow<Boolean> = _busy.asStateFlow()

    /** A short message for the user (e.g. how many were reminded); null when none. */
    private val _info = MutableStateFlow<String?>(null)
    val info: StateFlow<String?> = _info.asStateFlow()

    /** A parent's children, for their names on the homework screen. */
    private val _children = MutableStateFlow<List<Child>>(emptyList())
    val children: StateFlow<List<Child>> = _children.asStateFlow()

    /** The report a teacher opened, with the submissions fetched for grading. */
    private val _report = MutableStateFlow<TeacherReport?>(null)
    val report: StateFlow<TeacherReport?> = _report.asStateFlow()

    private var player: MediaPlayer? = null

    init {
        launchCall { open(accounts.active()) }
    }

    fun signIn(login: String, password: String) = launchCall { open(accounts.signIn(login, password)) }

    fun switchTo(userId: String) = launchCall { open(accounts.switchTo(userId)) }

    /** The notice (homework, lesson) a tapped push leads to; the screen scrolls to it. */
    private val _pushTarget = MutableStateFlow<PushTarget?>(null)
    val pushTarget: StateFlow<PushTarget?> = _pushTarget.asStateFlow()

    /** A push was tapped: the core syncs its account and says where to go; the push's
     *  account becomes the open one if another was. */
    fun openFromPush(data: Map<String, String>) = launchCall {
        val target = Push.opened(getApplication(), data) ?: return@launchCall
        if (_session.value?.userId != target.accountId) open(accounts.switchTo(target.accountId))
        _pushTarget.value = target
    }

    fun pushTargetShown() {
        _pushTarget.value = null
    }

    fun signOut() = launchCall {
        val current = _session.value ?: return@launchCall
        open(null)
        accounts.signOut(current.userId)
        open(accounts.active())
    }

    fun markRead(id: String) = launchCall { _session.value?.notices?.markRead(id) }

    fun acknowledge(id: String) = launchCall { _session.value?.notices?.acknowledge(id) }

    fun dismissError() {
        _error.value = null
    }

    fun dismissInfo() {
        _info.value = null
    }

    // --- homework: students -------------------------------------------------------------------

    /** Saves the draft's text as it is typed (the screen debounces); no spinner. */
    fun saveDraftText(homeworkId: String, text: String) =
        launchCall(quiet = true) { _session.value?.homework?.setDraftText(homeworkId, text) }

    /** Adds a photo from the picker: copied to a file, handed to the core (which keeps its own copy). */
    fun addPhoto(homeworkId: String, uri: Uri) = launchCall {
        val homework = _session.value?.homework ?: return@launchCall
        val file = copyToCache(uri) ?: return@launchCall
        try {
            homework.addDraftFile(homeworkId, file.path, WorkKind.PHOTO)
        } finally {
            file.delete()
        }
    }

    fun removeFile(homeworkId: String, fileId: Long) =
        launchCall { _session.value?.homework?.removeDraftFile(homeworkId, fileId) }

    /** Moves a draft file one place up (-1) or down (+1). */
    fun moveFile(homeworkId: String, files: List<DraftFile>, index: Int, by: Int) = launchCall {
        val target = index + by
        if (target !in files.indices) return@launchCall
        val ids = files.map { it.id }.toMutableList()
        ids.add(target, ids.removeAt(index))
        _session.value?.homework?.reorderDraftFiles(homeworkId, ids)
    }

    fun discardDraft(homeworkId: String) = launchCall { _session.value?.homework?.discardDraft(homeworkId) }

    /** Saves the latest text, then hands in; the list then shows it on its way. */
    fun handIn(homeworkId: String, text: String) = launchCall {
        val homework = _session.value?.homework ?: return@launchCall
        homework.setDraftText(homeworkId, text)
        homework.handIn(homeworkId)
    }

    // --- homework: teachers -------------------------------------------------------------------

    fun openReport(homeworkId: String) = launchCall {
        val homework = _session.value?.homework ?: return@launchCall
        val report = homework.report(homeworkId)
        val submissions = homework.fetchSubmissions(homeworkId, null)
        _report.value = TeacherReport(homeworkId, report, submissions.associateBy { it.id })
    }

    fun closeReport() {
        _report.value = null
    }

    fun grade(submissionId: String, score: UInt, feedback: String, voice: Uri?) = launchCall {
        val homework = _session.value?.homework ?: return@launchCall
        withVoice(voice) { path -> homework.grade(submissionId, score, feedback, path) }
    }

    fun returnWork(submissionId: String, reason: String, voice: Uri?) = launchCall {
        val homework = _session.value?.homework ?: return@launchCall
        withVoice(voice) { path -> homework.returnWork(submissionId, reason, path) }
    }

    fun remind(homeworkId: String) = launchCall {
        val result = _session.value?.homework?.remind(homeworkId) ?: return@launchCall
        _info.value = "已提醒 ${result.reminded} 人。"
    }

    // --- homework: parents and everyone --------------------------------------------------------

    fun signOff(submissionId: String) = launchCall { _session.value?.homework?.signOff(submissionId, "") }

    /** Downloads an attachment once (later from the phone) and returns its path, or null. */
    suspend fun attachmentPath(attachmentId: String): String? =
        try {
            _session.value?.homework?.openAttachment(attachmentId)
        } catch (e: LianxiaoException) {
            null
        }

    /** Plays voice feedback from its local copy. */
    fun play(attachmentId: String) = launchCall {
        val path = _session.value?.homework?.openAttachment(attachmentId) ?: return@launchCall
        player?.release()
        player = MediaPlayer().apply {
            setDataSource(path)
            setOnCompletionListener { it.release(); if (player === it) player = null }
            prepare()
            start()
        }
    }

    /** Copies a picked file (a content URI) into the cache; the core copies it again and we delete ours. */
    private suspend fun copyToCache(uri: Uri): File? = withContext(Dispatchers.IO) {
        val app = getApplication<Application>()
        val ext = app.contentResolver.getType(uri)?.let { MimeTypeMap.getSingleton().getExtensionFromMimeType(it) }
        val file = File(app.cacheDir, "picked-${UUID.randomUUID()}" + (ext?.let { ".$it" } ?: ""))
        app.contentResolver.openInputStream(uri)?.use { input -> file.outputStream().use { input.copyTo(it) } }
            ?: return@withContext null
        file
    }

    private suspend fun withVoice(voice: Uri?, call: suspend (String?) -> Unit) {
        val file = voice?.let { copyToCache(it) }
        try {
            call(file?.path)
        } finally {
            file?.delete()
        }
    }

    private suspend fun open(client: Client?) {
        _report.value = null
        _session.value?.close()
        _session.value = client?.let { Session(it, reachability) }
        _accountList.value = accounts.list()
        _children.value = client?.children() ?: emptyList()
    }

    // viewModelScope runs on the main thread; the core's suspend calls do their work on its
    // own threads, so nothing here blocks the UI.
    private fun launchCall(quiet: Boolean = false, block: suspend () -> Unit) {
        viewModelScope.launch {
            if (!quiet) _busy.value = true
            try {
                block()
            } catch (e: LianxiaoException) {
                _error.value = e.code
            } finally {
                if (!quiet) _busy.value = false
            }
        }
    }

    override fun onCleared() {
        player?.release()
        _session.value?.close()
    }
}

/** A homework's report per class and its submissions by id, as a teacher opened them. */
data class TeacherReport(
    val homeworkId: String,
    val report: HomeworkReport,
    val submissions: Map<String, Submission>,
)
