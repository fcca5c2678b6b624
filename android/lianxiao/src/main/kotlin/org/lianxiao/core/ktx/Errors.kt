// Stable error codes for the UI: branch on these (or on the exception's class), never on the
// message text, which is for logs and may change.
//
// Pure Kotlin (no android.*): compiled and tested on the JVM in CI.
package org.lianxiao.core.ktx

import org.lianxiao.core.LianxiaoException

/**
 * The core's stable code for this error: "offline", "unauthorized", "forbidden",
 * "not_found", "validation", "conflict", "muted", "lesson_not_live", "daily_notice_cap",
 * "rate_limited", "server", "storage", "internal".
 * The same strings as the core's `Error::code_str` and the terminal client's `--json` output.
 */
public val LianxiaoException.code: String
    get() = when (this) {
        is LianxiaoException.Offline -> "offline"
        is LianxiaoException.Unauthorized -> "unauthorized"
        is LianxiaoException.Forbidden -> "forbidden"
        is LianxiaoException.NotFound -> "not_found"
        is LianxiaoException.Validation -> "validation"
        is LianxiaoException.Conflict -> "conflict"
        is LianxiaoException.Muted -> "muted"
        is LianxiaoException.LessonNotLive -> "lesson_not_live"
        is LianxiaoException.DailyNoticeCap -> "daily_notice_cap"
        is LianxiaoException.RateLimited -> "rate_limited"
        is LianxiaoException.Server -> "server"
        is LianxiaoException.Storage -> "storage"
        is LianxiaoException.Internal -> "internal"
        // A code added to the core after this file: its variant name in snake case, which is
        // how the core names its codes.
        else -> javaClass.simpleName.replace(Regex("(?<=[a-z0-9])([A-Z])"), "_$1").lowercase()
    }

/** Runs [block], returning its value or the [LianxiaoException] it threw. */
public inline fun <T> catchingLianxiao(block: () -> T): Result<T> =
    try {
        Result.success(block())
    } catch (e: LianxiaoException) {
        Result.failure(e)
    }
