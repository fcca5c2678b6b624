// AsyncStream over the account's notification settings: the core sends the current settings
// first, then again after every change (sync from another phone, a change on this one, the
// server's answer), from its worker threads; each stream owns its subscription and cancels
// it when iteration ends.
import Lianxiao

public extension NotificationSettingsHandleProtocol {
    /// The settings as the screen shows them (a change made here over the server's copy, with
    /// `pending` until the server confirms it): at once, then after every change. Only the
    /// newest is buffered.
    ///
    /// ```swift
    /// for await view in client.notificationSettings().stream() { self.settings = view }
    /// ```
    func stream() -> AsyncStream<SettingsView> {
        AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let handle = subscribe(listener: SettingsRelay(continuation))
            continuation.onTermination = { _ in handle.cancel() }
        }
    }
}

public extension SettingsView {
    /// The kinds for one child (students and teachers: their own id); nil if not listed.
    func kinds(of childId: String) -> NotificationKinds? {
        settings.children.first { $0.childId == childId }?.kinds
    }
}

/// Called by the core on its worker threads; `Continuation.yield` is thread-safe.
final class SettingsRelay: NotificationSettingsListener, @unchecked Sendable {
    private let continuation: AsyncStream<SettingsView>.Continuation
    init(_ continuation: AsyncStream<SettingsView>.Continuation) { self.continuation = continuation }
    func onSettings(view: SettingsView) { continuation.yield(view) }
}
