// The reminders tab (提醒): which kinds of notification reach this account, per child, and its
// own quiet hours; for teachers, the parents of a class nothing has reached, with the number
// to call. The settings come from the core's stream (offline too); a change shows at once and
// the core sends it when it can ("待同步" until the server confirms). The shell only draws.
import Lianxiao
import LianxiaoKit
import SwiftUI

/// The quiet hours the toggle turns on: 22:00 to 06:30, school time.
private let evening = QuietHours(startMinute: 22 * 60, endMinute: 6 * 60 + 30)

private func hhmm(_ minute: UInt16) -> String {
    String(format: "%02d:%02d", Int(minute) / 60, Int(minute) % 60)
}

struct SettingsTabView: View {
    let client: Client
    @State private var view: SettingsView?
    @State private var children: [Child] = []
    @State private var taught: [ClassInfo] = []
    @State private var error: String?

    var body: some View {
        NavigationView {
            List {
                if let view {
                    if view.pending { Text("待同步：联网后发送").foregroundColor(.secondary) }
                    if let error { Text(error).foregroundColor(.red) }
                    ForEach(view.settings.children, id: \.childId) { entry in
                        Section(name(of: entry.childId)) {
                            kindToggles(entry)
                        }
                    }
                    Section("我的免打扰时段") {
                        Toggle(isOn: Binding(
                            get: { view.settings.quietHours != nil },
                            set: { on in change { try await $0.setQuietHours(quietHours: on ? evening : nil) } }
                        )) {
                            if let q = view.settings.quietHours {
                                Text("\(hhmm(q.startMinute))–\(hhmm(q.endMinute))（学校的时段照常）")
                            } else {
                                Text("未设置（按学校的时段）")
                            }
                        }
                    }
                    if !taught.isEmpty {
                        Section("联系不上的家长") {
                            ForEach(taught, id: \.id) { c in
                                NavigationLink("\(c.school.name) · \(c.name)") {
                                    UnreachableView(settings: client.notificationSettings(), classInfo: c)
                                }
                            }
                        }
                    }
                } else {
                    Text("读取中…")
                }
            }
            .navigationTitle("提醒")
        }
        .task {
            children = (try? await client.children()) ?? []
            let me = try? await client.profile()
            let teaches = me?.memberships.contains { $0.role == .teacher || $0.role == .assistant } ?? false
            taught = teaches ? ((try? await client.classes()) ?? []) : []
        }
        .task {
            for await v in client.notificationSettings().stream() { view = v }
        }
    }

    private func name(of id: String) -> String {
        if id == client.userId() { return "我" }
        return children.first { $0.id == id }?.name ?? id
    }

    @ViewBuilder
    private func kindToggles(_ entry: ChildNotifications) -> some View {
        let k = entry.kinds
        toggle(entry.childId, "学校和班级通知（紧急通知总会送达）", k.notices) { var n = k; n.notices = $0; return n }
        toggle(entry.childId, "作业已批改", k.homeworkGraded) { var n = k; n.homeworkGraded = $0; return n }
        toggle(entry.childId, "作业未按时提交", k.homeworkMissing) { var n = k; n.homeworkMissing = $0; return n }
        toggle(entry.childId, "直播课即将开始", k.lessonStarting) { var n = k; n.lessonStarting = $0; return n }
    }

    private func toggle(
        _ childId: String,
        _ label: String,
        _ on: Bool,
        _ with: @escaping (Bool) -> NotificationKinds
    ) -> some View {
        Toggle(label, isOn: Binding(
            get: { on },
            set: { value in change { try await $0.setKinds(childId: childId, kinds: with(value)) } }
        ))
    }

    private func change(_ action: @escaping (NotificationSettingsHandle) async throws -> SettingsView) {
        Task {
            do {
                _ = try await action(client.notificationSettings())
                error = nil
            } catch let e as LianxiaoError {
                error = "未能保存 (\(e.code))"
            } catch {}
        }
    }
}

/// A class's parents nothing has reached lately; asked when opened (online).
struct UnreachableView: View {
    let settings: NotificationSettingsHandle
    let classInfo: ClassInfo
    @State private var parents: [UnreachableParent]?
    @State private var error: String?

    var body: some View {
        List {
            if let error { Text(error).foregroundColor(.red) }
            if let parents {
                if parents.isEmpty { Text("每位家长最近都联系得上") }
                ForEach(parents, id: \.parent.id) { p in
                    HStack {
                        Text("\(p.parent.name)（\(p.children.map(\.name).joined(separator: "、"))）")
                        Spacer()
                        if let phone = p.phone, let url = URL(string: "tel:\(phone.filter { !$0.isWhitespace })") {
                            Link("拨打 \(phone)", destination: url)
                        }
                    }
                }
            } else {
                Text("查询中…")
            }
        }
        .navigationTitle("\(classInfo.school.name) · \(classInfo.name)")
        .task {
            do {
                parents = try await settings.unreachableParents(classId: classInfo.id)
            } catch let e as LianxiaoError {
                error = "查询失败 (\(e.code))"
            } catch {}
        }
    }
}
