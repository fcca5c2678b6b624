// Screen state for the sample: which account is open and the calls the buttons make. Every
// decision (what is unread, what is pending, retries) is the core's; this only forwards.
import AVFoundation
import Foundation
import UIKit
import Lianxiao
import LianxiaoKit

/// The open account: its client, notices, homework and network monitor, let go together.
final class Session {
    let client: Client
    let notices: Notices
    let homework: HomeworkHandle
    let userId: String
    private let reachability: PathMonitorReachability

    init(client: Client) {
        self.client = client
        notices = client.notices()
        homework = client.homework()
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
    @Published private(set) var homework: [HomeworkView] = []
    /// A parent's children, for their names on the homework screens.
    @Published private(set) var children: [Child] = []
    /// The report a teacher opened, with the submissions fetched for grading.
    @Published private(set) var report: TeacherReport?
    /// A short message for the user (e.g. how many were reminded).
    @Published var info: String?
    @Published private(set) var state: ClientState = .offline
    @Published private(set) var busy = false
    /// The last error's stable code; nil when there is none to show.
    @Published var errorCode: String?
    /// Unread notices of the open account (also the app icon's badge).
    @Published private(set) var badge: UInt32 = 0
    /// Where a tapped push leads; the notices screen shows it, then sets it to nil.
    @Published var pushTarget: PushTarget?

    private let core: Accounts?
    private var streams: [Task<Void, Never>] = []
    private var player: AVAudioPlayer?

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

    // MARK: Homework: students

    /// Saves the draft's text as it is typed (the view debounces); errors show, no spinner.
    func saveDraftText(_ homeworkId: String, _ text: String) {
        perform(quiet: true) { _ = try await self.session?.homework.setDraftText(homeworkId: homeworkId, text: text) }
    }

    /// Adds a photo the picker wrote to `path`; the core copies it in, then ours is deleted.
    func addPhoto(_ homeworkId: String, path: String) {
        perform {
            defer { try? FileManager.default.removeItem(atPath: path) }
            _ = try await self.session?.homework.addDraftFile(homeworkId: homeworkId, path: path, kind: .photo)
        }
    }

    func removeFile(_ homeworkId: String, fileId: Int64) {
        perform { _ = try await self.session?.homework.removeDraftFile(homeworkId: homeworkId, fileId: fileId) }
    }

    /// Puts the draft's files in this order (by file id), e.g. after a drag in the list.
    func reorderFiles(_ homeworkId: String, fileIds: [Int64]) {
        perform { _ = try await self.session?.homework.reorderDraftFiles(homeworkId: homeworkId, fileIds: fileIds) }
    }

    func discardDraft(_ homeworkId: String) {
        perform { try await self.session?.homework.discardDraft(homeworkId: homeworkId) }
    }

    /// Saves the latest text, then hands in; the list then shows it on its way.
    func handIn(_ homeworkId: String, text: String) {
        perform {
            guard let homework = self.session?.homework else { return }
            _ = try await homework.setDraftText(homeworkId: homeworkId, text: text)
            _ = try await homework.handIn(homeworkId: homeworkId)
        }
    }

    // MARK: Homework: teachers

    func openReport(_ homeworkId: String) {
        perform {
            guard let homework = self.session?.homework else { return }
            let report = try await homework.report(homeworkId: homeworkId)
            let submissions = try await homework.fetchSubmissions(homeworkId: homeworkId, classId: nil)
            self.report = TeacherReport(
                homeworkId: homeworkId,
                report: report,
                submissions: Dictionary(uniqueKeysWithValues: submissions.map { ($0.id, $0) })
            )
        }
    }

    func closeReport() { report = nil }

    /// `voicePath`: an audio file the importer copied for us; deleted once the core has its copy.
    func grade(_ submissionId: String, score: UInt32, feedback: String, voicePath: String?) {
        perform {
            defer { if let voicePath { try? FileManager.default.removeItem(atPath: voicePath) } }
            try await self.session?.homework.grade(submissionId: submissionId, score: score, feedback: feedback, voice: voicePath)
        }
    }

    func returnWork(_ submissionId: String, reason: String, voicePath: String?) {
        perform {
            defer { if let voicePath { try? FileManager.default.removeItem(atPath: voicePath) } }
            try await self.session?.homework.returnWork(submissionId: submissionId, reason: reason, voice: voicePath)
        }
    }

    func remind(_ homeworkId: String) {
        perform {
            guard let result = try await self.session?.homework.remind(homeworkId: homeworkId) else { return }
            self.info = "已提醒 \(result.reminded) 人。"
        }
    }

    // MARK: Homework: parents and everyone

    func signOff(_ submissionId: String) {
        perform { try await self.session?.homework.signOff(submissionId: submissionId, note: "") }
    }

    /// Downloads an attachment once (later from the phone); nil when it cannot be had now.
    func attachmentPath(_ attachmentId: String) async -> String? {
        try? await session?.homework.openAttachment(attachmentId: attachmentId)
    }

    /// Plays voice feedback from its local copy.
    func play(_ attachmentId: String) {
        perform {
            guard let path = try await self.session?.homework.openAttachment(attachmentId: attachmentId) else { return }
            self.player = try AVAudioPlayer(contentsOf: URL(fileURLWithPath: path))
            self.player?.play()
        }
    }

    /// APNs gave this install a token: the core registers it for every signed-in account.
    func pushTokenArrived(_ hex: String) {
        guard let devices = core?.devices() else { return }
        let version = Bundle.main.object(forInfoDictionaryKey: "CFBundleShortVersionString") as? String ?? "0"
        let registration = RegisterDevice(
            platform: .ios, provider: .apns, token: hex, appVersion: version,
            locale: Locale.preferredLanguages.first ?? "zh-CN")
        perform(quiet: true) { try await devices.setPushToken(registration: registration) }
    }

    /// A push arrived while the app runs: its account syncs, the server hears it arrived.
    func pushReceived(_ data: [String: String]) async {
        _ = try? await core?.devices().pushReceived(data: data)
    }

    /// A push was tapped: open its account if another is open, then its item.
    func pushOpened(_ data: [String: String]) async {
        guard let target = try? await core?.devices().pushOpened(data: data) else { return }
        if session?.userId != target.accountId {
            try? await open(core?.switchTo(userId: target.accountId))
        }
        pushTarget = target
    }

    private func open(_ client: Client?) async throws {
        streams.forEach { $0.cancel() } // ends the subscriptions (onTermination cancels them)
        streams = []
        session?.end()
        notices = []
        homework = []
        report = nil
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
            streams.append(Task { [weak self] in
                for await list in session.homework.stream() { self?.homework = list }
            })
            streams.append(Task { [weak self] in
                for await unread in session.client.notifications().badgeStream() {
                    self?.badge = unread
                    UIApplication.shared.applicationIconBadgeNumber = Int(unread)
                }
            })
        }
        accounts = try await core?.list() ?? []
        children = try await client?.children() ?? []
    }

    private func perform(quiet: Bool = false, _ work: @escaping @MainActor () async throws -> Void) {
        Task {
            if !quiet { busy = true }
            defer { if !quiet { busy = false } }
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

/// A homework's report per class and its submissions by id, as a teacher opened them.
struct TeacherReport {
    let homeworkId: String
    let report: HomeworkReport
    let submissions: [String: Submission]
}
