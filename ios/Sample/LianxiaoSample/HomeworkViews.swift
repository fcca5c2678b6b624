// Homework screens of the sample: a student's list, draft (text, photos from the library,
// reorder, remove) and hand-in with its progress; a teacher's report per class, grading with a
// score, words and a voice file, returning work and reminding; a parent's view of each child's
// grade and the sign-off. The core decides every state shown here; the views only draw it.
import Lianxiao
import LianxiaoKit
import PhotosUI
import SwiftUI
import UniformTypeIdentifiers

struct HomeworkListView: View {
    @EnvironmentObject private var model: AppModel
    let addAccount: () -> Void

    var body: some View {
        NavigationView {
            List(model.homework, id: \.homework.id) { view in
                NavigationLink(destination: HomeworkDetail(homeworkId: view.homework.id)) {
                    HomeworkRow(view: view)
                }
            }
            .navigationTitle(screenTitle(model, "作业"))
            .toolbar { AccountMenu(addAccount: addAccount) }
        }
    }
}

struct HomeworkRow: View {
    @EnvironmentObject private var model: AppModel
    let view: HomeworkView

    var body: some View {
        VStack(alignment: .leading, spacing: 4) {
            Text(view.homework.title).font(.headline)
            Text("\(view.homework.author.name) · 截止 \(dateText(view.homework.dueAt))")
                .font(.caption).foregroundColor(.secondary)
            ForEach(view.summary?.classes ?? [], id: \.classId) { c in
                Text("\(c.schoolName) \(c.className)：已交 \(c.submitted)/\(c.students)，已批 \(c.graded)")
                    .font(.caption)
            }
            ForEach(view.work, id: \.studentId) { work in
                let who = work.studentId == model.session?.userId ? "" : childName(work, model.children) + "："
                Text(who + workStateText(work.state)).font(.subheadline)
                if let fraction = work.state.uploadFraction { ProgressView(value: fraction) }
                if work.overdue { Text("已过截止时间").font(.caption).foregroundColor(.red) }
            }
        }
        .padding(.vertical, 4)
    }
}

/// One homework: which screen follows from what the core sent for this account.
struct HomeworkDetail: View {
    @EnvironmentObject private var model: AppModel
    let homeworkId: String

    var body: some View {
        if let view = model.homework.first(where: { $0.homework.id == homeworkId }) {
            if let mine = view.work.first(where: { $0.studentId == model.session?.userId }) {
                StudentHomeworkView(view: view, work: mine)
            } else if !view.work.isEmpty {
                ParentHomeworkView(view: view)
            } else {
                TeacherHomeworkView(view: view)
            }
        } else {
            Text("这份作业已不在了。")
        }
    }
}

// MARK: Students

struct StudentHomeworkView: View {
    @EnvironmentObject private var model: AppModel
    let view: HomeworkView
    let work: StudentWork
    @State private var text = ""
    @State private var loaded = false
    @State private var picking = false

    private var id: String { view.homework.id }
    private var files: [DraftFile] { work.draft?.files ?? [] }
    /// While the hand-in is on its way the work is not edited here.
    private var editable: Bool {
        switch work.state {
        case .onDevice, .uploading, .graded: return false
        default: return true
        }
    }

    var body: some View {
        List {
            Section { HomeworkHeader(view: view) }
            Section {
                Text(workStateText(work.state)).bold()
                if let fraction = work.state.uploadFraction { ProgressView(value: fraction) }
                if let submission = work.submission { ReviewView(submission: submission) }
            }
            if editable {
                Section("我的回答") {
                    TextEditor(text: $text).frame(minHeight: 100)
                }
                Section("照片") {
                    ForEach(files, id: \.id) { file in
                        DraftFileRow(file: file)
                    }
                    .onMove { from, to in
                        var ids = files.map(\.id)
                        ids.move(fromOffsets: from, toOffset: to)
                        model.reorderFiles(id, fileIds: ids)
                    }
                    .onDelete { offsets in
                        offsets.map { files[$0].id }.forEach { model.removeFile(id, fileId: $0) }
                    }
                    if view.homework.acceptedKinds.contains(.photo) {
                        Button("添加照片") { picking = true }
                    }
                }
                Section {
                    Button("提交") { model.handIn(id, text: text) }
                        .disabled(text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty && files.isEmpty)
                    if work.draft != nil {
                        Button("清空", role: .destructive) {
                            text = ""
                            model.discardDraft(id)
                        }
                    }
                }
            }
        }
        .toolbar { if editable && !files.isEmpty { EditButton() } }
        .navigationTitle(view.homework.title)
        .onAppear {
            if !loaded {
                text = work.draft?.text ?? ""
                loaded = true
            }
        }
        // Saves the text half a second after the last keystroke (a new one restarts this).
        .task(id: text) {
            guard loaded, text != (work.draft?.text ?? "") else { return }
            try? await Task.sleep(nanoseconds: 500_000_000)
            if !Task.isCancelled { model.saveDraftText(id, text) }
        }
        .sheet(isPresented: $picking) {
            PhotoPicker { path in model.addPhoto(id, path: path) }
        }
    }
}

struct DraftFileRow: View {
    let file: DraftFile

    var body: some View {
        HStack {
            if file.kind == .photo { Thumbnail(path: file.path) } else { Text(kindText(file.kind)) }
            VStack(alignment: .leading) {
                Text(file.fileName).lineLimit(1)
                Text("\(file.size / 1024) KB").font(.caption2).foregroundColor(.secondary)
            }
        }
    }
}

/// The photo library picker (iOS 14+). The chosen photo is copied to a temporary file whose
/// path goes to the core; the model deletes it once the core has its own copy.
struct PhotoPicker: UIViewControllerRepresentable {
    let picked: (String) -> Void

    func makeUIViewController(context: Context) -> PHPickerViewController {
        var config = PHPickerConfiguration()
        config.filter = .images
        config.selectionLimit = 1
        let picker = PHPickerViewController(configuration: config)
        picker.delegate = context.coordinator
        return picker
    }

    func updateUIViewController(_ controller: PHPickerViewController, context: Context) {}

    func makeCoordinator() -> Coordinator { Coordinator(picked) }

    final class Coordinator: NSObject, PHPickerViewControllerDelegate {
        let picked: (String) -> Void
        init(_ picked: @escaping (String) -> Void) { self.picked = picked }

        func picker(_ picker: PHPickerViewController, didFinishPicking results: [PHPickerResult]) {
            picker.dismiss(animated: true)
            guard let provider = results.first?.itemProvider else { return }
            provider.loadFileRepresentation(forTypeIdentifier: UTType.image.identifier) { url, _ in
                // The provider's file is gone when this returns: copy it first.
                guard let url, let copy = copyToTemporary(url) else { return }
                DispatchQueue.main.async { self.picked(copy) }
            }
        }
    }
}

// MARK: Parents

struct ParentHomeworkView: View {
    @EnvironmentObject private var model: AppModel
    let view: HomeworkView

    var body: some View {
        List {
            Section { HomeworkHeader(view: view) }
            ForEach(view.work, id: \.studentId) { work in
                Section(childName(work, model.children)) {
                    Text(workStateText(work.state))
                    if let submission = work.submission {
                        if let attempt = submission.attempts.last { Text(attempt.text) }
                        ReviewView(submission: submission)
                        if let signOff = submission.signOff {
                            Text("家长已签字 \(dateText(signOff.at))").font(.caption)
                        } else if work.needsSignOff {
                            Button("家长签字") { model.signOff(submission.id) }
                        }
                    }
                }
            }
        }
        .navigationTitle(view.homework.title)
    }
}

// MARK: Teachers

struct TeacherHomeworkView: View {
    @EnvironmentObject private var model: AppModel
    let view: HomeworkView
    @State private var grading: Submission?

    private var report: TeacherReport? {
        model.report.flatMap { $0.homeworkId == view.homework.id ? $0 : nil }
    }

    var body: some View {
        List {
            Section { HomeworkHeader(view: view) }
            Section {
                Button("提醒未交") { model.remind(view.homework.id) }
                Button("刷新") { model.openReport(view.homework.id) }
            }
            if let report {
                ForEach(report.report.classes, id: \.classId) { c in
                    Section(c.className) {
                        ForEach(c.students, id: \.student.id) { line in
                            let submission = line.submissionId.flatMap { report.submissions[$0] }
                            Button {
                                grading = submission
                            } label: {
                                ReportLineView(line: line)
                            }
                            .disabled(submission == nil)
                        }
                    }
                }
            } else {
                // Offline, or still loading: the synced counts.
                ForEach(view.summary?.classes ?? [], id: \.classId) { c in
                    Text("\(c.schoolName) \(c.className)：已交 \(c.submitted)/\(c.students)，迟交 \(c.late)，已批 \(c.graded)，签字 \(c.signedOff)")
                }
            }
        }
        .navigationTitle(view.homework.title)
        .onAppear { model.openReport(view.homework.id) }
        .onDisappear { model.closeReport() }
        .sheet(item: Binding(get: { grading.map(GradingItem.init) }, set: { grading = $0?.submission })) { item in
            GradeSheet(submission: item.submission, maxScore: view.homework.maxScore)
        }
    }
}

/// `sheet(item:)` needs an Identifiable.
struct GradingItem: Identifiable {
    let submission: Submission
    var id: String { submission.id }
}

struct ReportLineView: View {
    let line: StudentReportLine

    var body: some View {
        HStack {
            Text(line.student.name)
            Spacer()
            Text(status + (line.signedOff ? " · 已签字" : "")).foregroundColor(.secondary)
        }
    }

    private var status: String {
        switch line.status {
        case nil: return "未交"
        case .submitted: return line.late ? "已交（迟交）" : "已交"
        case .returned: return "已退回"
        case .graded: return "已批 \(line.score ?? 0) 分"
        }
    }
}

/// Grade with a score, words and an optional voice file, or send back for redo.
struct GradeSheet: View {
    @EnvironmentObject private var model: AppModel
    @Environment(\.dismiss) private var dismiss
    let submission: Submission
    let maxScore: UInt32
    @State private var score = ""
    @State private var feedback = ""
    @State private var voicePath: String?
    @State private var importing = false

    var body: some View {
        NavigationView {
            Form {
                if let attempt = submission.attempts.last {
                    Section("第 \(attempt.number) 次") {
                        Text(attempt.text)
                        ForEach(attempt.attachments.filter { $0.kind == .photo }, id: \.id) { a in
                            AttachmentPhoto(attachment: a)
                        }
                    }
                }
                Section {
                    TextField("分数（满分 \(maxScore)）", text: $score).keyboardType(.numberPad)
                    TextField("评语 / 退回原因", text: $feedback)
                    Button(voicePath == nil ? "选择语音评语" : "已选语音 ✓") { importing = true }
                }
                Section {
                    Button("评分") {
                        model.grade(submission.id, score: UInt32(score) ?? 0, feedback: feedback, voicePath: voicePath)
                        dismiss()
                    }
                    .disabled(UInt32(score) == nil)
                    Button("退回重做", role: .destructive) {
                        model.returnWork(submission.id, reason: feedback, voicePath: voicePath)
                        dismiss()
                    }
                    .disabled(feedback.trimmingCharacters(in: .whitespaces).isEmpty)
                }
            }
            .navigationTitle(submission.student.name)
            .toolbar { Button("取消") { dismiss() } }
            .fileImporter(isPresented: $importing, allowedContentTypes: [.audio]) { result in
                // Files from the importer are security-scoped: copy while we may read it.
                guard case let .success(url) = result else { return }
                let scoped = url.startAccessingSecurityScopedResource()
                defer { if scoped { url.stopAccessingSecurityScopedResource() } }
                voicePath = copyToTemporary(url)
            }
        }
    }
}

// MARK: Shared pieces

struct HomeworkHeader: View {
    let view: HomeworkView

    var body: some View {
        VStack(alignment: .leading, spacing: 4) {
            Text(view.homework.title).font(.title3).bold()
            Text("截止 \(dateText(view.homework.dueAt)) · 满分 \(view.homework.maxScore)")
                .font(.caption).foregroundColor(.secondary)
            Text(view.homework.instructions)
            ForEach(view.homework.attachments, id: \.id) { a in
                if a.kind == .photo {
                    AttachmentPhoto(attachment: a)
                } else {
                    Text("附件：\(a.fileName)").font(.caption)
                }
            }
        }
    }
}

/// The teacher's verdict on the latest attempt: score or reason, words, voice.
struct ReviewView: View {
    @EnvironmentObject private var model: AppModel
    let submission: Submission

    var body: some View {
        if let review = submission.attempts.last?.review {
            VStack(alignment: .leading, spacing: 4) {
                if let score = review.score { Text("得分 \(score)").bold() }
                if !review.feedback.isEmpty { Text("\(review.by.name)：\(review.feedback)") }
                if let voice = review.voice {
                    Button("听语音评语") { model.play(voice.id) }
                }
            }
        }
    }
}

struct AttachmentPhoto: View {
    @EnvironmentObject private var model: AppModel
    let attachment: Attachment
    @State private var path: String?

    var body: some View {
        Group {
            if let path { Thumbnail(path: path, size: 160) } else { Text(attachment.fileName).font(.caption) }
        }
        .task(id: attachment.id) { path = await model.attachmentPath(attachment.id) }
    }
}

/// A local photo, shown small.
struct Thumbnail: View {
    let path: String
    var size: CGFloat = 64

    var body: some View {
        if let image = UIImage(contentsOfFile: path) {
            Image(uiImage: image).resizable().scaledToFill().frame(width: size, height: size).clipped()
        }
    }
}

func workStateText(_ state: WorkState) -> String {
    switch state {
    case .notStarted: return "未开始"
    case .draft: return "草稿（保存在本机）"
    case .onDevice: return "已提交，等待网络发送"
    case .uploading: return "正在上传 \(Int((state.uploadFraction ?? 0) * 100))%"
    case let .delivered(receivedAt, attempt, late):
        return "老师已收到（\(dateText(receivedAt))）" + (attempt > 1 ? " 第 \(attempt) 次" : "") + (late ? " 迟交" : "")
    case let .returned(reason): return "被退回：\(reason)"
    case let .graded(score, maxScore): return "得分 \(score)/\(maxScore)"
    case .failed: return "提交失败，已退回草稿"
    }
}

func kindText(_ kind: WorkKind) -> String {
    switch kind {
    case .text: return "文字"
    case .photo: return "照片"
    case .audio: return "录音"
    case .video: return "视频"
    case .file: return "文件"
    }
}

func childName(_ work: StudentWork, _ children: [Child]) -> String {
    children.first { $0.id == work.studentId }?.name ?? work.submission?.student.name ?? "孩子"
}

/// A server time (Unix ms) in the phone's time zone.
func dateText(_ millis: Int64) -> String {
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "zh_CN")
    formatter.dateFormat = "M月d日 HH:mm"
    return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(millis) / 1000))
}

/// Copies a file the system lent us to a temporary path we own; nil if it cannot be read.
func copyToTemporary(_ url: URL) -> String? {
    let dest = FileManager.default.temporaryDirectory
        .appendingPathComponent(UUID().uuidString)
        .appendingPathExtension(url.pathExtension)
    do {
        try FileManager.default.copyItem(at: url, to: dest)
        return dest.path
    } catch {
        return nil
    }
}
