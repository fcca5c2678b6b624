// The core's tracing output in the unified log (Console.app, `log stream`). The core keeps
// personal data out of its logs, so messages are logged as public.
import Lianxiao
import os

public final class OSLogSink: LogSink, @unchecked Sendable {
    private let logger: Logger

    public init(subsystem: String = "org.lianxiao.core", category: String = "core") {
        logger = Logger(subsystem: subsystem, category: category)
    }

    public func log(level: LogLevel, target: String, message: String) {
        let type: OSLogType
        switch level {
        case .error: type = .fault
        case .warn: type = .error
        case .info: type = .info
        case .debug, .trace: type = .debug
        }
        logger.log(level: type, "\(target, privacy: .public): \(message, privacy: .public)")
    }
}
