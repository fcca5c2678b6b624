// A live lesson as a Kotlin Flow: collecting joins the lesson, the first update carries the
// session (to forward the LiveKit SDK's events and the player's throughput to it, and for the
// room's calls), then every state, broadcast rendition and room the core reports; cancelling
// the collector leaves the lesson.
//
// Pure Kotlin (no android.*): compiled and tested on the JVM in CI.
package org.lianxiao.core.ktx

import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import org.lianxiao.core.LiveInterface
import org.lianxiao.core.LiveListener
import org.lianxiao.core.LiveRoom
import org.lianxiao.core.LiveSession
import org.lianxiao.core.LiveState
import org.lianxiao.core.MediaSession
import org.lianxiao.core.RenditionChoice

/** What the lesson screen hears from a joined lesson. */
public sealed interface LiveUpdate {
    /** First: the running session, for `mediaEvent`, `reportThroughput` and `setMetered`. */
    public data class Joined(val session: LiveSession) : LiveUpdate

    /** The session's state: `Joining` first, then every change; `Ended` is the last. */
    public data class State(val state: LiveState) : LiveUpdate

    /** While watching the broadcast: the rendition to play (the same URL: keep playing). */
    public data class Rendition(val choice: RenditionChoice) : LiveUpdate

    /** The lesson's room (hands, stage, chat, quiz): at once, then after every change. */
    public data class Room(val room: LiveRoom) : LiveUpdate
}

/**
 * Joins [lessonId] with the shell's [media] engine while collected. Not conflated: every
 * update is delivered in order, so the screen never misses the end of the lesson. The flow
 * completes after `Ended`; cancelling it leaves the lesson and frees the session.
 */
public fun LiveInterface.lesson(lessonId: String, media: MediaSession): Flow<LiveUpdate> =
    callbackFlow {
        // The core may call the listener before `join` returns (on its own threads): hold
        // those updates until `Joined` went out, so the session always comes first.
        val lock = Any()
        val held = ArrayList<LiveUpdate>()
        var joined = false
        fun deliver(update: LiveUpdate) {
            trySend(update)
            if (update is LiveUpdate.State && update.state is LiveState.Ended) channel.close()
        }
        fun offer(update: LiveUpdate) = synchronized(lock) {
            if (joined) deliver(update) else held += update
        }
        val session = join(
            lessonId,
            media,
            object : LiveListener {
                override fun onState(state: LiveState) = offer(LiveUpdate.State(state))
                override fun onRendition(choice: RenditionChoice) = offer(LiveUpdate.Rendition(choice))
                override fun onRoom(room: LiveRoom) = offer(LiveUpdate.Room(room))
            },
        )
        synchronized(lock) {
            trySend(LiveUpdate.Joined(session))
            held.forEach(::deliver)
            held.clear()
            joined = true
        }
        awaitClose {
            session.leave()
            session.close()
        }
    }.buffer(Channel.UNLIMITED)
