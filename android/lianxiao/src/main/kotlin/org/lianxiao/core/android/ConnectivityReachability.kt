// Tells the core when the network comes and goes, so it retries at once instead of waiting
// out its backoff (a village school's link drops often and comes back quickly).
package org.lianxiao.core.android

import android.content.Context
import android.net.ConnectivityManager
import android.net.Network
import android.net.NetworkCapabilities
import org.lianxiao.core.ClientInterface

/**
 * Forwards the default network's availability to [ClientInterface.networkChanged].
 *
 * ```
 * val reachability = ConnectivityReachability(context).watch(client)
 * ...
 * reachability.close() // before closing the client
 * ```
 * Uses ConnectivityManager only: no Google Play services, which most phones in China lack.
 */
public class ConnectivityReachability(context: Context) {
    private val connectivity =
        context.applicationContext.getSystemService(ConnectivityManager::class.java)

    /** Reports the current state now, then every change until the returned handle is closed. */
    public fun watch(client: ClientInterface): AutoCloseable {
        val callback = object : ConnectivityManager.NetworkCallback() {
            override fun onAvailable(network: Network) = client.networkChanged(true)

            override fun onLost(network: Network) = client.networkChanged(false)

            override fun onCapabilitiesChanged(network: Network, caps: NetworkCapabilities) =
                client.networkChanged(caps.hasCapability(NetworkCapabilities.NET_CAPABILITY_INTERNET))
        }
        // Without a default network the callback stays silent: say so ourselves.
        client.networkChanged(connectivity.activeNetwork != null)
        connectivity.registerDefaultNetworkCallback(callback)
        return AutoCloseable {
            try {
                connectivity.unregisterNetworkCallback(callback)
            } catch (_: IllegalArgumentException) {
                // Already unregistered: close() twice is harmless.
            }
        }
    }
}
