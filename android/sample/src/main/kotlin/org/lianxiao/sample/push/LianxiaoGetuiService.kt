// 个推 Getui's callbacks: the client id (this install's push token for Getui) and what arrives
// through Getui's own connection while the app runs.
//
// A tap never comes through here. The server sends every push as a notification with
// `click_type: intent` on both ways to the phone — Getui's own notification while the app runs,
// the phone maker's (Huawei, Honor, Xiaomi, OPPO, vivo, Meizu) when it does not — and that
// intent names MainActivity (`component=<package>/org.lianxiao.sample.MainActivity`) with the
// push's data as string extras. The system starts MainActivity from the notification, which
// hands the extras to the core's `pushOpened`. This service must not start an activity itself:
// it runs in the background, and Android 10+ blocks activity starts from there.
package org.lianxiao.sample.push

import android.content.Context
import android.util.Log
import com.igexin.sdk.GTIntentService
import com.igexin.sdk.message.GTCmdMessage
import com.igexin.sdk.message.GTNotificationMessage
import com.igexin.sdk.message.GTTransmitMessage
import org.json.JSONException
import org.json.JSONObject
import org.lianxiao.core.PushProvider

class LianxiaoGetuiService : GTIntentService() {
    override fun onReceiveServicePid(context: Context, pid: Int) {}

    override fun onReceiveClientId(context: Context, clientId: String) {
        Push.tokenArrived(context, PushProvider.GETUI, clientId)
    }

    /** A transmission (透传) message: data only, nothing shown, nothing tapped. Lianxiao's
     *  server sends none today; if one carries Lianxiao's data (a JSON object of strings), the
     *  core hears it arrived, as with FCM's data while the app runs. */
    override fun onReceiveMessageData(context: Context, message: GTTransmitMessage) {
        val bytes = message.payload ?: return
        val json = try {
            JSONObject(String(bytes, Charsets.UTF_8))
        } catch (e: JSONException) {
            Log.i("LianxiaoPush", "transmission message that is not Lianxiao's")
            return
        }
        val data = Push.dataOf(json.keys().asSequence().associateWith { json.optString(it) })
        data?.let { Push.received(context, it) }
    }

    override fun onReceiveOnlineState(context: Context, online: Boolean) {}

    override fun onReceiveCommandResult(context: Context, message: GTCmdMessage) {}

    /** Getui showed one of our notifications (its own connection only; the makers' channels
     *  call nothing). Its data is in the tap's intent, not here; the client syncs anyway. */
    override fun onNotificationMessageArrived(context: Context, message: GTNotificationMessage) {}

    /** Getui's notification was tapped. The system is already starting MainActivity with the
     *  intent's extras (`click_type: intent`); nothing to do, and no activity to start here. */
    override fun onNotificationMessageClicked(context: Context, message: GTNotificationMessage) {}
}
