// The one place an Android app starts the core: TLS, logging and the accounts store, each
// set up once per process.
package org.lianxiao.core.android

import android.content.Context
import java.io.File
import org.lianxiao.core.Accounts
import org.lianxiao.core.ClientConfig
import org.lianxiao.core.LogLevel
import org.lianxiao.core.initLogging

public object Lianxiao {
    @Volatile private var accounts: Accounts? = null

    /**
     * Starts the core for this process and returns the device's [Accounts]. Call it from
     * `Application.onCreate` (or lazily, from any thread); later calls return the same
     * object. Keep it for the life of the process: do not close it.
     *
     * Data lives in `filesDir/lianxiao` (one SQLite database per account), tokens in
     * [KeystoreSecureStorage], logs go to Logcat up to [logLevel].
     */
    @JvmStatic
    @JvmOverloads
    @Synchronized
    public fun initialize(context: Context, serverUrl: String, logLevel: LogLevel = LogLevel.INFO): Accounts {
        accounts?.let { return it }
        val app = context.applicationContext
        PlatformTls.init(app)
        initLogging(LogcatSink(), logLevel)
        val dataDir = File(app.filesDir, "lianxiao").apply { mkdirs() }
        return Accounts(
            ClientConfig(
                serverUrl = serverUrl,
                dataDir = dataDir.absolutePath,
                secureStorage = KeystoreSecureStorage(app),
            ),
        ).also { accounts = it }
    }
}
