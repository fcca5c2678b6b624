// Screen state for the sample: which account is open and the calls the buttons make. Every
// decision (what is unread, what is pending, retries) is the core's; this only forwards.
package org.lianxiao.sample

import android.app.Application
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.viewModelScope
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.launch
import org.lianxiao.core.AccountInfo
import org.lianxiao.core.Client
import org.lianxiao.core.ClientState
import org.lianxiao.core.LianxiaoException
import org.lianxiao.core.NoticeView
import org.lianxiao.core.Notices
import org.lianxiao.core.android.ConnectivityReachability
import org.lianxiao.core.ktx.UNREAD_FIRST
import org.lianxiao.core.ktx.code
import org.lianxiao.core.ktx.flow
import org.lianxiao.core.ktx.stateFlow

/** The open account: its client, notices and network watch, closed together. */
class Session(val client: Client, reachability: ConnectivityReachability) : AutoCloseable {
    val userId: String = client.userId()
    val notices: Notices = client.notices()
    val state: Flow<ClientState> = client.stateFlow()
    val list: Flow<List<NoticeView>> = notices.flow(UNREAD_FIRST)
    private val watch = reachability.watch(client)

    init {
        client.start()
    }

    override fun close() {
        watch.close()
        client.stop()
        notices.close()
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

    init {
        launchCall { open(accounts.active()) }
    }

    fun signIn(login: String, password: String) = launchCall { open(accounts.signIn(login, password)) }

    fun switchTo(userId: String) = launchCall { open(accounts.switchTo(userId)) }

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

    private suspend fun open(client: Client?) {
        _session.value?.close()
        _session.value = client?.let { Session(it, reachability) }
        _accountList.value = accounts.list()
    }

    // viewModelScope runs on the main thread; the core's suspend calls do their work on its
    // own threads, so nothing here blocks the UI.
    private fun launchCall(block: suspend () -> Unit) {
        viewModelScope.launch {
            _busy.value = true
            try {
                block()
            } catch (e: LianxiaoException) {
                _error.value = e.code
            } finally {
                _busy.value = false
            }
        }
    }

    override fun onCleared() {
        _session.value?.close()
    }
}
