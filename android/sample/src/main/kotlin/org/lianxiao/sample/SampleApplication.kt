package org.lianxiao.sample

import android.app.Application
import org.lianxiao.core.Accounts
import org.lianxiao.core.android.Lianxiao
import org.lianxiao.sample.push.Push

/** Starts the core once per process; screens share [accounts]. */
class SampleApplication : Application() {
    lateinit var accounts: Accounts
        private set

    override fun onCreate() {
        super.onCreate()
        accounts = Lianxiao.initialize(this, BuildConfig.SERVER_URL)
        // FCM with Google Play services, else Getui; the token goes to the core.
        Push.start(this)
    }
}
