import SwiftUI

@main
struct LianxiaoSampleApp: App {
    @StateObject private var model = AppModel(serverURL: Self.serverURL)
    /// APNs registration and the notification center's callbacks.
    @UIApplicationDelegateAdaptor(PushDelegate.self) private var push

    var body: some Scene {
        WindowGroup {
            ContentView()
                .environmentObject(model)
                .onAppear { push.model = model }
        }
    }

    /// From Info.plist (`LianxiaoServerURL`), else a local development server.
    static var serverURL: String {
        Bundle.main.object(forInfoDictionaryKey: "LianxiaoServerURL") as? String ?? "http://localhost:8080"
    }
}
