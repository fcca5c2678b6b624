package org.lianxiao.core.ktx

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Test

/**
 * What the Android shell picks out of a push before handing it to the core: the same four
 * strings whether they came as FCM's data or as the string extras of the intent a tapped Getui
 * notification opens (the server's `intent://open?#Intent;…;S.kind=…;S.id=…;end`).
 */
class PushDataTest {
    private val data = mapOf(
        "kind" to "notice",
        "id" to "0191d7a0-7c3e-7b7e-9a51-2f1e4b8c9d01",
        "account_id" to "0191d7a0-0000-7000-8000-000000000042",
        "badge" to "3",
    )

    @Test
    fun takesExactlyLianxiaosKeys() {
        // FCM adds its own keys (google.*, from, collapse_key); Getui's intent may carry more.
        val extras = data + mapOf("google.message_id" to "0:1", "from" to "1234", "title" to "春游")
        assertEquals(data, pushDataOf(extras::get))
    }

    @Test
    fun isNullUnlessEveryKeyIsThere() {
        for (missing in PUSH_DATA_KEYS) {
            assertNull(missing, pushDataOf((data - missing)::get))
        }
        // A launch from the home screen: no extras at all.
        assertNull(pushDataOf { null })
    }

    @Test
    fun theKeysAreTheServersPushData() {
        assertEquals(listOf("kind", "id", "account_id", "badge"), PUSH_DATA_KEYS)
    }
}
