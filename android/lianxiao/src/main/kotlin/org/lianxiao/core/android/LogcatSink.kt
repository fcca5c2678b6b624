// The core's tracing output in Logcat. The core keeps personal data out of its logs, so
// forwarding everything up to the chosen level is safe.
package org.lianxiao.core.android

import android.util.Log
import org.lianxiao.core.LogLevel
import org.lianxiao.core.LogSink

/** A [LogSink] writing to Logcat under [tag], with the Rust module path in front. */
public class LogcatSink(private val tag: String = "Lianxiao") : LogSink {
    override fun log(level: LogLevel, target: String, message: String) {
        val priority = when (level) {
            LogLevel.ERROR -> Log.ERROR
            LogLevel.WARN -> Log.WARN
            LogLevel.INFO -> Log.INFO
            LogLevel.DEBUG -> Log.DEBUG
            LogLevel.TRACE -> Log.VERBOSE
        }
        Log.println(priority, tag, "$target: $message")
    }
}
