// Where the core keeps its tokens on Android: values encrypted with an AES-GCM key that never
// leaves the AndroidKeyStore, stored in a private SharedPreferences file.
package org.lianxiao.core.android

import android.content.Context
import android.content.SharedPreferences
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import android.util.Base64
import java.security.GeneralSecurityException
import java.security.KeyStore
import javax.crypto.AEADBadTagException
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec
import org.lianxiao.core.SecureStorage
import org.lianxiao.core.SecureStorageException

/**
 * [SecureStorage] backed by the AndroidKeyStore.
 *
 * Each value is stored as base64(iv ‖ ciphertext) under its key, with the key as GCM
 * associated data so a value cannot be moved to another key. Exclude [PREFS_FILE] from
 * Auto Backup: Keystore keys are not backed up, so a restored copy could never be decrypted.
 *
 * The core calls this from its worker threads; every method is synchronised.
 */
public class KeystoreSecureStorage(
    context: Context,
    private val keyAlias: String = DEFAULT_KEY_ALIAS,
) : SecureStorage {
    private val prefs: SharedPreferences =
        context.applicationContext.getSharedPreferences(PREFS_FILE, Context.MODE_PRIVATE)

    @Synchronized
    override fun get(key: String): String? {
        val stored = prefs.getString(key, null) ?: return null
        return try {
            val bytes = Base64.decode(stored, Base64.NO_WRAP)
            val cipher = Cipher.getInstance(TRANSFORMATION)
            cipher.init(Cipher.DECRYPT_MODE, secretKey(), GCMParameterSpec(TAG_BITS, bytes, 0, IV_BYTES))
            cipher.updateAAD(key.toByteArray(Charsets.UTF_8))
            String(cipher.doFinal(bytes, IV_BYTES, bytes.size - IV_BYTES), Charsets.UTF_8)
        } catch (e: AEADBadTagException) {
            // The Keystore key was replaced (restore, credential reset): the value is gone for
            // good. Forget it so the user is asked to sign in again instead of failing forever.
            prefs.edit().remove(key).commit()
            null
        } catch (e: IllegalArgumentException) {
            prefs.edit().remove(key).commit()
            null
        } catch (e: GeneralSecurityException) {
            throw failure("decrypt", e)
        }
    }

    @Synchronized
    override fun set(key: String, value: String) {
        val stored = try {
            val cipher = Cipher.getInstance(TRANSFORMATION)
            cipher.init(Cipher.ENCRYPT_MODE, secretKey())
            cipher.updateAAD(key.toByteArray(Charsets.UTF_8))
            val sealed = cipher.doFinal(value.toByteArray(Charsets.UTF_8))
            Base64.encodeToString(cipher.iv + sealed, Base64.NO_WRAP)
        } catch (e: GeneralSecurityException) {
            throw failure("encrypt", e)
        }
        // commit(), not apply(): the core expects the token to be on disk when set returns,
        // so a process killed right after sign-in keeps the session.
        if (!prefs.edit().putString(key, stored).commit()) throw failure("write", null)
    }

    @Synchronized
    override fun delete(key: String) {
        if (!prefs.edit().remove(key).commit()) throw failure("delete", null)
    }

    private fun secretKey(): SecretKey {
        val keyStore = KeyStore.getInstance(ANDROID_KEYSTORE).apply { load(null) }
        (keyStore.getKey(keyAlias, null) as SecretKey?)?.let { return it }
        val generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, ANDROID_KEYSTORE)
        generator.init(
            KeyGenParameterSpec.Builder(keyAlias, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
                .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                .setKeySize(256)
                .build(),
        )
        return generator.generateKey()
    }

    // Only the operation and the exception class: never keys or values.
    private fun failure(operation: String, cause: Throwable?): SecureStorageException =
        SecureStorageException.Failed("keystore $operation failed${cause?.let { ": ${it.javaClass.simpleName}" } ?: ""}")

    public companion object {
        public const val PREFS_FILE: String = "lianxiao_secure_storage"
        public const val DEFAULT_KEY_ALIAS: String = "org.lianxiao.core.secure-storage"
        private const val ANDROID_KEYSTORE = "AndroidKeyStore"
        private const val TRANSFORMATION = "AES/GCM/NoPadding"
        private const val IV_BYTES = 12
        private const val TAG_BITS = 128
    }
}
