// The one place an iOS app starts the core: logging and the accounts store, once per process.
import Foundation
import Lianxiao

public enum LianxiaoKit {
    /// The process's one `Accounts`, guarded by its lock.
    private final class Shared: @unchecked Sendable {
        let lock = NSLock()
        var accounts: Accounts?
    }

    private static let shared = Shared()

    /// Starts the core and returns the device's `Accounts`; later calls return the same
    /// object. Keep it for the life of the app.
    ///
    /// Data lives in Application Support/Lianxiao (excluded from iCloud backup: it is a cache
    /// of the server plus unsent work tied to Keychain tokens that do not migrate), tokens in
    /// the Keychain, logs in os_log up to `logLevel`.
    public static func initialize(serverURL: String, logLevel: LogLevel = .info) throws -> Accounts {
        shared.lock.lock()
        defer { shared.lock.unlock() }
        if let accounts = shared.accounts { return accounts }
        initLogging(sink: OSLogSink(), maxLevel: logLevel)
        var dataDir = try FileManager.default
            .url(for: .applicationSupportDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
            .appendingPathComponent("Lianxiao", isDirectory: true)
        try FileManager.default.createDirectory(at: dataDir, withIntermediateDirectories: true)
        var values = URLResourceValues()
        values.isExcludedFromBackup = true
        try dataDir.setResourceValues(values)
        let created = try Accounts(config: ClientConfig(
            serverUrl: serverURL,
            dataDir: dataDir.path,
            secureStorage: KeychainSecureStorage()
        ))
        shared.accounts = created
        return created
    }
}
