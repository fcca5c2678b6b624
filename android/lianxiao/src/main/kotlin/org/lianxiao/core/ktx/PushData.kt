// What a Lianxiao push carries, as the app receives it on every channel: four strings under
// the same keys in FCM's `data`, in the `S.` string extras of the intent a tapped Getui
// notification opens (Getui's own and the phone makers'), and in a Getui transmission
// message. The shell only picks them out and hands them to `Devices.pushReceived` /
// `pushOpened`; the core reads them.
//
// Pure Kotlin (no android.*): compiled and tested on the JVM in CI.
package org.lianxiao.core.ktx

/** The keys of Lianxiao's push data (`PushData` on the server). */
public val PUSH_DATA_KEYS: List<String> = listOf("kind", "id", "account_id", "badge")

/**
 * Lianxiao's push data out of whatever holds it — `remoteMessage.data::get`,
 * `intent.extras::getString`, a JSON object's `optString` — with only its keys, or null unless
 * every key is there (another sender's push, or a launch that is no tap).
 */
public fun pushDataOf(get: (String) -> String?): Map<String, String>? {
    val data = PUSH_DATA_KEYS.mapNotNull { key -> get(key)?.let { key to it } }.toMap()
    return data.takeIf { it.size == PUSH_DATA_KEYS.size }
}
