// 个推 Getui's callbacks: the client id (this install's push token for Getui) and messages
// that arrive through Getui's own connection while the app runs. Taps on vendor-channel
// notifications open MainActivity through the `lianxiao://open` intent instead.
package org.lianxiao.sample.push

import android.content.Context
import android.content.Intent
import com.igexin.sdk.GTIntentService
import com.igexin.sdk.message.GTCmdMessage
import com.igexin.sdk.message.GTNotificationMessage
import com.igexin.sdk.message.GTTransmitMessage
import org.json.JSONObject
import org.lianxiao.core.PushProvider
import org.lianxiao.sample.MainActivity

class LianxiaoGetuiService : GTIntentService() {
    override fun onReceiveServicePid(context: Context, pid: Int) {}

    override fun onReceiveClientId(context: Context, clientId: String) {
        Push.tokenArrived(context, PushProvider.GETUI, clientId)
    }

    /** The notification's payload (`click_type: payload`): the push's data as JSON strings.
     *  Getui hands it over when the notification is tapped. */
    override fun onReceiveMessageData(context: Context, message: GTTransmitMessage) {
        val json = JSONObject(String(message.payload ?: return, Charsets.UTF_8))
        val data = Push.dataOf(json.keys().asSequence().associateWith { json.getString(it) }) ?: return
        context.startActivity(
            Intent(context, MainActivity::class.java)
                .addFlags(Intent.FLAG_ACTIVITY_NEW_TASK or Intent.FLAG_ACTIVITY_CLEAR_TOP)
                .apply { data.forEach { (k, v) -> putExtra(k, v) } },
        )
    }

    override fun onReceiveOnlineState(context: Context, online: Boolean) {}

    override fun onReceiveCommandResult(context: Context, message: GTCmdMessage) {}

    /** Shown by Getui while the app runs: the account syncs and the server hears of it. */
    override fun onNotificationMessageArrived(context: Context, message: GTNotificationMessage) {
        // The shown notification carries no data; the next tap (payload) or sync brings it.
    }

    override fun onNotificationMessageClicked(context: Context, message: GTNotificationMessage) {}
}
