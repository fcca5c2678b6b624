package org.lianxiao.sample

import android.content.Intent
import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.activity.viewModels
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.Button
import androidx.compose.material3.Card
import androidx.compose.material3.DropdownMenu
import androidx.compose.material3.DropdownMenuItem
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Tab
import androidx.compose.material3.TabRow
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.material3.TopAppBar
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableIntStateOf
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.text.font.FontWeight
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.text.input.PasswordVisualTransformation
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import org.lianxiao.core.AccountInfo
import org.lianxiao.core.ClientState
import org.lianxiao.core.DeliveryState
import org.lianxiao.core.NoticeView
import org.lianxiao.sample.push.Push

class MainActivity : ComponentActivity() {
    private val model: SampleViewModel by viewModels()

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContent { MaterialTheme { SampleScreen(model) } }
        // A recreated activity (rotation, process restored) or one reopened from the recent
        // apps screen gets the old intent again: that tap was already handled.
        val fromHistory = (intent.flags and Intent.FLAG_ACTIVITY_LAUNCHED_FROM_HISTORY) != 0
        if (savedInstanceState == null && !fromHistory) openPush(intent)
    }

    /** A tapped push while this activity runs (singleTop; the intent's CLEAR_TOP flag). */
    override fun onNewIntent(intent: Intent) {
        super.onNewIntent(intent)
        setIntent(intent)
        openPush(intent)
    }

    /** A tapped push reaches this activity from the notification itself, started by the
     *  system: FCM's notification puts the data in the launch intent's extras, and Getui's
     *  notifications (its own and the phone makers') open the server's intent
     *  `intent://open?#Intent;scheme=lianxiao;…;component=<package>/…MainActivity;S.kind=…;end`,
     *  whose `S.` extras are the same strings. No service starts an activity. */
    private fun openPush(intent: Intent?) {
        Push.dataOf(intent)?.let(model::openFromPush)
    }
}

@Composable
fun SampleScreen(model: SampleViewModel) {
    val session by model.session.collectAsStateWithLifecycle()
    val accounts by model.accountList.collectAsStateWithLifecycle()
    val error by model.error.collectAsStateWithLifecycle()
    val busy by model.busy.collectAsStateWithLifecycle()
    val info by model.info.collectAsStateWithLifecycle()
    var addingAccount by remember { mutableStateOf(false) }

    val current = session
    if (current == null || addingAccount) {
        SignInScreen(busy = busy, onCancel = if (current != null) ({ addingAccount = false }) else null) { login, password ->
            model.signIn(login, password)
            addingAccount = false
        }
    } else {
        SignedInScreen(
            model = model,
            session = current,
            accounts = accounts,
            onSwitch = model::switchTo,
            onAddAccount = { addingAccount = true },
            onSignOut = model::signOut,
        )
    }
    error?.let { code ->
        AlertDialog(
            onDismissRequest = model::dismissError,
            confirmButton = { TextButton(onClick = model::dismissError) { Text("OK") } },
            text = { Text(errorText(code)) },
        )
    }
    info?.let { message ->
        AlertDialog(
            onDismissRequest = model::dismissInfo,
            confirmButton = { TextButton(onClick = model::dismissInfo) { Text("好") } },
            text = { Text(message) },
        )
    }
}

/** Messages by stable code; the core's message text is for logs. */
fun errorText(code: String): String = when (code) {
    "offline" -> "没有网络连接，请稍后再试。"
    "unauthorized" -> "账号或密码不正确，或登录已过期。"
    "forbidden" -> "没有权限。"
    "rate_limited" -> "尝试次数过多，请稍后再试。"
    "validation" -> "内容不符合要求，请检查后再试。"
    "conflict" -> "操作与当前状态冲突（例如已过截止时间）。"
    else -> "出错了（$code）。"
}

@Composable
fun SignInScreen(busy: Boolean, onCancel: (() -> Unit)?, onSignIn: (String, String) -> Unit) {
    var login by remember { mutableStateOf("") }
    var password by remember { mutableStateOf("") }
    Column(
        Modifier.fillMaxSize().padding(24.dp),
        verticalArrangement = Arrangement.spacedBy(12.dp),
    ) {
        Text("联校 登录", style = MaterialTheme.typography.headlineMedium)
        OutlinedTextField(login, { login = it }, label = { Text("账号") }, singleLine = true, modifier = Modifier.fillMaxWidth())
        OutlinedTextField(
            password, { password = it },
            label = { Text("密码") },
            singleLine = true,
            visualTransformation = PasswordVisualTransformation(),
            keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Password),
            modifier = Modifier.fillMaxWidth(),
        )
        Button(onClick = { onSignIn(login.trim(), password) }, enabled = !busy && login.isNotBlank() && password.isNotEmpty()) {
            Text(if (busy) "登录中…" else "登录")
        }
        onCancel?.let { TextButton(onClick = it) { Text("取消") } }
    }
}

@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun SignedInScreen(
    model: SampleViewModel,
    session: Session,
    accounts: List<AccountInfo>,
    onSwitch: (String) -> Unit,
    onAddAccount: () -> Unit,
    onSignOut: () -> Unit,
) {
    val state by session.state.collectAsStateWithLifecycle(initialValue = ClientState.CONNECTING)
    var menuOpen by remember { mutableStateOf(false) }
    var tab by rememberSaveable { mutableIntStateOf(0) }
    val me = accounts.firstOrNull { it.userId == session.userId }
    val unread by session.badge.collectAsStateWithLifecycle(initialValue = 0u)
    val pushTarget by model.pushTarget.collectAsStateWithLifecycle()
    val notices by session.list.collectAsStateWithLifecycle(initialValue = emptyList())
    // A tapped push: the notice it was about (tab 0 lists it; the dialog shows which).
    pushTarget?.let { target ->
        val notice = notices.firstOrNull { it.notice.id == target.id }
        AlertDialog(
            onDismissRequest = model::pushTargetShown,
            confirmButton = {
                TextButton(onClick = {
                    if (notice != null) model.markRead(target.id)
                    model.pushTargetShown()
                    tab = 0
                }) { Text("好") }
            },
            title = { Text(notice?.notice?.title ?: "新消息") },
            text = { Text(notice?.notice?.body ?: "联网后显示 / shown once synced") },
        )
    }

    Scaffold(
        topBar = {
            TopAppBar(
                title = {
                    val badge = if (unread > 0u) " ($unread)" else ""
                    Text("${me?.displayName ?: "联校"}$badge · ${stateText(state)}")
                },
                actions = {
                    TextButton(onClick = { menuOpen = true }) { Text("账号") }
                    DropdownMenu(expanded = menuOpen, onDismissRequest = { menuOpen = false }) {
                        accounts.forEach { account ->
                            DropdownMenuItem(
                                text = { Text(if (account.active) "✓ ${account.displayName}" else account.displayName) },
                                onClick = { menuOpen = false; onSwitch(account.userId) },
                            )
                        }
                        DropdownMenuItem(text = { Text("添加账号") }, onClick = { menuOpen = false; onAddAccount() })
                        DropdownMenuItem(text = { Text("退出当前账号") }, onClick = { menuOpen = false; onSignOut() })
                    }
                },
            )
        },
    ) { padding ->
        Column(Modifier.fillMaxSize().padding(padding)) {
            TabRow(selectedTabIndex = tab) {
                Tab(selected = tab == 0, onClick = { tab = 0 }, text = { Text("通知") })
                Tab(selected = tab == 1, onClick = { tab = 1 }, text = { Text("作业") })
                Tab(selected = tab == 2, onClick = { tab = 2 }, text = { Text("直播") })
                Tab(selected = tab == 3, onClick = { tab = 3 }, text = { Text("回放") })
                Tab(selected = tab == 4, onClick = { tab = 4 }, text = { Text("提醒") })
            }
            when (tab) {
                0 -> NoticeList(session, onRead = model::markRead, onAcknowledge = model::acknowledge)
                1 -> HomeworkScreen(model, session)
                2 -> LiveTab(session.client)
                3 -> ReplaysTab(session.client)
                else -> SettingsTab(session.client)
            }
        }
    }
}

@Composable
fun NoticeList(session: Session, onRead: (String) -> Unit, onAcknowledge: (String) -> Unit) {
    // Collected on the main thread by collectAsState: the core's callbacks arrive on its
    // worker threads and never touch Compose state directly.
    val notices by session.list.collectAsStateWithLifecycle(initialValue = emptyList())
    LazyColumn(
        Modifier.fillMaxSize().padding(horizontal = 12.dp),
        verticalArrangement = Arrangement.spacedBy(8.dp),
    ) {
        items(notices, key = { it.notice.id }) { view ->
            NoticeCard(view, onRead = { onRead(view.notice.id) }, onAcknowledge = { onAcknowledge(view.notice.id) })
        }
    }
}

@Composable
fun NoticeCard(view: NoticeView, onRead: () -> Unit, onAcknowledge: () -> Unit) {
    Card(Modifier.fillMaxWidth()) {
        Column(Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(6.dp)) {
            Text(
                (if (view.unread) "● " else "") + view.notice.title,
                fontWeight = if (view.unread) FontWeight.Bold else FontWeight.Normal,
                style = MaterialTheme.typography.titleMedium,
            )
            Text(view.notice.author.name, style = MaterialTheme.typography.labelMedium)
            Text(view.notice.body, maxLines = 3, style = MaterialTheme.typography.bodyMedium)
            Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                if (view.read == DeliveryState.NONE) {
                    OutlinedButton(onClick = onRead) { Text("标为已读") }
                } else {
                    Text("已读 ${deliveryText(view.read)}", style = MaterialTheme.typography.labelSmall)
                }
                if (view.notice.requiresAck) {
                    if (view.acknowledged == DeliveryState.NONE) {
                        Button(onClick = onAcknowledge) { Text("回执") }
                    } else {
                        Text("已回执 ${deliveryText(view.acknowledged)}", style = MaterialTheme.typography.labelSmall)
                    }
                }
            }
        }
    }
}

fun deliveryText(state: DeliveryState): String = when (state) {
    DeliveryState.NONE -> ""
    DeliveryState.PENDING -> "（等待发送）"
    DeliveryState.DELIVERED -> "（已送达）"
    DeliveryState.FAILED -> "（发送失败）"
}

fun stateText(state: ClientState): String = when (state) {
    ClientState.OFFLINE -> "离线"
    ClientState.CONNECTING -> "连接中"
    ClientState.ONLINE -> "在线"
    ClientState.AUTH_EXPIRED -> "请重新登录"
}
