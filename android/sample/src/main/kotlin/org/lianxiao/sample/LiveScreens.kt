// The live tab: today's lessons, and a lesson joined through the core. Interactive lessons
// play in LiveKit (LiveKitMediaSession); a broadcast, or a room the network cannot carry,
// plays in ExoPlayer the rendition the core picked, fed the player's bandwidth samples.
package org.lianxiao.sample

import android.Manifest
import android.content.Context
import android.net.ConnectivityManager
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.contract.ActivityResultContracts
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
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.unit.dp
import androidx.compose.ui.viewinterop.AndroidView
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import androidx.media3.common.MediaItem
import androidx.media3.exoplayer.ExoPlayer
import androidx.media3.exoplayer.analytics.AnalyticsListener
import androidx.media3.ui.PlayerView
import io.livekit.android.renderer.TextureViewRenderer
import kotlinx.coroutines.launch
import org.lianxiao.core.Client
import org.lianxiao.core.LiveRoom
import org.lianxiao.core.LiveSession
import org.lianxiao.core.LiveState
import org.lianxiao.core.RenditionChoice
import org.lianxiao.core.RenditionReason
import org.lianxiao.core.TimetableSnapshot
import org.lianxiao.core.ktx.LiveUpdate
import org.lianxiao.core.ktx.flow
import org.lianxiao.core.ktx.lesson

@Composable
fun LiveTab(client: Client) {
    var joined by remember { mutableStateOf<String?>(null) }
    val current = joined
    if (current != null) {
        LiveLessonScreen(client, current, onLeave = { joined = null })
        return
    }
    val timetable = remember(client) { client.timetable() }
    DisposableEffect(timetable) { onDispose { timetable.close() } }
    val snapshot by remember(timetable) { timetable.flow() }.collectAsStateWithLifecycle(initialValue = null)
    val live = remember(client) { client.live() }
    DisposableEffect(live) { onDispose { live.close() } }
    val scope = rememberCoroutineScope()
    var dataSaver by remember { mutableStateOf(false) }
    LaunchedEffect(live) { dataSaver = live.dataSaver() }

    Column(Modifier.fillMaxSize().padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        Row {
            Text("省流量（移动网络只听声音）", Modifier.weight(1f))
            Switch(checked = dataSaver, onCheckedChange = { on ->
                dataSaver = on
                scope.launch { live.setDataSaver(on) }
            })
        }
        LazyColumn(verticalArrangement = Arrangement.spacedBy(8.dp)) {
            items(today(snapshot), key = { it.first }) { (id, title) ->
                Card(Modifier.fillMaxWidth()) {
                    Row(Modifier.padding(12.dp)) {
                        Text(title, Modifier.weight(1f))
                        Button(onClick = { joined = id }) { Text("进入课堂") }
                    }
                }
            }
        }
    }
}

private fun today(snapshot: TimetableSnapshot?): List<Pair<String, String>> =
    snapshot?.today.orEmpty().map { it.id to "${it.subject} · ${it.title}" }

// AnalyticsListener is marked unstable in Media3; its bandwidth callback is what the core needs.
@androidx.annotation.OptIn(androidx.media3.common.util.UnstableApi::class)
@Composable
fun LiveLessonScreen(client: Client, lessonId: String, onLeave: () -> Unit) {
    val context = LocalContext.current
    // The teacher's phone publishes once the core turns the camera on; ask first.
    var permitted by remember { mutableStateOf(false) }
    val ask = rememberLauncherForActivityResult(ActivityResultContracts.RequestMultiplePermissions()) {
        permitted = true // Denied: the SDK's publish fails and the lesson goes on watch-only.
    }
    LaunchedEffect(Unit) { ask.launch(arrayOf(Manifest.permission.CAMERA, Manifest.permission.RECORD_AUDIO)) }
    if (!permitted) return

    val media = remember { LiveKitMediaSession(context) }
    val live = remember(client) { client.live() }
    val player = remember { ExoPlayer.Builder(context).build() }
    var session by remember { mutableStateOf<LiveSession?>(null) }
    var state by remember { mutableStateOf<LiveState>(LiveState.Joining) }
    var rendition by remember { mutableStateOf<RenditionChoice?>(null) }
    var room by remember { mutableStateOf<LiveRoom?>(null) }

    DisposableEffect(Unit) {
        // Every segment the player fetches is a throughput sample for the core's choice.
        val samples = object : AnalyticsListener {
            override fun onBandwidthEstimate(
                eventTime: AnalyticsListener.EventTime,
                totalLoadTimeMs: Int,
                totalBytesLoaded: Long,
                bitrateEstimate: Long,
            ) {
                if (totalLoadTimeMs > 0) {
                    session?.reportThroughput((totalBytesLoaded * 8_000 / totalLoadTimeMs).toULong())
                }
            }
        }
        player.addAnalyticsListener(samples)
        onDispose {
            player.release()
            media.close()
            live.close()
        }
    }

    // Collecting joins the lesson; leaving this screen cancels it, which leaves the lesson.
    LaunchedEffect(lessonId) {
        live.lesson(lessonId, media).collect { update ->
            when (update) {
                is LiveUpdate.Joined -> {
                    media.attach(update.session)
                    session = update.session
                    update.session.setMetered(isMetered(context))
                }
                is LiveUpdate.State -> state = update.state
                is LiveUpdate.Rendition -> {
                    // Same URL (only the reason changed): keep playing.
                    if (update.choice.url != rendition?.url) {
                        player.setMediaItem(MediaItem.fromUri(update.choice.url))
                        player.prepare()
                        player.play()
                    }
                    rendition = update.choice
                }
                is LiveUpdate.Room -> room = update.room
            }
        }
    }

    Column(Modifier.fillMaxSize().padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        Text(liveStateText(state, rendition))
        when (state) {
            is LiveState.FallbackToBroadcast -> AndroidView(
                factory = { PlayerView(it).apply { this.player = player } },
                modifier = Modifier.fillMaxWidth().aspectRatio(16f / 9f),
            )
            is LiveState.Live -> {
                val track by media.video.collectAsStateWithLifecycle()
                AndroidView(
                    factory = { TextureViewRenderer(it).also(media::initRenderer) },
                    update = { view -> track?.addRenderer(view) },
                    onRelease = { view -> track?.removeRenderer(view) },
                    modifier = Modifier.fillMaxWidth().aspectRatio(16f / 9f),
                )
            }
            else -> {}
        }
        room?.let { r ->
            Text("举手 ${r.hands.size} 人 · 台上 ${r.onStage.size} 人")
            r.chat.takeLast(5).forEach { Text(it.text) }
        }
        val scope = rememberCoroutineScope()
        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            // Refusals (the lead has no hand to raise, offline) come back as typed errors.
            Button(onClick = { scope.launch { runCatching { session?.raiseHand() } } }) { Text("举手") }
            TextButton(onClick = { session?.leave(); onLeave() }) { Text("离开课堂") }
        }
    }
}

private fun isMetered(context: Context): Boolean =
    context.getSystemService(ConnectivityManager::class.java)?.isActiveNetworkMetered ?: true

fun liveStateText(state: LiveState, rendition: RenditionChoice?): String = when (state) {
    LiveState.Joining -> "正在进入课堂…"
    is LiveState.Live -> when {
        !state.videoEnabled -> "直播中（网络较差，只听声音）"
        state.canPublish -> "直播中（你在台上）"
        else -> "直播中"
    }
    is LiveState.Reconnecting -> "网络中断，正在重连（第 ${state.attempt} 次）"
    is LiveState.FallbackToBroadcast -> when {
        rendition == null -> "观看直播流"
        rendition.reason == RenditionReason.DATA_SAVER && rendition.audioOnly -> "省流量：只听声音"
        rendition.audioOnly -> "网络较差：只听声音"
        else -> "观看直播流"
    }
    is LiveState.Ended -> "课堂已结束"
}
