// The reminders tab (提醒): which kinds of notification reach this account, per child, and its
// own quiet hours; for teachers, the parents of a class nothing has reached, with the number
// to call. The settings come from the core's Flow (offline too); a change shows at once and the
// core sends it when it can ("待同步" until the server confirms). The shell only draws.
package org.lianxiao.sample

import android.content.Intent
import android.net.Uri
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.Card
import androidx.compose.material3.Switch
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.DisposableEffect
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import kotlinx.coroutines.launch
import org.lianxiao.core.Child
import org.lianxiao.core.ClassInfo
import org.lianxiao.core.Client
import org.lianxiao.core.LianxiaoException
import org.lianxiao.core.NotificationKinds
import org.lianxiao.core.NotificationSettingsHandle
import org.lianxiao.core.QuietHours
import org.lianxiao.core.Role
import org.lianxiao.core.SettingsView
import org.lianxiao.core.UnreachableParent
import org.lianxiao.core.ktx.code
import org.lianxiao.core.ktx.flow

/** The quiet hours the switch turns on: 22:00 to 06:30, school time. */
private val EVENING = QuietHours(startMinute = (22 * 60).toUShort(), endMinute = (6 * 60 + 30).toUShort())

private fun hhmm(minute: UShort): String = "%02d:%02d".format(minute.toInt() / 60, minute.toInt() % 60)

@Composable
fun SettingsTab(client: Client) {
    val handle = remember(client) { client.notificationSettings() }
    DisposableEffect(handle) { onDispose { handle.close() } }
    val view by remember(handle) { handle.flow() }.collectAsStateWithLifecycle(initialValue = null)
    var children by remember { mutableStateOf<List<Child>>(emptyList()) }
    var taught by remember { mutableStateOf<List<ClassInfo>>(emptyList()) }
    LaunchedEffect(client) {
        children = client.children()
        val me = client.profile()
        val teaches = me?.memberships.orEmpty().any { it.role == Role.TEACHER || it.role == Role.ASSISTANT }
        taught = if (teaches) client.classes() else emptyList()
    }
    val scope = rememberCoroutineScope()
    var error by remember { mutableStateOf<String?>(null) }
    val me = remember(client) { client.userId() }

    fun change(block: suspend NotificationSettingsHandle.() -> SettingsView) {
        scope.launch {
            error = try {
                handle.block()
                null
            } catch (e: LianxiaoException) {
                "未能保存 (${e.code})"
            }
        }
    }

    LazyColumn(Modifier.fillMaxSize().padding(12.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        val current = view
        if (current == null) {
            item { Text("读取中…") }
            return@LazyColumn
        }
        if (current.pending) item { Text("待同步：联网后发送") }
        error?.let { item { Text(it) } }
        items(current.settings.children, key = { it.childId }) { entry ->
            val name = if (entry.childId == me) "我" else children.firstOrNull { it.id == entry.childId }?.name ?: entry.childId
            KindsCard(name, entry.kinds) { kinds -> change { setKinds(entry.childId, kinds) } }
        }
        item {
            val quiet = current.settings.quietHours
            Row(Modifier.fillMaxWidth(), verticalAlignment = Alignment.CenterVertically) {
                Column(Modifier.weight(1f)) {
                    Text("我的免打扰时段")
                    Text(quiet?.let { "${hhmm(it.startMinute)}–${hhmm(it.endMinute)}（学校的时段照常）" } ?: "未设置（按学校的时段）")
                }
                Switch(
                    checked = quiet != null,
                    onCheckedChange = { on -> change { setQuietHours(if (on) EVENING else null) } },
                )
            }
        }
        if (taught.isNotEmpty()) {
            item { Text("联系不上的家长") }
            items(taught, key = { it.id }) { c -> UnreachableCard(handle, c) }
        }
    }
}

@Composable
private fun KindsCard(name: String, kinds: NotificationKinds, onChange: (NotificationKinds) -> Unit) {
    Card(Modifier.fillMaxWidth()) {
        Column(Modifier.padding(12.dp)) {
            Text(name)
            KindRow("学校和班级通知（紧急通知总会送达）", kinds.notices) { onChange(kinds.copy(notices = it)) }
            KindRow("作业已批改", kinds.homeworkGraded) { onChange(kinds.copy(homeworkGraded = it)) }
            KindRow("作业未按时提交", kinds.homeworkMissing) { onChange(kinds.copy(homeworkMissing = it)) }
            KindRow("直播课即将开始", kinds.lessonStarting) { onChange(kinds.copy(lessonStarting = it)) }
        }
    }
}

@Composable
private fun KindRow(label: String, on: Boolean, onChange: (Boolean) -> Unit) {
    Row(Modifier.fillMaxWidth(), verticalAlignment = Alignment.CenterVertically) {
        Text(label, Modifier.weight(1f))
        Switch(checked = on, onCheckedChange = onChange)
    }
}

/** A class's parents nothing has reached lately; asked when opened (online). */
@Composable
private fun UnreachableCard(handle: NotificationSettingsHandle, c: ClassInfo) {
    var parents by remember { mutableStateOf<List<UnreachableParent>?>(null) }
    var error by remember { mutableStateOf<String?>(null) }
    val scope = rememberCoroutineScope()
    val context = LocalContext.current
    Card(Modifier.fillMaxWidth()) {
        Column(Modifier.padding(12.dp)) {
            Row(verticalAlignment = Alignment.CenterVertically) {
                Text("${c.school.name} · ${c.name}", Modifier.weight(1f))
                TextButton(onClick = {
                    scope.launch {
                        try {
                            parents = handle.unreachableParents(c.id)
                            error = null
                        } catch (e: LianxiaoException) {
                            error = "查询失败 (${e.code})"
                        }
                    }
                }) { Text("查看") }
            }
            error?.let { Text(it) }
            parents?.let { list ->
                if (list.isEmpty()) Text("每位家长最近都联系得上")
                list.forEach { p ->
                    Row(verticalAlignment = Alignment.CenterVertically) {
                        Text("${p.parent.name}（${p.children.joinToString { it.name }}）", Modifier.weight(1f))
                        p.phone?.let { phone ->
                            TextButton(onClick = {
                                context.startActivity(Intent(Intent.ACTION_DIAL, Uri.parse("tel:$phone")))
                            }) { Text("拨打 $phone") }
                        }
                    }
                }
            }
        }
    }
}
