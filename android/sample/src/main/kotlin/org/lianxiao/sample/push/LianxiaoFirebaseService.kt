// FCM's callbacks on phones with Google Play services: a new registration token, and data
// that arrives while the app is in the foreground (in the background the system shows the
// notification and a tap opens MainActivity with the data as extras).
package org.lianxiao.sample.push

import com.google.firebase.messaging.FirebaseMessagingService
import com.google.firebase.messaging.RemoteMessage
import org.lianxiao.core.PushProvider

class LianxiaoFirebaseService : FirebaseMessagingService() {
    override fun onNewToken(token: String) {
        Push.tokenArrived(this, PushProvider.FCM, token)
    }

    override fun onMessageReceived(message: RemoteMessage) {
        Push.dataOf(message.data)?.let { Push.received(this, it) }
    }
}
