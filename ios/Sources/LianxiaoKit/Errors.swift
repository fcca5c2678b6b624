// Stable error codes for the UI: branch on these (or on the case), never on the message
// text, which is for logs and may change.
import Lianxiao

public extension LianxiaoError {
    /// "offline", "unauthorized", "forbidden", "not_found", "validation", "conflict",
    /// "muted", "lesson_not_live", "daily_notice_cap", "rate_limited", "server", "storage", "internal": the same strings as the core's
    /// `Error::code_str`, the Kotlin `LianxiaoException.code` and the terminal client's JSON.
    var code: String {
        switch self {
        case .Offline: return "offline"
        case .Unauthorized: return "unauthorized"
        case .Forbidden: return "forbidden"
        case .NotFound: return "not_found"
        case .Validation: return "validation"
        case .Conflict: return "conflict"
        case .Muted: return "muted"
        case .LessonNotLive: return "lesson_not_live"
        case .DailyNoticeCap: return "daily_notice_cap"
        case .RateLimited: return "rate_limited"
        case .Server: return "server"
        case .Storage: return "storage"
        case .Internal: return "internal"
        }
    }
}
