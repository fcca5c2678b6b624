// Push notifications in the sample: which channel this phone can use, handing its token to
// the core, and turning what a push carries into the core's calls. The shell decides nothing:
// registration, retries, the report to the server, sync and the badge are the core's.
//
// Channels: FCM where Google Play services exist; otherwise 个推 Getui, whose SDK reaches
// the phone through the maker's own push (Huawei, Honor, Xiaomi, OPPO, vivo, Meizu) on the
// phones most parents in rural China have. The server pushes the same data on both.
package org.lianxiao.sample.push

import android.content.Context
import android.content.Intent
import android.util.Log
import com.google.android.gms.common.ConnectionResult
import com.google.android.gms.common.GoogleApiAvailability
import com.google.firebase.messaging.FirebaseMessaging
import com.igexin.sdk.PushManager
import java.util.Locale
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.launch
import org.lianxiao.core.DevicePlatform
import org.lianxiao.core.LianxiaoException
import org.lianxiao.core.PushProvider
import org.lianxiao.core.PushTarget
import org.lianxiao.core.RegisterDevice
import org.lianxiao.core.ktx.pushDataOf
import org.lianxiao.sample.BuildConfig
import org.lianxiao.sample.SampleApplication

object Push {
    private const val TAG = "LianxiaoPush"
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)

    /** Called once from `Application.onCreate`: starts the channel this phone has. */
    fun start(context: Context) {
        val google = GoogleApiAvailability.getInstance()
            .isGooglePlayServicesAvailable(context) == ConnectionResult.SUCCESS
        if (google && BuildConfig.HAS_FCM) {
            FirebaseMessaging.getInstance().token.addOnSuccessListener { token ->
                tokenArrived(context, PushProvider.FCM, token)
            }
        } else {
            // The client id arrives in LianxiaoGetuiService.onReceiveClientId.
            PushManager.getInstance().initialize(context)
        }
    }

    /** The platform gave a token (first launch or a new one): the core registers it for
     *  every signed-in account, now or once online, and again after sign-in. */
    fun tokenArrived(context: Context, provider: PushProvider, token: String) {
        val accounts = (context.applicationContext as SampleApplication).accounts
        scope.launch {
            try {
                accounts.devices().use {
                    it.setPushToken(
                        RegisterDevice(
                            platform = DevicePlatform.ANDROID,
                            provider = provider,
                            token = token,
                            appVersion = BuildConfig.VERSION_NAME,
                            locale = Locale.getDefault().toLanguageTag(),
                        ),
                    )
                }
            } catch (e: LianxiaoException) {
                Log.w(TAG, "push token not kept: ${e::class.simpleName}")
            }
        }
    }

    /** Lianxiao's keys from a data map (FCM's `data`, a Getui transmission message), or null
     *  if absent. */
    fun dataOf(map: Map<String, String>): Map<String, String>? = pushDataOf(map::get)

    /** Lianxiao's keys from a tap's intent: FCM puts the data in the launch intent's extras;
     *  Getui's notifications (its own and the phone makers') open the server's intent, whose
     *  `S.kind=…;S.id=…` parts are string extras. */
    fun dataOf(intent: Intent?): Map<String, String>? {
        val extras = intent?.extras ?: return null
        return pushDataOf(extras::getString)
    }

    /** A push arrived while the app runs: the account syncs and the server hears it is here. */
    fun received(context: Context, data: Map<String, String>) {
        val accounts = (context.applicationContext as SampleApplication).accounts
        scope.launch {
            try {
                accounts.devices().use { it.pushReceived(data) }
            } catch (e: LianxiaoException) {
                Log.i(TAG, "push not for this app's accounts: ${e::class.simpleName}")
            }
        }
    }

    /** The user tapped a push: where to go (the account to switch to and the item). */
    suspend fun opened(context: Context, data: Map<String, String>): PushTarget? {
        val accounts = (context.applicationContext as SampleApplication).accounts
        return try {
            accounts.devices().use { it.pushOpened(data) }
        } catch (e: LianxiaoException) {
            Log.i(TAG, "tapped push not for this app's accounts: ${e::class.simpleName}")
            null
        }
    }
}
