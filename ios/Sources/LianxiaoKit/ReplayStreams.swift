// AsyncStream over the replay list and its downloads, like the homework stream: the core sends
// the current list first, then the whole list after every change (sync, a watch position, a
// download's progress a few times a second), from its worker threads; each stream owns its
// subscription and cancels it when iteration ends.
import Lianxiao

public extension ReplayFilter {
    /// Every replay the account may watch (a parent: every child's).
    static let all = ReplayFilter(childId: nil)
}

public extension ReplaysProtocol {
    /// The replays matching `filter`, newest lesson first: the current list at once, then the
    /// whole list after every change. Only the newest list is buffered.
    ///
    /// ```swift
    /// for await list in client.replays().stream() { self.replays = list }
    /// ```
    func stream(_ filter: ReplayFilter = .all) -> AsyncStream<[ReplayView]> {
        AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let handle = subscribe(filter: filter, listener: ReplayRelay(continuation))
            continuation.onTermination = { _ in handle.cancel() }
        }
    }

    /// One replay, for its player screen: nil until it is on the phone; an element only when
    /// its view changed.
    func stream(replayId: String) -> AsyncStream<ReplayView?> {
        distinct(stream()) { list in list.first { $0.replay.id == replayId } }
    }

    /// The downloads with their progress, for the downloads screen, in the list's order; an
    /// element only when a download changed.
    func downloadsStream() -> AsyncStream<[DownloadStatus]> {
        distinct(stream()) { list in list.compactMap(\.download) }
    }

    /// One replay's download: nil while there is none (never started, or deleted).
    func downloadStream(replayId: String) -> AsyncStream<DownloadStatus?> {
        distinct(stream()) { list in list.first { $0.replay.id == replayId }?.download }
    }
}

/// `lists` mapped through `pick`, passing on only values that differ from the last one.
private func distinct<T: Equatable>(
    _ lists: AsyncStream<[ReplayView]>,
    _ pick: @escaping @Sendable ([ReplayView]) -> T
) -> AsyncStream<T> {
    AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
        let task = Task {
            var last: T?
            for await list in lists {
                let value = pick(list)
                if last != value {
                    last = value
                    continuation.yield(value)
                }
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
    }
}

public extension DownloadStatus {
    /// Share of the rendition on the phone, 0 to 1, for a progress bar.
    var fraction: Double { bytesTotal == 0 ? 0 : Double(bytesDone) / Double(bytesTotal) }
}

public extension StorageUse {
    /// Share of the cap the downloads hold (above 1 when the cap was lowered).
    var fraction: Double { capBytes == 0 ? 1 : Double(reservedBytes) / Double(capBytes) }
}

/// Called by the core on its worker threads; `Continuation.yield` is thread-safe.
final class ReplayRelay: ReplayListener, @unchecked Sendable {
    private let continuation: AsyncStream<[ReplayView]>.Continuation
    init(_ continuation: AsyncStream<[ReplayView]>.Continuation) { self.continuation = continuation }
    func onReplays(replays: [ReplayView]) { continuation.yield(replays) }
}
