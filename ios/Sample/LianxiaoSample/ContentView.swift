import Lianxiao
import LianxiaoKit
import SwiftUI

struct ContentView: View {
    @EnvironmentObject private var model: AppModel
    @State private var addingAccount = false

    var body: some View {
        Group {
            if model.session == nil || addingAccount {
                SignInView(canCancel: model.session != nil) { addingAccount = false }
            } else {
                TabView {
                    NoticesView(addAccount: { addingAccount = true })
                        .tabItem { Label("通知", systemImage: "bell") }
                    HomeworkListView(addAccount: { addingAccount = true })
                        .tabItem { Label("作业", systemImage: "book") }
                    if let client = model.session?.client {
                        LiveTabView(client: client)
                            .tabItem { Label("直播", systemImage: "play.rectangle") }
                        ReplayTabView(client: client)
                            .tabItem { Label("回放", systemImage: "arrow.down.circle") }
                        SettingsTabView(client: client)
                            .tabItem { Label("提醒", systemImage: "bell.badge") }
                    }
                }
                // Its own view: SwiftUI shows one alert per view.
                .alert("提示", isPresented: Binding(get: { model.info != nil }, set: { if !$0 { model.info = nil } })) {
                    Button("好") { model.info = nil }
                } message: {
                    Text(model.info ?? "")
                }
            }
        }
        .alert("出错了", isPresented: Binding(get: { model.errorCode != nil }, set: { if !$0 { model.errorCode = nil } })) {
            Button("好") { model.errorCode = nil }
        } message: {
            Text(errorText(model.errorCode ?? ""))
        }
    }
}

/// Messages by stable code; the core's message text is for logs.
func errorText(_ code: String) -> String {
    switch code {
    case "offline": return "没有网络连接，请稍后再试。"
    case "unauthorized": return "账号或密码不正确，或登录已过期。"
    case "forbidden": return "没有权限。"
    case "rate_limited": return "尝试次数过多，请稍后再试。"
    case "validation": return "内容不符合要求，请检查后再试。"
    case "conflict": return "操作与当前状态冲突（例如已过截止时间）。"
    default: return "出错了（\(code)）。"
    }
}

struct SignInView: View {
    @EnvironmentObject private var model: AppModel
    let canCancel: Bool
    let done: () -> Void
    @State private var login = ""
    @State private var password = ""

    var body: some View {
        NavigationView {
            Form {
                TextField("账号", text: $login)
                    .textInputAutocapitalization(.never)
                    .autocorrectionDisabled()
                SecureField("密码", text: $password)
                Button(model.busy ? "登录中…" : "登录") {
                    model.signIn(login: login.trimmingCharacters(in: .whitespaces), password: password)
                    done()
                }
                .disabled(model.busy || login.isEmpty || password.isEmpty)
            }
            .navigationTitle("联校 登录")
            .toolbar {
                if canCancel { Button("取消", action: done) }
            }
        }
    }
}

struct NoticesView: View {
    @EnvironmentObject private var model: AppModel
    let addAccount: () -> Void

    var body: some View {
        NavigationView {
            List(model.notices, id: \.notice.id) { view in
                NoticeRow(view: view)
            }
            .navigationTitle(screenTitle(model, model.badge > 0 ? "通知 (\(model.badge))" : "通知"))
            .toolbar { AccountMenu(addAccount: addAccount) }
            // A tapped push: the notice it was about (listed here once synced).
            .alert(pushedNotice?.notice.title ?? "新消息", isPresented: showingPush) {
                Button("好") {
                    if let target = model.pushTarget, pushedNotice != nil { model.markRead(target.id) }
                    model.pushTarget = nil
                }
            } message: {
                Text(pushedNotice?.notice.body ?? "联网后显示")
            }
        }
    }

    private var pushedNotice: NoticeView? {
        guard let target = model.pushTarget, target.kind == .notice else { return nil }
        return model.notices.first { $0.notice.id == target.id }
    }

    private var showingPush: Binding<Bool> {
        Binding(get: { model.pushTarget != nil }, set: { if !$0 { model.pushTarget = nil } })
    }
}

/// Switch account, add one, sign out: on every tab.
struct AccountMenu: View {
    @EnvironmentObject private var model: AppModel
    let addAccount: () -> Void

    var body: some View {
        Menu("账号") {
            ForEach(model.accounts, id: \.userId) { account in
                Button(account.active ? "✓ \(account.displayName)" : account.displayName) {
                    model.switchTo(userId: account.userId)
                }
            }
            Button("添加账号", action: addAccount)
            Button("退出当前账号", role: .destructive) { model.signOut() }
        }
    }
}

@MainActor
func screenTitle(_ model: AppModel, _ fallback: String) -> String {
    let name = model.accounts.first { $0.userId == model.session?.userId }?.displayName ?? fallback
    return "\(name) · \(stateText(model.state))"
}

struct NoticeRow: View {
    @EnvironmentObject private var model: AppModel
    let view: NoticeView

    var body: some View {
        VStack(alignment: .leading, spacing: 6) {
            Text((view.unread ? "● " : "") + view.notice.title)
                .font(.headline)
                .fontWeight(view.unread ? .bold : .regular)
            Text(view.notice.author.name).font(.caption).foregroundColor(.secondary)
            Text(view.notice.body).font(.body).lineLimit(3)
            HStack {
                if view.read == DeliveryState.none {
                    Button("标为已读") { model.markRead(view.notice.id) }.buttonStyle(.bordered)
                } else {
                    Text("已读\(deliveryText(view.read))").font(.caption2)
                }
                if view.notice.requiresAck {
                    if view.acknowledged == DeliveryState.none {
                        Button("回执") { model.acknowledge(view.notice.id) }.buttonStyle(.borderedProminent)
                    } else {
                        Text("已回执\(deliveryText(view.acknowledged))").font(.caption2)
                    }
                }
            }
        }
        .padding(.vertical, 4)
    }
}

func deliveryText(_ state: DeliveryState) -> String {
    switch state {
    case .none: return ""
    case .pending: return "（等待发送）"
    case .delivered: return "（已送达）"
    case .failed: return "（发送失败）"
    }
}

func stateText(_ state: ClientState) -> String {
    switch state {
    case .offline: return "离线"
    case .connecting: return "连接中"
    case .online: return "在线"
    case .authExpired: return "请重新登录"
    }
}
