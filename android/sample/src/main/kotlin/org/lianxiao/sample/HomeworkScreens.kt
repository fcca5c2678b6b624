// Homework screens of the sample: a student's list, draft (text, photos from the picker,
// reorder, remove) and hand-in with its progress; a teacher's report per class, grading with a
// score, words and a voice file, returning work and reminding; a parent's view of each child's
// grade and the sign-off. The core decides every state shown here; the screens only draw it.
package org.lianxiao.sample

import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.net.Uri
import androidx.activity.compose.BackHandler
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.PickVisualMediaRequest
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.foundation.Image
import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.size
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.Button
import androidx.compose.material3.Card
import androidx.compose.material3.HorizontalDivider
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.produceState
import androidx.compose.runtime.remember
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.asImageBitmap
import androidx.compose.ui.layout.ContentScale
import androidx.compose.ui.text.font.FontWeight
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import java.text.SimpleDateFormat
import java.util.Date
import java.util.Locale
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.delay
import kotlinx.coroutines.withContext
import org.lianxiao.core.Attachment
import org.lianxiao.core.Child
import org.lianxiao.core.DraftFile
import org.lianxiao.core.HomeworkView
import org.lianxiao.core.StudentReportLine
import org.lianxiao.core.StudentWork
import org.lianxiao.core.Submission
import org.lianxiao.core.SubmissionStatus
import org.lianxiao.core.WorkKind
import org.lianxiao.core.WorkState
import org.lianxiao.core.ktx.uploadFraction

/** The list, or the one homework that is open. Which screen follows from what the core sent. */
@Composable
fun HomeworkScreen(model: SampleViewModel, session: Session) {
    val list by session.homeworkList.collectAsStateWithLifecycle(initialValue = emptyList())
    val children by model.children.collectAsStateWithLifecycle()
    var openId by rememberSaveable { mutableStateOf<String?>(null) }
    val open = openId?.let { id -> list.firstOrNull { it.homework.id == id } }

    if (open == null) {
        LazyColumn(
            Modifier.fillMaxSize().padding(horizontal = 12.dp),
            verticalArrangement = Arrangement.spacedBy(8.dp),
        ) {
            items(list, key = { it.homework.id }) { view ->
                HomeworkCard(view, session.userId, children) { openId = view.homework.id }
            }
        }
        return
    }
    BackHandler { openId = null; model.closeReport() }
    val mine = open.work.firstOrNull { it.studentId == session.userId }
    when {
        mine != null -> StudentHomework(model, open, mine)
        open.work.isNotEmpty() -> ParentHomework(model, open, children)
        else -> TeacherHomework(model, open)
    }
}

@Composable
fun HomeworkCard(view: HomeworkView, userId: String, children: List<Child>, onOpen: () -> Unit) {
    Card(Modifier.fillMaxWidth().clickable(onClick = onOpen)) {
        Column(Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(4.dp)) {
            Text(view.homework.title, style = MaterialTheme.typography.titleMedium)
            Text(
                "${view.homework.author.name} · 截止 ${dateText(view.homework.dueAt)}",
                style = MaterialTheme.typography.labelMedium,
            )
            view.summary?.let { summary ->
                summary.classes.forEach { c ->
                    Text(
                        "${c.schoolName} ${c.className}：已交 ${c.submitted}/${c.students}，已批 ${c.graded}",
                        style = MaterialTheme.typography.bodySmall,
                    )
                }
            }
            view.work.forEach { work ->
                val who = if (work.studentId == userId) "" else childName(work, children) + "："
                Text(who + workStateText(work.state), style = MaterialTheme.typography.bodyMedium)
                work.state.uploadFraction?.let { LinearProgressIndicator(progress = { it }, modifier = Modifier.fillMaxWidth()) }
                if (work.overdue) Text("已过截止时间", color = MaterialTheme.colorScheme.error)
            }
        }
    }
}

// --- students ---------------------------------------------------------------------------------

@Composable
fun StudentHomework(model: SampleViewModel, view: HomeworkView, work: StudentWork) {
    val id = view.homework.id
    val saved = work.draft?.text ?: ""
    var text by rememberSaveable(id) { mutableStateOf(saved) }
    // Saves the text half a second after the last keystroke (a new keystroke restarts this).
    LaunchedEffect(id, text) {
        if (text != saved) {
            delay(500)
            model.saveDraftText(id, text)
        }
    }
    val pickPhoto = rememberLauncherForActivityResult(ActivityResultContracts.PickVisualMedia()) { uri: Uri? ->
        uri?.let { model.addPhoto(id, it) }
    }
    // While the hand-in is on its way the work is not edited here.
    val editable = work.state !is WorkState.OnDevice && work.state !is WorkState.Uploading &&
        work.state !is WorkState.Graded
    val files = work.draft?.files ?: emptyList()

    LazyColumn(
        Modifier.fillMaxSize().padding(12.dp),
        verticalArrangement = Arrangement.spacedBy(8.dp),
    ) {
        item { HomeworkHeader(model, view) }
        item {
            Column(verticalArrangement = Arrangement.spacedBy(4.dp)) {
                Text(workStateText(work.state), fontWeight = FontWeight.Bold)
                work.state.uploadFraction?.let { LinearProgressIndicator(progress = { it }, modifier = Modifier.fillMaxWidth()) }
            }
        }
        work.submission?.let { submission -> item { ReviewOf(model, submission) } }
        if (editable) {
            item {
                OutlinedTextField(
                    text, { text = it },
                    label = { Text("我的回答") },
                    modifier = Modifier.fillMaxWidth(),
                    minLines = 3,
                )
            }
            items(files.size, key = { files[it].id }) { index ->
                DraftFileRow(
                    file = files[index],
                    onUp = { model.moveFile(id, files, index, -1) }.takeIf { index > 0 },
                    onDown = { model.moveFile(id, files, index, +1) }.takeIf { index < files.lastIndex },
                    onRemove = { model.removeFile(id, files[index].id) },
                )
            }
            item {
                Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                    if (WorkKind.PHOTO in view.homework.acceptedKinds) {
                        OutlinedButton(onClick = {
                            pickPhoto.launch(PickVisualMediaRequest(ActivityResultContracts.PickVisualMedia.ImageOnly))
                        }) { Text("添加照片") }
                    }
                    Button(
                        onClick = { model.handIn(id, text) },
                        enabled = text.isNotBlank() || files.isNotEmpty(),
                    ) { Text("提交") }
                    if (work.draft != null) {
                        TextButton(onClick = { text = ""; model.discardDraft(id) }) { Text("清空") }
                    }
                }
            }
        }
    }
}

@Composable
fun DraftFileRow(file: DraftFile, onUp: (() -> Unit)?, onDown: (() -> Unit)?, onRemove: () -> Unit) {
    Row(verticalAlignment = Alignment.CenterVertically, horizontalArrangement = Arrangement.spacedBy(8.dp)) {
        if (file.kind == WorkKind.PHOTO) Thumbnail(file.path) else Text(kindText(file.kind))
        Column(Modifier.weight(1f)) {
            Text(file.fileName, maxLines = 1)
            Text("${file.size.toLong() / 1024} KB", style = MaterialTheme.typography.labelSmall)
        }
        TextButton(onClick = { onUp?.invoke() }, enabled = onUp != null) { Text("↑") }
        TextButton(onClick = { onDown?.invoke() }, enabled = onDown != null) { Text("↓") }
        TextButton(onClick = onRemove) { Text("删除") }
    }
}

// --- parents ----------------------------------------------------------------------------------

@Composable
fun ParentHomework(model: SampleViewModel, view: HomeworkView, children: List<Child>) {
    LazyColumn(
        Modifier.fillMaxSize().padding(12.dp),
        verticalArrangement = Arrangement.spacedBy(8.dp),
    ) {
        item { HomeworkHeader(model, view) }
        items(view.work, key = { it.studentId }) { work ->
            Card(Modifier.fillMaxWidth()) {
                Column(Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(6.dp)) {
                    Text(childName(work, children), style = MaterialTheme.typography.titleMedium)
                    Text(workStateText(work.state))
                    work.submission?.let { submission ->
                        submission.attempts.lastOrNull()?.let { Text(it.text) }
                        ReviewOf(model, submission)
                        val signOff = submission.signOff
                        when {
                            signOff != null -> Text("家长已签字 ${dateText(signOff.at)}")
                            work.needsSignOff -> Button(onClick = { model.signOff(submission.id) }) { Text("家长签字") }
                        }
                    }
                }
            }
        }
    }
}

// --- teachers ---------------------------------------------------------------------------------

@Composable
fun TeacherHomework(model: SampleViewModel, view: HomeworkView) {
    val id = view.homework.id
    val opened by model.report.collectAsStateWithLifecycle()
    LaunchedEffect(id) { model.openReport(id) }
    val report = opened?.takeIf { it.homeworkId == id }
    var grading by remember { mutableStateOf<Submission?>(null) }

    LazyColumn(
        Modifier.fillMaxSize().padding(12.dp),
        verticalArrangement = Arrangement.spacedBy(8.dp),
    ) {
        item { HomeworkHeader(model, view) }
        item {
            Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                Button(onClick = { model.remind(id) }) { Text("提醒未交") }
                OutlinedButton(onClick = { model.openReport(id) }) { Text("刷新") }
            }
        }
        if (report == null) {
            // Offline, or still loading: the synced counts.
            view.summary?.classes?.let { classes ->
                items(classes, key = { it.classId }) { c ->
                    Text("${c.schoolName} ${c.className}：已交 ${c.submitted}/${c.students}，迟交 ${c.late}，已批 ${c.graded}，签字 ${c.signedOff}")
                }
            }
        } else {
            report.report.classes.forEach { c ->
                item(key = c.classId) {
                    Column {
                        HorizontalDivider()
                        Text(c.className, style = MaterialTheme.typography.titleMedium)
                    }
                }
                items(c.students, key = { c.classId + it.student.id }) { line ->
                    val submission = line.submissionId?.let { report.submissions[it] }
                    ReportLine(line, onOpen = submission?.let { { grading = it } })
                }
            }
        }
    }
    grading?.let { submission ->
        GradeDialog(
            model = model,
            submission = submission,
            maxScore = view.homework.maxScore,
            onDismiss = { grading = null },
        )
    }
}

@Composable
fun ReportLine(line: StudentReportLine, onOpen: (() -> Unit)?) {
    val status = when (line.status) {
        null -> "未交"
        SubmissionStatus.SUBMITTED -> if (line.late) "已交（迟交）" else "已交"
        SubmissionStatus.RETURNED -> "已退回"
        SubmissionStatus.GRADED -> "已批 ${line.score ?: 0u} 分"
    }
    Row(
        Modifier.fillMaxWidth().let { if (onOpen != null) it.clickable(onClick = onOpen) else it }.padding(vertical = 4.dp),
        horizontalArrangement = Arrangement.SpaceBetween,
    ) {
        Text(line.student.name)
        Text(status + if (line.signedOff) " · 已签字" else "")
    }
}

/** Grade with a score, words and an optional voice file, or send back for redo. */
@Composable
fun GradeDialog(model: SampleViewModel, submission: Submission, maxScore: UInt, onDismiss: () -> Unit) {
    var score by remember { mutableStateOf("") }
    var feedback by remember { mutableStateOf("") }
    var voice by remember { mutableStateOf<Uri?>(null) }
    val pickVoice = rememberLauncherForActivityResult(ActivityResultContracts.GetContent()) { uri: Uri? -> voice = uri }
    val attempt = submission.attempts.lastOrNull()
    val points = score.toUIntOrNull()

    AlertDialog(
        onDismissRequest = onDismiss,
        title = { Text("${submission.student.name} 第 ${attempt?.number ?: 1u} 次") },
        text = {
            Column(verticalArrangement = Arrangement.spacedBy(8.dp)) {
                attempt?.let { a ->
                    Text(a.text)
                    a.attachments.filter { it.kind == WorkKind.PHOTO }.forEach { AttachmentPhoto(model, it) }
                }
                OutlinedTextField(
                    score, { score = it.filter(Char::isDigit) },
                    label = { Text("分数（满分 $maxScore）") },
                    keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Number),
                    singleLine = true,
                )
                OutlinedTextField(feedback, { feedback = it }, label = { Text("评语 / 退回原因") })
                OutlinedButton(onClick = { pickVoice.launch("audio/*") }) {
                    Text(if (voice == null) "选择语音评语" else "已选语音 ✓")
                }
            }
        },
        confirmButton = {
            Button(
                onClick = { model.grade(submission.id, points ?: 0u, feedback, voice); onDismiss() },
                enabled = points != null,
            ) { Text("评分") }
        },
        dismissButton = {
            TextButton(
                onClick = { model.returnWork(submission.id, feedback, voice); onDismiss() },
                enabled = feedback.isNotBlank(),
            ) { Text("退回重做") }
        },
    )
}

// --- shared pieces ----------------------------------------------------------------------------

@Composable
fun HomeworkHeader(model: SampleViewModel, view: HomeworkView) {
    Column(verticalArrangement = Arrangement.spacedBy(4.dp)) {
        Text(view.homework.title, style = MaterialTheme.typography.headlineSmall)
        Text("截止 ${dateText(view.homework.dueAt)} · 满分 ${view.homework.maxScore}", style = MaterialTheme.typography.labelMedium)
        Text(view.homework.instructions)
        view.homework.attachments.forEach { a ->
            if (a.kind == WorkKind.PHOTO) {
                AttachmentPhoto(model, a)
            } else {
                Text("附件：${a.fileName}", style = MaterialTheme.typography.bodySmall)
            }
        }
    }
}

/** The teacher's verdict on the latest attempt: score or reason, words, voice. */
@Composable
fun ReviewOf(model: SampleViewModel, submission: Submission) {
    val review = submission.attempts.lastOrNull()?.review ?: return
    Column(verticalArrangement = Arrangement.spacedBy(4.dp)) {
        review.score?.let { Text("得分 $it", fontWeight = FontWeight.Bold) }
        if (review.feedback.isNotBlank()) Text("${review.by.name}：${review.feedback}")
        review.voice?.let { voice -> OutlinedButton(onClick = { model.play(voice.id) }) { Text("听语音评语") } }
    }
}

@Composable
fun AttachmentPhoto(model: SampleViewModel, attachment: Attachment) {
    val path by produceState<String?>(null, attachment.id) { value = model.attachmentPath(attachment.id) }
    path?.let { Thumbnail(it, size = 160) } ?: Text(attachment.fileName, style = MaterialTheme.typography.bodySmall)
}

/** A local photo, decoded small off the main thread. */
@Composable
fun Thumbnail(path: String, size: Int = 64) {
    val bitmap by produceState<Bitmap?>(null, path) {
        value = withContext(Dispatchers.IO) {
            BitmapFactory.decodeFile(path, BitmapFactory.Options().apply { inSampleSize = 8 })
        }
    }
    bitmap?.let {
        Image(it.asImageBitmap(), contentDescription = null, modifier = Modifier.size(size.dp), contentScale = ContentScale.Crop)
    }
}

fun workStateText(state: WorkState): String = when (state) {
    WorkState.NotStarted -> "未开始"
    WorkState.Draft -> "草稿（保存在本机）"
    WorkState.OnDevice -> "已提交，等待网络发送"
    is WorkState.Uploading -> "正在上传 ${(state.uploadFraction ?: 0f).times(100).toInt()}%"
    is WorkState.Delivered ->
        "老师已收到（${dateText(state.receivedAt)}）" +
            (if (state.attempt > 1u) " 第 ${state.attempt} 次" else "") +
            (if (state.late) " 迟交" else "")
    is WorkState.Returned -> "被退回：${state.reason}"
    is WorkState.Graded -> "得分 ${state.score}/${state.maxScore}"
    is WorkState.Failed -> "提交失败，已退回草稿"
}

fun kindText(kind: WorkKind): String = when (kind) {
    WorkKind.TEXT -> "文字"
    WorkKind.PHOTO -> "照片"
    WorkKind.AUDIO -> "录音"
    WorkKind.VIDEO -> "视频"
    WorkKind.FILE -> "文件"
}

fun childName(work: StudentWork, children: List<Child>): String =
    children.firstOrNull { it.id == work.studentId }?.name ?: work.submission?.student?.name ?: "孩子"

/** A server time (Unix ms) in the phone's time zone. */
fun dateText(millis: Long): String = SimpleDateFormat("M月d日 HH:mm", Locale.CHINA).format(Date(millis))
