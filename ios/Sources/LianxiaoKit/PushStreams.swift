// Push notifications in Swift: an AsyncStream over an account's badge (unread notices; the
// core sends the current count first, then every change, from its worker threads; each
// stream owns its subscription), and the push's data as the core reads it.
import Lianxiao

public extension NotificationsProtocol {
    /// The account's unread count: at once, then after every change. Only the newest is
    /// buffered. The same number the server's pushes carry as `badge`.
    ///
    /// ```swift
    /// for await unread in client.notifications().badgeStream() { self.badge = Int(unread) }
    /// ```
    func badgeStream() -> AsyncStream<UInt32> {
        AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let handle = subscribeBadge(listener: BadgeRelay(continuation))
            continuation.onTermination = { _ in handle.cancel() }
        }
    }
}

/// A notification's `userInfo` as the core reads it: Lianxiao's keys next to `aps`, every
/// value as a string (APNs sends `badge` as a number).
public func pushData(_ userInfo: [AnyHashable: Any]) -> [String: String] {
    var data: [String: String] = [:]
    for (key, value) in userInfo {
        guard let key = key as? String, key != "aps" else { continue }
        data[key] = "\(value)"
    }
    return data
}

/// Called by the core on its worker threads; `Continuation.yield` is thread-safe.
final class BadgeRelay: BadgeListener, @unchecked Sendable {
    private let continuation: AsyncStream<UInt32>.Continuation
    init(_ continuation: AsyncStream<UInt32>.Continuation) { self.continuation = continuation }
    func onBadge(accountId: String, unread: UInt32) { continuation.yield(unread) }
}
