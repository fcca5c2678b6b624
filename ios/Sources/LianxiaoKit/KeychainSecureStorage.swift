// Where the core keeps its tokens on iOS: generic-password items in the Keychain, readable
// after the first unlock (so background sync works) and never migrated to another device.
import Foundation
import Lianxiao
import Security

/// `SecureStorage` backed by the Keychain. Called by the core on its worker threads; the
/// Keychain API is thread-safe.
public final class KeychainSecureStorage: SecureStorage, @unchecked Sendable {
    private let service: String
    private let accessGroup: String?

    /// - Parameters:
    ///   - service: the items' `kSecAttrService`.
    ///   - accessGroup: a shared Keychain group, for an app extension that needs the session.
    public init(service: String = "org.lianxiao.core", accessGroup: String? = nil) {
        self.service = service
        self.accessGroup = accessGroup
    }

    private func query(_ key: String) -> [String: Any] {
        var query: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccount as String: key,
        ]
        if let accessGroup { query[kSecAttrAccessGroup as String] = accessGroup }
        return query
    }

    public func get(key: String) throws -> String? {
        var query = query(key)
        query[kSecReturnData as String] = true
        query[kSecMatchLimit as String] = kSecMatchLimitOne
        var result: AnyObject?
        let status = SecItemCopyMatching(query as CFDictionary, &result)
        switch status {
        case errSecSuccess:
            guard let data = result as? Data, let value = String(data: data, encoding: .utf8) else {
                throw failure("read", status)
            }
            return value
        case errSecItemNotFound:
            return nil
        default:
            throw failure("read", status)
        }
    }

    public func set(key: String, value: String) throws {
        let data = Data(value.utf8)
        let attributes: [String: Any] = [
            kSecValueData as String: data,
            kSecAttrAccessible as String: kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly,
        ]
        var status = SecItemUpdate(query(key) as CFDictionary, attributes as CFDictionary)
        if status == errSecItemNotFound {
            status = SecItemAdd(query(key).merging(attributes) { $1 } as CFDictionary, nil)
        }
        guard status == errSecSuccess else { throw failure("write", status) }
    }

    public func delete(key: String) throws {
        let status = SecItemDelete(query(key) as CFDictionary)
        guard status == errSecSuccess || status == errSecItemNotFound else { throw failure("delete", status) }
    }

    // The operation and OSStatus only: never keys or values.
    private func failure(_ operation: String, _ status: OSStatus) -> SecureStorageError {
        .Failed(reason: "keychain \(operation) failed: OSStatus \(status)")
    }
}
