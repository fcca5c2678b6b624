// The core's rustls checks certificates with Android's own verifier (the system trust store,
// user-installed CAs per the app's network security config). That verifier lives in the JVM,
// so the native library needs the JavaVM and the app's Context once, before any https:// call.
package org.lianxiao.core.android

import android.content.Context
import android.util.Log

internal object PlatformTls {
    @Volatile private var initialized = false

    /**
     * Hands the application context to rustls-platform-verifier. Safe to call more than once.
     * Returns false when the native library lacks the entry point (an older build): plain
     * http:// servers still work, https:// fails with an "internal" error.
     */
    @Synchronized
    fun init(context: Context): Boolean {
        if (initialized) return true
        return try {
            // JNA opens the library for the bindings; JNI needs its own load to bind `external`.
            System.loadLibrary(LIBRARY)
            nativeInit(context.applicationContext)
            initialized = true
            true
        } catch (e: UnsatisfiedLinkError) {
            Log.w("Lianxiao", "native TLS initialisation unavailable: https:// will fail")
            false
        }
    }

    /** Implemented in lianxiao-ffi as `Java_org_lianxiao_core_android_PlatformTls_nativeInit`. */
    @JvmStatic
    private external fun nativeInit(context: Context)

    private const val LIBRARY = "lianxiao_ffi"
}
