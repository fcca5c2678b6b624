// The live tab: today's lessons, and a lesson joined through the core. Interactive lessons play
// in LiveKit (LiveKitMediaSession); a broadcast, or a room the network cannot carry, plays in
// AVPlayer the rendition the core picked, fed the player's observed bitrate.
import AVKit
import Lianxiao
import LianxiaoKit
import LiveKit
import Network
import SwiftUI

struct LiveTabView: View {
    let client: Client
    @State private var today: [Lesson] = []
    @State private var dataSaver = false
    @State private var joined: String?

    var body: some View {
        NavigationView {
            List {
                Toggle("省流量（移动网络只听声音）", isOn: $dataSaver)
                    .onChange(of: dataSaver) { on in Task { try? await client.live().setDataSaver(on: on) } }
                ForEach(today, id: \.id) { lesson in
                    NavigationLink("\(lesson.subject) · \(lesson.title)") {
                        LiveLessonView(client: client, lessonId: lesson.id)
                    }
                }
            }
            .navigationTitle("直播")
        }
        .task { dataSaver = (try? await client.live().dataSaver()) ?? false }
        .task { for await snapshot in client.timetable().stream() { today = snapshot.today } }
    }
}

struct LiveLessonView: View {
    let client: Client
    let lessonId: String
    @StateObject private var media = LiveKitMediaSession()
    @State private var state: LiveState = .joining
    @State private var rendition: RenditionChoice?
    @State private var room: LiveRoom?
    @State private var session: LiveSession?
    @State private var player = AVPlayer()

    var body: some View {
        VStack(spacing: 12) {
            Text(liveStateText(state, rendition))
            switch state {
            case .fallbackToBroadcast:
                VideoPlayer(player: player).aspectRatio(16 / 9, contentMode: .fit)
            case .live:
                if let track = media.video {
                    SwiftUIVideoView(track).aspectRatio(16 / 9, contentMode: .fit)
                }
            default:
                EmptyView()
            }
            if let room {
                Text("举手 \(room.hands.count) 人 · 台上 \(room.onStage.count) 人")
                ForEach(room.chat.suffix(5), id: \.id) { Text($0.text) }
            }
            // Refusals (the lead has no hand to raise, offline) come back as typed errors.
            Button("举手") { Task { try? await session?.raiseHand() } }
        }
        .padding()
        // The task's lifetime is the lesson's: leaving the screen cancels it, which leaves.
        .task { await follow() }
        .onDisappear { player.pause() }
    }

    private func follow() async {
        let lesson = client.live().lesson(lessonId, media: media)
        session = lesson.session
        media.attach(lesson.session)
        lesson.session.setMetered(metered: await isMetered())
        let samples = Task { await reportThroughput(to: lesson.session) }
        defer { samples.cancel() }
        for await update in lesson.updates {
            switch update {
            case let .state(new):
                state = new
            case let .rendition(choice):
                // Same URL (only the reason changed): keep playing.
                if choice.url != rendition?.url, let url = URL(string: choice.url) {
                    player.replaceCurrentItem(with: AVPlayerItem(url: url))
                    player.play()
                }
                rendition = choice
            case let .room(new):
                room = new
            }
        }
    }

    /// Every access-log entry AVPlayer adds (a segment fetched) is a throughput sample.
    private func reportThroughput(to session: LiveSession) async {
        for await note in NotificationCenter.default.notifications(named: .AVPlayerItemNewAccessLogEntry) {
            guard let item = note.object as? AVPlayerItem, item === player.currentItem,
                  let entry = item.accessLog()?.events.last, entry.observedBitrate > 0
            else { continue }
            session.reportThroughput(bitsPerSecond: UInt64(entry.observedBitrate))
        }
    }

    /// Cellular or a personal hotspot counts as mobile data (`isExpensive`).
    private func isMetered() async -> Bool {
        await withCheckedContinuation { continuation in
            let monitor = NWPathMonitor()
            // A serial queue: the handler may run more than once before `cancel` takes.
            var answered = false
            monitor.pathUpdateHandler = { path in
                guard !answered else { return }
                answered = true
                monitor.cancel()
                continuation.resume(returning: path.isExpensive)
            }
            monitor.start(queue: DispatchQueue(label: "org.lianxiao.sample.metered"))
        }
    }
}

func liveStateText(_ state: LiveState, _ rendition: RenditionChoice?) -> String {
    switch state {
    case .joining: return "正在进入课堂…"
    case let .live(_, videoEnabled, canPublish):
        if !videoEnabled { return "直播中（网络较差，只听声音）" }
        return canPublish ? "直播中（你在台上）" : "直播中"
    case let .reconnecting(attempt): return "网络中断，正在重连（第 \(attempt) 次）"
    case .fallbackToBroadcast:
        guard let rendition, rendition.audioOnly else { return "观看直播流" }
        return rendition.reason == .dataSaver ? "省流量：只听声音" : "网络较差：只听声音"
    case .ended: return "课堂已结束"
    }
}
