// The core's MediaSession on the LiveKit Android SDK: the core says what to do (connect with
// the ticket's token, camera and microphone on when on stage, audio only on a poor network),
// this does it with the SDK and reports the SDK's events back. No decisions here: when to
// reconnect, drop video or fall back to the broadcast is the core's policy.
package org.lianxiao.sample

import android.content.Context
import io.livekit.android.LiveKit
import io.livekit.android.RoomOptions
import io.livekit.android.events.RoomEvent
import io.livekit.android.events.collect
import io.livekit.android.renderer.TextureViewRenderer
import io.livekit.android.room.Room
import io.livekit.android.room.track.RemoteTrackPublication
import io.livekit.android.room.track.Track
import io.livekit.android.room.track.VideoTrack
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.launch
import org.lianxiao.core.DisconnectReason
import org.lianxiao.core.LiveSession
import org.lianxiao.core.MediaEvent
import org.lianxiao.core.MediaSession
import org.lianxiao.core.VideoQuality
import io.livekit.android.events.DisconnectReason as LkDisconnectReason
import io.livekit.android.room.participant.ConnectionQuality as LkQuality
import io.livekit.android.room.track.VideoQuality as LkVideoQuality
import org.lianxiao.core.ConnectionQuality as CoreQuality

class LiveKitMediaSession(context: Context) : MediaSession, AutoCloseable {
    // Main thread: the SDK's calls are made from one thread, in the order the core asked.
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.Main.immediate)

    // Adaptive stream: subscribed video follows the size of the view showing it, and pauses
    // while nothing shows it. Dynacast: the teacher's phone stops encoding layers nobody
    // watches. Both are off by default in the SDK; on a shared rural line they matter.
    val room: Room = LiveKit.create(
        context.applicationContext,
        RoomOptions(adaptiveStream = true, dynacast = true),
    )

    // The core may call `connect` before `join` has handed the session back: events wait
    // for it in order.
    private val session = CompletableDeferred<LiveSession>()
    private val events = Channel<MediaEvent>(Channel.UNLIMITED)

    private val _video = MutableStateFlow<VideoTrack?>(null)

    /** The teacher's (or the class on stage's) video, for the lesson screen to render. */
    val video: StateFlow<VideoTrack?> = _video.asStateFlow()

    @Volatile
    private var videoEnabled = true

    init {
        scope.launch {
            val s = session.await()
            for (event in events) s.mediaEvent(event)
        }
        scope.launch { room.events.collect { onRoomEvent(it) } }
    }

    /** Hands over the session `Live.join` returned; events flow to it from now on. */
    fun attach(liveSession: LiveSession) {
        session.complete(liveSession)
    }

    fun initRenderer(renderer: TextureViewRenderer) = room.initVideoRenderer(renderer)

    // --- what the core asks ---------------------------------------------------------------

    override fun connect(url: String, token: String) {
        scope.launch {
            try {
                room.connect(url, token)
            } catch (e: Exception) {
                // The core decides what a failed connect means (retry, rejoin, broadcast).
                events.trySend(MediaEvent.Disconnected(DisconnectReason.Network))
            }
        }
    }

    override fun disconnect() {
        scope.launch { room.disconnect() }
    }

    override fun setCamera(on: Boolean) {
        scope.launch { runCatching { room.localParticipant.setCameraEnabled(on) } }
    }

    override fun setMicrophone(on: Boolean) {
        scope.launch { runCatching { room.localParticipant.setMicrophoneEnabled(on) } }
    }

    override fun setVideoQuality(quality: VideoQuality) {
        val lk = when (quality) {
            VideoQuality.LOW -> LkVideoQuality.LOW
            VideoQuality.MEDIUM -> LkVideoQuality.MEDIUM
            VideoQuality.HIGH -> LkVideoQuality.HIGH
        }
        // With adaptive stream the SDK manages the layer of a track shown in a view and ignores
        // this; it still caps tracks that are not shown.
        scope.launch { remoteVideo().forEach { it.setVideoQuality(lk) } }
    }

    override fun setVideoEnabled(enabled: Boolean) {
        videoEnabled = enabled
        // Audio only: unsubscribe from video altogether, so no video bytes come down at all
        // (disabling alone is ignored for tracks adaptive stream manages).
        scope.launch {
            remoteVideo().forEach { it.setSubscribed(enabled) }
            if (!enabled) _video.value = null
        }
    }

    override fun close() {
        room.disconnect()
        room.release()
        events.close()
        scope.cancel()
    }

    private fun remoteVideo(): List<RemoteTrackPublication> =
        room.remoteParticipants.values.flatMap { p ->
            p.trackPublications.values.filterIsInstance<RemoteTrackPublication>()
                .filter { it.kind == Track.Kind.VIDEO }
        }

    // --- what the SDK reports --------------------------------------------------------------

    private fun onRoomEvent(event: RoomEvent) {
        val reported: MediaEvent? = when (event) {
            is RoomEvent.Connected -> MediaEvent.Connected
            is RoomEvent.Reconnecting -> MediaEvent.Reconnecting
            is RoomEvent.Reconnected -> MediaEvent.Reconnected
            is RoomEvent.Disconnected -> MediaEvent.Disconnected(reason(event.reason))
            is RoomEvent.FailedToConnect -> MediaEvent.Disconnected(DisconnectReason.Network)
            is RoomEvent.TrackSubscribed -> {
                val track = event.track
                if (track is VideoTrack) {
                    // Subscribed while audio only (a new publication): drop it again.
                    val publication = event.publication as? RemoteTrackPublication
                    if (!videoEnabled) publication?.setSubscribed(false) else _video.value = track
                }
                MediaEvent.TrackSubscribed
            }
            is RoomEvent.TrackUnsubscribed -> {
                if (event.track == _video.value) _video.value = null
                null
            }
            is RoomEvent.TrackStreamStateChanged ->
                if (event.streamState == Track.StreamState.PAUSED) MediaEvent.StreamPaused else null
            is RoomEvent.ConnectionQualityChanged ->
                if (event.participant == room.localParticipant) quality(event.quality) else null
            is RoomEvent.ParticipantPermissionsChanged ->
                if (event.participant == room.localParticipant) {
                    MediaEvent.PermissionsChanged(event.newPermissions?.canPublish ?: false)
                } else {
                    null
                }
            else -> null
        }
        reported?.let { events.trySend(it) }
    }

    private fun quality(q: LkQuality): MediaEvent? = when (q) {
        LkQuality.EXCELLENT -> CoreQuality.EXCELLENT
        LkQuality.GOOD -> CoreQuality.GOOD
        LkQuality.POOR -> CoreQuality.POOR
        LkQuality.LOST -> CoreQuality.LOST
        LkQuality.UNKNOWN -> null
    }?.let { MediaEvent.ConnectionQuality(it) }

    private fun reason(r: LkDisconnectReason): DisconnectReason = when (r) {
        LkDisconnectReason.CLIENT_INITIATED -> DisconnectReason.ClientInitiated
        LkDisconnectReason.PARTICIPANT_REMOVED -> DisconnectReason.Kicked
        LkDisconnectReason.ROOM_DELETED, LkDisconnectReason.ROOM_CLOSED -> DisconnectReason.RoomClosed
        LkDisconnectReason.DUPLICATE_IDENTITY -> DisconnectReason.DuplicateIdentity
        LkDisconnectReason.SERVER_SHUTDOWN, LkDisconnectReason.SIGNAL_CLOSE,
        LkDisconnectReason.CONNECTION_TIMEOUT, LkDisconnectReason.JOIN_FAILURE,
        LkDisconnectReason.MEDIA_FAILURE, LkDisconnectReason.MIGRATION,
        LkDisconnectReason.STATE_MISMATCH,
        -> DisconnectReason.Network
        else -> DisconnectReason.Other(r.name)
    }
}
