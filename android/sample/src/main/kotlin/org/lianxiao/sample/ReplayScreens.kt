// The replay tab: the replays the account may watch (per child for parents), a player that
// opens what the core says (the downloaded copy, or the signed stream) and reports progress,
// and the downloads with their progress and the storage cap. Everything comes from the core's
// Flows; the shell only draws and hosts ExoPlayer.
package org.lianxiao.sample

import android.os.SystemClock
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.aspectRatio
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.Button
import androidx.compose.material3.Card
import androidx.compose.material3.FilterChip
import androidx.compose.material3.LinearProgressIndicator
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
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.unit.dp
import androidx.compose.ui.viewinterop.AndroidView
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import androidx.media3.common.MediaItem
import androidx.media3.common.MimeTypes
import androidx.media3.exoplayer.ExoPlayer
import androidx.media3.ui.PlayerView
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import org.lianxiao.core.Child
import org.lianxiao.core.Client
import org.lianxiao.core.DownloadState
import org.lianxiao.core.DownloadStatus
import org.lianxiao.core.LianxiaoException
import org.lianxiao.core.ReplayFilter
import org.lianxiao.core.ReplayStatus
import org.lianxiao.core.ReplayView
import org.lianxiao.core.Replays
import org.lianxiao.core.StorageUse
import org.lianxiao.core.ktx.code
import org.lianxiao.core.ktx.downloadsFlow
import org.lianxiao.core.ktx.flow
import org.lianxiao.core.ktx.fraction

private const val MIB = 1024uL * 1024uL

@Composable
fun ReplaysTab(client: Client) {
    val replays = remember(client) { client.replays() }
    DisposableEffect(replays) { onDispose { replays.close() } }
    var playing by remember { mutableStateOf<String?>(null) }
    var showDownloads by remember { mutableStateOf(false) }
    val current = playing
    when {
        current != null -> ReplayPlayerScreen(replays, current, onBack = { playing = null })
        showDownloads -> DownloadsScreen(replays, onBack = { showDownloads = false })
        else -> ReplayListScreen(client, replays, onPlay = { playing = it }, onDownloads = { showDownloads = true })
    }
}

@Composable
fun ReplayListScreen(client: Client, replays: Replays, onPlay: (String) -> Unit, onDownloads: () -> Unit) {
    // Parents choose a child; everyone else sees all their replays.
    var children by remember { mutableStateOf<List<Child>>(emptyList()) }
    LaunchedEffect(client) { children = client.children() }
    var childId by remember { mutableStateOf<String?>(null) }
    val list by remember(replays, childId) { replays.flow(ReplayFilter(childId)) }
        .collectAsStateWithLifecycle(initialValue = emptyList())
    val scope = rememberCoroutineScope()
    var error by remember { mutableStateOf<String?>(null) }

    Column(Modifier.fillMaxSize().padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            if (children.size > 1) {
                FilterChip(selected = childId == null, onClick = { childId = null }, label = { Text("全部") })
                children.forEach { c ->
                    FilterChip(selected = childId == c.id, onClick = { childId = c.id }, label = { Text(c.name) })
                }
            }
            TextButton(onClick = onDownloads) { Text("我的下载") }
        }
        error?.let { Text(it) }
        LazyColumn(verticalArrangement = Arrangement.spacedBy(8.dp)) {
            items(list, key = { it.replay.id }) { view ->
                ReplayCard(
                    view,
                    onPlay = { onPlay(view.replay.id) },
                    onDownload = {
                        scope.launch {
                            // Over the cap: a validation error on `storage_cap`, nothing fetched.
                            error = try {
                                replays.download(view.replay.id, "low"); null
                            } catch (e: LianxiaoException.Validation) {
                                if (e.field == "storage_cap") "空间不够：请先删除一些下载，或调高上限" else errorText("validation")
                            } catch (e: LianxiaoException) {
                                errorText(e.code)
                            }
                        }
                    },
                )
            }
        }
    }
}

@Composable
private fun ReplayCard(view: ReplayView, onPlay: () -> Unit, onDownload: () -> Unit) {
    val r = view.replay
    Card(Modifier.fillMaxWidth()) {
        Column(Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(4.dp)) {
            Text("${r.subject} · ${r.title}")
            view.place?.let { Text("看到 ${clock(it.positionMs)}，已看 ${clock(it.watchedMs)}") }
            when (r.status) {
                ReplayStatus.APPROVED -> Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                    Button(onClick = onPlay) { Text(if (view.download?.state == DownloadState.DONE) "播放（离线）" else "播放") }
                    val d = view.download
                    if (d == null) TextButton(onClick = onDownload) { Text("下载") } else Text(downloadText(d))
                }
                ReplayStatus.PROCESSING -> Text("转码中 ${r.progressPercent ?: 0u}%")
                ReplayStatus.PENDING_REVIEW -> Text("等待学校审核")
                ReplayStatus.REJECTED -> Text("未通过审核：${r.review?.reason ?: ""}")
                ReplayStatus.FAILED -> Text("处理失败")
            }
        }
    }
}

/** Plays what the core hands over and tells it how far the person got, every few seconds. */
@Composable
fun ReplayPlayerScreen(replays: Replays, replayId: String, onBack: () -> Unit) {
    val context = LocalContext.current
    val player = remember { ExoPlayer.Builder(context).build() }
    var error by remember { mutableStateOf<String?>(null) }
    val scope = rememberCoroutineScope()

    fun report(playedMs: Long) {
        val position = player.currentPosition
        // Recorded on the phone at once, offline too; the core sends it once.
        scope.launch { runCatching { replays.reportProgress(replayId, position, playedMs) } }
    }

    LaunchedEffect(replayId) {
        try {
            val playback = replays.play(replayId)
            // A local playlist has a file:// URL: tell ExoPlayer it is HLS.
            val item = MediaItem.Builder().setUri(playback.url).setMimeType(MimeTypes.APPLICATION_M3U8).build()
            player.setMediaItem(item, playback.positionMs)
            player.prepare()
            player.play()
        } catch (e: LianxiaoException) {
            error = errorText(e.code) // Offline and not downloaded: nothing to play.
            return@LaunchedEffect
        }
        var tick = SystemClock.elapsedRealtime()
        while (true) {
            delay(10_000)
            val now = SystemClock.elapsedRealtime()
            if (player.isPlaying) report(now - tick)
            tick = now
        }
    }
    DisposableEffect(Unit) {
        onDispose {
            report(0)
            player.release()
        }
    }

    Column(Modifier.fillMaxSize().padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        error?.let { Text(it) }
        AndroidView(
            factory = { PlayerView(it).apply { this.player = player } },
            modifier = Modifier.fillMaxWidth().aspectRatio(16f / 9f),
        )
        TextButton(onClick = onBack) { Text("返回") }
    }
}

@Composable
fun DownloadsScreen(replays: Replays, onBack: () -> Unit) {
    val downloads by remember(replays) { replays.downloadsFlow() }
        .collectAsStateWithLifecycle(initialValue = emptyList())
    val titles by remember(replays) { replays.flow() }.collectAsStateWithLifecycle(initialValue = emptyList())
    var storage by remember { mutableStateOf<StorageUse?>(null) }
    // What the downloads hold changes with them.
    LaunchedEffect(downloads) { storage = replays.storage() }
    val scope = rememberCoroutineScope()

    Column(Modifier.fillMaxSize().padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        storage?.let { s ->
            Text("已用 ${mib(s.reservedBytes)} / 上限 ${mib(s.capBytes)}")
            LinearProgressIndicator(progress = { s.fraction.coerceIn(0f, 1f) }, modifier = Modifier.fillMaxWidth())
            Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                listOf(1uL, 2uL, 4uL).forEach { gib ->
                    TextButton(onClick = {
                        scope.launch {
                            replays.setStorageCapBytes(gib * 1024uL * MIB)
                            storage = replays.storage()
                        }
                    }) { Text("上限 ${gib}G") }
                }
            }
        }
        LazyColumn(verticalArrangement = Arrangement.spacedBy(8.dp), modifier = Modifier.weight(1f)) {
            items(downloads, key = { it.replayId }) { d ->
                val title = titles.firstOrNull { it.replay.id == d.replayId }?.replay?.title ?: d.replayId
                Card(Modifier.fillMaxWidth()) {
                    Column(Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(4.dp)) {
                        Text(title)
                        LinearProgressIndicator(progress = { d.fraction }, modifier = Modifier.fillMaxWidth())
                        Text(downloadText(d))
                        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                            when (d.state) {
                                DownloadState.QUEUED, DownloadState.DOWNLOADING ->
                                    TextButton(onClick = { scope.launch { replays.pauseDownload(d.replayId) } }) { Text("暂停") }
                                DownloadState.PAUSED, DownloadState.FAILED ->
                                    TextButton(onClick = { scope.launch { replays.resumeDownload(d.replayId) } }) { Text("继续") }
                                DownloadState.DONE -> {}
                            }
                            TextButton(onClick = { scope.launch { replays.deleteDownload(d.replayId) } }) { Text("删除") }
                        }
                    }
                }
            }
        }
        TextButton(onClick = onBack) { Text("返回") }
    }
}

private fun mib(bytes: ULong): String = "${bytes / MIB} MB"

private fun clock(ms: Long): String = "%d:%02d".format(ms / 60_000, (ms / 1000) % 60)

private fun downloadText(d: DownloadStatus): String = when (d.state) {
    DownloadState.QUEUED -> if (d.attempts > 0u) "等待重试" else "排队中"
    DownloadState.DOWNLOADING -> "下载中 ${(d.fraction * 100).toInt()}%"
    DownloadState.PAUSED -> "已暂停 ${(d.fraction * 100).toInt()}%"
    DownloadState.DONE -> "已下载 ${mib(d.bytesTotal)}"
    DownloadState.FAILED -> "下载失败：${d.error?.code?.let(::errorText) ?: ""}"
}
