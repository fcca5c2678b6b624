// The replay tab: the replays the account may watch (per child for parents), a player that
// opens what the core says (the downloaded copy, or the signed stream) and reports progress,
// and the downloads with their progress and the storage cap. Everything comes from the core's
// streams; the shell only draws and hosts AVPlayer.
import AVKit
import Lianxiao
import LianxiaoKit
import SwiftUI

private let mib: UInt64 = 1024 * 1024

struct ReplayTabView: View {
    let client: Client
    @State private var replays: [ReplayView] = []
    @State private var children: [Child] = []
    @State private var childId: String?
    @State private var error: String?

    var body: some View {
        NavigationView {
            List {
                if children.count > 1 {
                    Picker("孩子", selection: $childId) {
                        Text("全部").tag(String?.none)
                        ForEach(children, id: \.id) { Text($0.name).tag(Optional($0.id)) }
                    }
                    .pickerStyle(.segmented)
                }
                if let error { Text(error).foregroundColor(.red) }
                ForEach(replays, id: \.replay.id) { view in
                    ReplayRow(view: view, client: client, onDownload: { download(view.replay.id) })
                }
            }
            .navigationTitle("回放")
            .toolbar {
                NavigationLink("我的下载") { DownloadsView(replays: client.replays()) }
            }
        }
        .task { children = (try? await client.children()) ?? [] }
        // Restarted when the child changes: a new subscription with the new filter.
        .task(id: childId) {
            for await list in client.replays().stream(ReplayFilter(childId: childId)) { replays = list }
        }
    }

    private func download(_ id: String) {
        Task {
            do {
                _ = try await client.replays().download(replayId: id, rendition: "low")
                error = nil
            } catch LianxiaoError.Validation(let field, _) where field == "storage_cap" {
                error = "空间不够：请先删除一些下载，或调高上限"
            } catch let e as LianxiaoError {
                error = errorText(e.code)
            } catch {}
        }
    }
}

struct ReplayRow: View {
    let view: ReplayView
    let client: Client
    let onDownload: () -> Void

    var body: some View {
        let r = view.replay
        VStack(alignment: .leading, spacing: 4) {
            Text("\(r.subject) · \(r.title)")
            if let place = view.place {
                Text("看到 \(clock(place.positionMs))，已看 \(clock(place.watchedMs))").font(.caption)
            }
            switch r.status {
            case .approved:
                HStack {
                    NavigationLink(view.download?.state == .done ? "播放（离线）" : "播放") {
                        ReplayPlayerView(replays: client.replays(), replayId: r.id)
                    }
                    Spacer()
                    if let d = view.download { Text(downloadText(d)).font(.caption) }
                    else { Button("下载", action: onDownload).buttonStyle(.borderless) }
                }
            case .processing: Text("转码中 \(r.progressPercent ?? 0)%")
            case .pendingReview: Text("等待学校审核")
            case .rejected: Text("未通过审核：\(r.review?.reason ?? "")")
            case .failed: Text("处理失败")
            }
        }
    }
}

/// Plays what the core hands over and tells it how far the person got, every few seconds.
struct ReplayPlayerView: View {
    let replays: Replays
    let replayId: String
    @State private var player = AVPlayer()
    @State private var error: String?

    var body: some View {
        VStack {
            if let error { Text(error) }
            VideoPlayer(player: player).aspectRatio(16 / 9, contentMode: .fit)
        }
        .task { await play() }
        .onDisappear {
            report(playedMs: 0)
            player.pause()
        }
    }

    private func play() async {
        do {
            let playback = try await replays.play(replayId: replayId)
            // A downloaded copy is a file:// URL of a local HLS playlist; AVPlayer plays both.
            guard let url = URL(string: playback.url) else { return }
            player.replaceCurrentItem(with: AVPlayerItem(url: url))
            await player.seek(to: CMTime(value: playback.positionMs, timescale: 1000))
            player.play()
        } catch let e as LianxiaoError {
            error = errorText(e.code) // Offline and not downloaded: nothing to play.
            return
        } catch { return }
        // Monotonic (the phone's clock may be wrong or change); iOS 15 has no ContinuousClock.
        var tick = ProcessInfo.processInfo.systemUptime
        while !Task.isCancelled {
            try? await Task.sleep(nanoseconds: 10_000_000_000)
            let now = ProcessInfo.processInfo.systemUptime
            if player.rate > 0 { report(playedMs: Int64((now - tick) * 1000)) }
            tick = now
        }
    }

    private func report(playedMs: Int64) {
        let position = Int64(player.currentTime().seconds.isFinite ? player.currentTime().seconds * 1000 : 0)
        // Recorded on the phone at once, offline too; the core sends it once.
        Task { try? await replays.reportProgress(replayId: replayId, positionMs: position, playedMs: playedMs) }
    }
}

struct DownloadsView: View {
    let replays: Replays
    @State private var downloads: [DownloadStatus] = []
    @State private var titles: [String: String] = [:]
    @State private var storage: StorageUse?

    var body: some View {
        List {
            if let s = storage {
                Section {
                    Text("已用 \(s.reservedBytes / mib) MB / 上限 \(s.capBytes / mib) MB")
                    ProgressView(value: min(s.fraction, 1))
                    HStack {
                        ForEach([1, 2, 4] as [UInt64], id: \.self) { gib in
                            Button("上限 \(gib)G") {
                                Task {
                                    try? await replays.setStorageCapBytes(bytes: gib * 1024 * mib)
                                    storage = try? await replays.storage()
                                }
                            }
                            .buttonStyle(.borderless)
                        }
                    }
                }
            }
            ForEach(downloads, id: \.replayId) { d in
                VStack(alignment: .leading, spacing: 4) {
                    Text(titles[d.replayId] ?? d.replayId)
                    ProgressView(value: d.fraction)
                    Text(downloadText(d)).font(.caption)
                    HStack {
                        switch d.state {
                        case .queued, .downloading:
                            Button("暂停") { Task { try? await replays.pauseDownload(replayId: d.replayId) } }
                        case .paused, .failed:
                            Button("继续") { Task { try? await replays.resumeDownload(replayId: d.replayId) } }
                        case .done: EmptyView()
                        }
                        Spacer()
                        Button("删除", role: .destructive) {
                            Task { try? await replays.deleteDownload(replayId: d.replayId) }
                        }
                    }
                    .buttonStyle(.borderless)
                }
            }
        }
        .navigationTitle("我的下载")
        .task {
            for await list in replays.stream() {
                titles = Dictionary(list.map { ($0.replay.id, $0.replay.title) }, uniquingKeysWith: { a, _ in a })
            }
        }
        .task {
            for await list in replays.downloadsStream() {
                downloads = list
                // What the downloads hold changes with them.
                storage = try? await replays.storage()
            }
        }
    }
}

private func clock(_ ms: Int64) -> String { String(format: "%d:%02d", ms / 60_000, (ms / 1000) % 60) }

private func downloadText(_ d: DownloadStatus) -> String {
    let percent = Int(d.fraction * 100)
    switch d.state {
    case .queued: return d.attempts > 0 ? "等待重试" : "排队中"
    case .downloading: return "下载中 \(percent)%"
    case .paused: return "已暂停 \(percent)%"
    case .done: return "已下载 \(d.bytesTotal / mib) MB"
    case .failed: return "下载失败：\(d.error.map { errorText($0.code) } ?? "")"
    }
}
