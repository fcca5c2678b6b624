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

public extension HomeworkHandleProtocol {
    /// Every homework the account sees, latest due first: the current list at once, then the
    /// whole list after every change (a draft edited, sync, upload progress, delivery). Only
    /// the newest list is buffered.
    ///
    /// ```swift
    /// for await list in client.homework().stream() { self.homework = list }
    /// ```
    func stream() -> AsyncStream<[HomeworkView]> {
        AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let handle = subscribe(listener: HomeworkRelay(continuation))
            continuation.onTermination = { _ in handle.cancel() }
        }
    }

    /// One homework, for its detail or draft screen: nil until it is on the phone or after it
    /// was deleted; an element only when its view changed.
    func stream(homeworkId: String) -> AsyncStream<HomeworkView?> {
        let lists = stream()
        return AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let task = Task {
                var last: HomeworkView??
                for await list in lists {
                    let view = list.first { $0.homework.id == homeworkId }
                    if last != .some(view) {
                        last = .some(view)
                        continuation.yield(view)
                    }
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}

public extension UploadsProtocol {
    /// The upload queue with progress: the list at once, then after every change (a few
    /// times a second while bytes move). Only the newest list is buffered.
    func stream() -> AsyncStream<[UploadStatus]> {
        AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let handle = subscribe(listener: UploadRelay(continuation))
            continuation.onTermination = { _ in handle.cancel() }
        }
    }
}

public extension UploadStatus {
    /// Share of the file sent, 0 to 1, for a progress bar.
    var fraction: Double { total == 0 ? 0 : Double(sent) / Double(total) }
}

public extension WorkState {
    /// Share of a hand-in's files sent while it is uploading; nil in other states.
    var uploadFraction: Double? {
        guard case let .uploading(sent, total) = self else { return nil }
        return total == 0 ? 0 : Double(sent) / Double(total)
    }
}

final class HomeworkRelay: HomeworkListener, @unchecked Sendable {
    private let continuation: AsyncStream<[HomeworkView]>.Continuation
    init(_ continuation: AsyncStream<[HomeworkView]>.Continuation) { self.continuation = continuation }
    func onHomework(homework: [HomeworkView]) { continuation.yield(homework) }
}

final class UploadRelay: UploadListener, @unchecked Sendable {
    private let continuation: AsyncStream<[UploadStatus]>.Continuation
    init(_ continuation: AsyncStream<[UploadStatus]>.Continuation) { self.continuation = continuation }
    func onUploads(uploads: [UploadStatus]) { continuation.yield(uploads) }
}

public extension TimetableProtocol {
    /// The timetable screen's data (today, now, next, unseen changes): at once, after every
    /// change and whenever a lesson starts or ends. Only the newest is buffered.
    ///
    /// ```swift
    /// for await snapshot in client.timetable().stream() { self.timetable = snapshot }
    /// ```
    func stream() -> AsyncStream<TimetableSnapshot> {
        AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let handle = subscribe(listener: TimetableRelay(continuation))
            continuation.onTermination = { _ in handle.cancel() }
        }
    }

    /// Each lesson's reminder while the app runs, once per lesson start; none is dropped.
    /// For reminders while the app is closed, hand `upcomingReminders` to
    /// UNUserNotificationCenter.
    func reminders() -> AsyncStream<LessonReminder> {
        AsyncStream(bufferingPolicy: .unbounded) { continuation in
            let handle = watchReminders(listener: ReminderRelay(continuation))
            continuation.onTermination = { _ in handle.cancel() }
        }
    }
}

final class TimetableRelay: TimetableListener, @unchecked Sendable {
    private let continuation: AsyncStream<TimetableSnapshot>.Continuation
    init(_ continuation: AsyncStream<TimetableSnapshot>.Continuation) { self.continuation = continuation }
    func onTimetable(snapshot: TimetableSnapshot) { continuation.yield(snapshot) }
}

final class ReminderRelay: ReminderListener, @unchecked Sendable {
    private let continuation: AsyncStream<LessonReminder>.Continuation
    init(_ continuation: AsyncStream<LessonReminder>.Continuation) { self.continuation = continuation }
    func onReminder(reminder: LessonReminder) { continuation.yield(reminder) }
}

/// What the lesson screen hears from a joined lesson (see `LiveProtocol.lesson`).
public enum LiveUpdate {
    /// The session's state: `.joining` first, then every change; `.ended` is the last.
    case state(LiveState)
    /// While watching the broadcast: the rendition to play (the same URL: keep playing).
    case rendition(RenditionChoice)
    /// The lesson's room (hands, stage, chat, quiz): at once, then after every change.
    case room(LiveRoom)
}

/// A joined lesson: the session (to forward the LiveKit SDK's events and the player's
/// throughput) and its updates. Ending iteration of `updates` leaves the lesson.
public struct LiveLesson {
    public let session: LiveSession
    public let updates: AsyncStream<LiveUpdate>
}

public extension LiveProtocol {
    /// Joins `lessonId` with the shell's `media` engine. Every update is kept, in order, so
    /// the screen never misses the end; the stream finishes after `.ended`, and ending the
    /// iteration (break, task cancellation) leaves the lesson.
    ///
    /// ```swift
    /// let lesson = client.live().lesson(id, media: media)
    /// media.attach(lesson.session)
    /// for await update in lesson.updates { ... }
    /// ```
    func lesson(_ lessonId: String, media: MediaSession) -> LiveLesson {
        var continuation: AsyncStream<LiveUpdate>.Continuation!
        let updates = AsyncStream<LiveUpdate>(bufferingPolicy: .unbounded) { continuation = $0 }
        let session = join(lessonId: lessonId, media: media, listener: LiveRelay(continuation))
        continuation.onTermination = { _ in session.leave() }
        return LiveLesson(session: session, updates: updates)
    }
}

final class LiveRelay: LiveListener, @unchecked Sendable {
    private let continuation: AsyncStream<LiveUpdate>.Continuation
    init(_ continuation: AsyncStream<LiveUpdate>.Continuation) { self.continuation = continuation }
    func onState(state: LiveState) {
        continuation.yield(.state(state))
        if case .ended = state { continuation.finish() }
    }
    func onRendition(choice: RenditionChoice) { continuation.yield(.rendition(choice)) }
    func onRoom(room: LiveRoom) { continuation.yield(.room(room)) }
}

public extension ClientProtocol {
    /// Background work of the core that failed (a panic in sync, the outbox, uploads, replays
    /// or a listener; the core starts the task again): the list so far at once, then the whole
    /// list after each new one. Only the newest list is buffered; it holds every earlier one.
    ///
    /// ```swift
    /// for await failures in client.taskFailuresStream() { report(failures.last) }
    /// ```
    func taskFailuresStream() -> AsyncStream<[TaskFailure]> {
        AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let handle = subscribeTaskFailures(listener: TaskFailureRelay(continuation))
            continuation.onTermination = { _ in handle.cancel() }
        }
    }
}

final class TaskFailureRelay: TaskFailureListener, @unchecked Sendable {
    private let continuation: AsyncStream<[TaskFailure]>.Continuation
    init(_ continuation: AsyncStream<[TaskFailure]>.Continuation) { self.continuation = continuation }
    func onTaskFailures(failures: [TaskFailure]) { continuation.yield(failures) }
}
