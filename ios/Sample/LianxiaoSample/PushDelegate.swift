// Push notifications in the sample: APNs registration, the device token handed to the core,
// and UNUserNotificationCenter's callbacks turned into the core's push_received /
// push_opened. Registration, retries, the report to the server, sync and the badge are the
// core's; this only forwards.
import LianxiaoKit
import UIKit
import UserNotifications

final class PushDelegate: NSObject, UIApplicationDelegate, UNUserNotificationCenterDelegate {
    /// Set by the app once its model exists (before any push can be handled).
    weak var model: AppModel?

    func application(
        _ application: UIApplication,
        didFinishLaunchingWithOptions launchOptions: [UIApplication.LaunchOptionsKey: Any]? = nil
    ) -> Bool {
        let center = UNUserNotificationCenter.current()
        center.delegate = self
        center.requestAuthorization(options: [.alert, .badge, .sound]) { granted, _ in
            guard granted else { return }
            DispatchQueue.main.async { application.registerForRemoteNotifications() }
        }
        return true
    }

    /// APNs' device token, as the hex string the server sends to.
    func application(_ application: UIApplication, didRegisterForRemoteNotificationsWithDeviceToken deviceToken: Data) {
        let hex = deviceToken.map { String(format: "%02x", $0) }.joined()
        Task { @MainActor in self.model?.pushTokenArrived(hex) }
    }

    func application(_ application: UIApplication, didFailToRegisterForRemoteNotificationsWithError error: Error) {
        // No push on this device (simulator, no entitlement): the realtime connection and
        // sync still bring everything.
    }

    /// A push while the app is in front: the account syncs, the server hears it arrived, and
    /// the banner shows.
    func userNotificationCenter(
        _ center: UNUserNotificationCenter,
        willPresent notification: UNNotification
    ) async -> UNNotificationPresentationOptions {
        let data = pushData(notification.request.content.userInfo)
        await model?.pushReceived(data)
        return [.banner, .list, .badge, .sound]
    }

    /// The user tapped a push: open its account and item.
    func userNotificationCenter(
        _ center: UNUserNotificationCenter,
        didReceive response: UNNotificationResponse
    ) async {
        let data = pushData(response.notification.request.content.userInfo)
        await model?.pushOpened(data)
    }
}
