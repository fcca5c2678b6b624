// Tells the core when the network comes and goes, so it retries at once instead of waiting
// out its backoff.
import Lianxiao
import Network

/// Forwards `NWPathMonitor` updates to `Client.networkChanged(available:)` until cancelled
/// (or deinitialised). Cancel it before letting go of the client.
public final class PathMonitorReachability: @unchecked Sendable {
    private let monitor = NWPathMonitor()

    public init(client: ClientProtocol, queue: DispatchQueue = DispatchQueue(label: "org.lianxiao.reachability")) {
        // The first update arrives at once with the current path.
        monitor.pathUpdateHandler = { path in
            client.networkChanged(available: path.status == .satisfied)
        }
        monitor.start(queue: queue)
    }

    public func cancel() {
        monitor.cancel()
    }

    deinit {
        monitor.cancel()
    }
}
