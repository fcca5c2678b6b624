// The core's MediaSession on the LiveKit Swift SDK: the core says what to do (connect with the
// ticket's token, camera and microphone on when on stage, audio only on a poor network), this
// does it with the SDK and reports the SDK's events back. No decisions here: when to
// reconnect, drop video or fall back to the broadcast is the core's policy.
import Foundation
import Lianxiao
import LiveKit

final class LiveKitMediaSession: NSObject, MediaSession, RoomDelegate, ObservableObject, @unchecked Sendable {
    // Adaptive stream: subscribed video follows the size of the view showing it, and pauses
    // while nothing shows it. Dynacast: the teacher's phone stops encoding layers nobody
    // watches. Both are off by default in the SDK; on a shared rural line they matter.
    let room = Room(roomOptions: RoomOptions(adaptiveStream: true, dynacast: true))

    /// The teacher's (or the class on stage's) video, for the lesson screen to render.
    @MainActor @Published private(set) var video: VideoTrack?

    // The core may call `connect` before `join` has handed the session back: events wait for
    // it, in order, on one serial task chain.
    private let lock = NSLock()
    private var session: LiveSession?
    private var held: [MediaEvent] = []
    private var videoEnabled = true

    override init() {
        super.init()
        room.add(delegate: self)
    }

    /// Hands over the session `Live.join` returned; events flow to it from now on.
    func attach(_ liveSession: LiveSession) {
        lock.lock()
        session = liveSession
        let pending = held
        held = []
        lock.unlock()
        pending.forEach { liveSession.mediaEvent(event: $0) }
    }

    private func report(_ event: MediaEvent) {
        lock.lock()
        guard let session else {
            held.append(event)
            lock.unlock()
            return
        }
        lock.unlock()
        session.mediaEvent(event: event)
    }

    // MARK: - What the core asks (on its worker threads; return at once)

    func connect(url: String, token: String) {
        Task {
            do {
                try await room.connect(url: url, token: token)
            } catch {
                // The core decides what a failed connect means (retry, rejoin, broadcast).
                report(.disconnected(reason: .network))
            }
        }
    }

    func disconnect() {
        Task { await room.disconnect() }
    }

    func setCamera(on: Bool) {
        Task { try? await room.localParticipant.setCamera(enabled: on) }
    }

    func setMicrophone(on: Bool) {
        Task { try? await room.localParticipant.setMicrophone(enabled: on) }
    }

    func setVideoQuality(quality: Lianxiao.VideoQuality) {
        let lk: LiveKit.VideoQuality = switch quality {
        case .low: .low
        case .medium: .medium
        case .high: .high
        }
        // With adaptive stream the SDK manages the layer of a track shown in a view and
        // ignores this; it still caps tracks that are not shown.
        Task { for publication in remoteVideo() { try? await publication.set(videoQuality: lk) } }
    }

    func setVideoEnabled(enabled: Bool) {
        lock.lock()
        videoEnabled = enabled
        lock.unlock()
        // Audio only: unsubscribe from video altogether, so no video bytes come down at all.
        Task {
            for publication in remoteVideo() { try? await publication.set(subscribed: enabled) }
            if !enabled { await MainActor.run { self.video = nil } }
        }
    }

    private func remoteVideo() -> [RemoteTrackPublication] {
        room.remoteParticipants.values.flatMap { participant in
            participant.trackPublications.values
                .compactMap { $0 as? RemoteTrackPublication }
                .filter { $0.kind == .video }
        }
    }

    // MARK: - What the SDK reports

    func roomDidConnect(_: Room) { report(.connected) }

    func roomIsReconnecting(_: Room) { report(.reconnecting) }

    func roomDidReconnect(_: Room) { report(.reconnected) }

    func room(_: Room, didFailToConnectWithError _: LiveKitError?) {
        report(.disconnected(reason: .network))
    }

    func room(_: Room, didDisconnectWithError error: LiveKitError?) {
        report(.disconnected(reason: Self.reason(error)))
    }

    func room(_ room: Room, participant: Participant, didUpdateConnectionQuality quality: LiveKit.ConnectionQuality) {
        guard participant === room.localParticipant else { return }
        let core: Lianxiao.ConnectionQuality? = switch quality {
        case .excellent: .excellent
        case .good: .good
        case .poor: .poor
        case .lost: .lost
        case .unknown: nil
        @unknown default: nil
        }
        if let core { report(.connectionQuality(quality: core)) }
    }

    func room(_ room: Room, participant: Participant, didUpdatePermissions permissions: ParticipantPermissions) {
        guard participant === room.localParticipant else { return }
        report(.permissionsChanged(canPublish: permissions.canPublish))
    }

    func room(_: Room, participant _: RemoteParticipant, didSubscribeTrack publication: RemoteTrackPublication) {
        if let track = publication.track as? VideoTrack {
            lock.lock()
            let enabled = videoEnabled
            lock.unlock()
            if enabled {
                Task { @MainActor in self.video = track }
            } else {
                // Subscribed while audio only (a new publication): drop it again.
                Task { try? await publication.set(subscribed: false) }
            }
        }
        report(.trackSubscribed)
    }

    func room(_: Room, participant _: RemoteParticipant, didUnsubscribeTrack publication: RemoteTrackPublication) {
        guard publication.kind == .video else { return }
        Task { @MainActor in self.video = nil }
    }

    func room(_: Room, participant _: RemoteParticipant, trackPublication _: RemoteTrackPublication, didUpdateStreamState streamState: LiveKit.StreamState) {
        if streamState == .paused { report(.streamPaused) }
    }

    private static func reason(_ error: LiveKitError?) -> Lianxiao.DisconnectReason {
        guard let error else { return .clientInitiated }
        switch error.type {
        case .cancelled: return .clientInitiated
        case .participantRemoved: return .kicked
        case .roomDeleted: return .roomClosed
        case .duplicateIdentity: return .duplicateIdentity
        case .network, .timedOut, .serverPingTimedOut, .serverShutdown, .joinFailure, .stateMismatch, .webRTC:
            return .network
        default: return .other(message: String(describing: error.type))
        }
    }
}
