// Screen state for the sample: which account is open and the calls the buttons make. Every
// decision (what is unread, what is pending, retries) is the core's; this only forwards.
import Foundation
import Lianxiao
import LianxiaoKit

/// The open account: its client, notices and network monitor, let go together.
final class Session {
    let client: Client
    let notices: Notices
    let userId: String
    private let reachability: PathMonitorReachability

    init(client: Client) {
        self.client = client
        notices = client.notices()
        userId = client.userId()
        reachability = PathMonitorReachability(client: client)
        client.start()
    }

    func end() {
        reachability.cancel()
        client.stop()
    }
}

@MainActor
final class AppModel: ObservableObject {
    @Published private(set) var session: Session?
    @Published private(set) var accounts: [AccountInfo] = []
    @Published private(set) var notices: [NoticeView] = []
    @Published private(set) var state: ClientState = .offline
    @Published private(set) var busy = false
    /// The last error's stable code; nil when there is none to show.
    @Published var errorCode: String?

    private let core: Accounts?
    private var streams: [Task<Void, Never>] = []

    init(serverURL: String) {
        do {
            core = try LianxiaoKit.initialize(serverURL: serverURL)
        } catch {
            core = nil
            errorCode = "internal"
        }
        perform { try await self.open(self.core?.active()) }
    }

    func signIn(login: String, password: String) {
        perform { try await self.open(self.core?.signIn(login: login, password: password)) }
    }

    func switchTo(userId: String) {
        perform { try await self.open(self.core?.switchTo(userId: userId)) }
    }

    func signOut() {
        guard let current = session else { return }
        perform {
            try await self.open(nil)
            try await self.core?.signOut(userId: current.userId)
            try await self.open(self.core?.active())
        }
    }

    func markRead(_ id: String) {
        perform { _ = try await self.session?.notices.markRead(id: id) }
    }

    func acknowledge(_ id: String) {
        perform { _ = try await self.session?.notices.acknowledge(id: id) }
    }

    private func open(_ client: Client?) async throws {
        streams.forEach { $0.cancel() } // ends the subscriptions (onTermination cancels them)
        streams = []
        session?.end()
        notices = []
        session = client.map(Session.init)
        if let session {
            // The core calls back on its worker threads; these loops run on the main actor,
            // so each list is published on the main thread.
            streams.append(Task { [weak self] in
                for await list in session.notices.stream(.unreadFirst) { self?.notices = list }
            })
            streams.append(Task { [weak self] in
                for await state in session.client.stateStream() { self?.state = state }
            })
        }
        accounts = try await core?.list() ?? []
    }

    private func perform(_ work: @escaping @MainActor () async throws -> Void) {
        Task {
            busy = true
            defer { busy = false }
            do {
                try await work()
            } catch let error as LianxiaoError {
                errorCode = error.code
            } catch {
                errorCode = "internal"
            }
        }
    }
}
