// AsyncStream over the core's listener subscriptions. The core sends the current value first,
// then every change, from its own worker threads; each stream owns its subscription and
// cancels it when iteration ends (break, task cancellation, or the stream being dropped).
import Lianxiao

public extension NoticeFilter {
    /// Unread notices first, then newest first, for every child: the notice screen's order.
    static let unreadFirst = NoticeFilter(childId: nil, unreadFirst: true)
}

public extension NoticesProtocol {
    /// The notices matching `filter`: the current list at once, then the whole list after
    /// every change. Each element is a complete snapshot, so only the newest is buffered.
    ///
    /// ```swift
    /// for await list in client.notices().stream(.unreadFirst) { self.notices = list }
    /// ```
    func stream(_ filter: NoticeFilter = .unreadFirst) -> AsyncStream<[NoticeView]> {
        AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let handle = subscribe(filter: filter, listener: NoticeRelay(continuation))
            continuation.onTermination = { _ in handle.cancel() }
        }
    }
}

public extension ClientProtocol {
    /// Offline, connecting, online or sign-in expired: the current state at once, then each
    /// change; only the newest is buffered.
    func stateStream() -> AsyncStream<ClientState> {
        AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let handle = subscribeState(listener: StateRelay(continuation))
            continuation.onTermination = { _ in handle.cancel() }
        }
    }
}

/// Called by the core on its worker threads; `Continuation.yield` is thread-safe.
final class NoticeRelay: NoticeListener, @unchecked Sendable {
    private let continuation: AsyncStream<[NoticeView]>.Continuation
    init(_ continuation: AsyncStream<[NoticeView]>.Continuation) { self.continuation = continuation }
    func onNotices(notices: [NoticeView]) { continuation.yield(notices) }
}

final class StateRelay: StateListener, @unchecked Sendable {
    private let continuation: AsyncStream<ClientState>.Continuation
    init(_ continuation: AsyncStream<ClientState>.Continuation) { self.continuation = continuation }
    func onState(state: ClientState) { continuation.yield(state) }
}
