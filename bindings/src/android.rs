//! The one JNI entry point: Android's certificate verifier (system trust store, the app's
//! network security config) lives in the JVM, so rustls-platform-verifier needs the app's
//! Context once before any https:// or wss:// call. Called by `PlatformTls.init` in the
//! Android library.

use jni::{
    EnvUnowned,
    objects::{JClass, JObject},
};

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_lianxiao_core_android_PlatformTls_nativeInit<'caller>(
    mut env: EnvUnowned<'caller>,
    _class: JClass<'caller>,
    context: JObject<'caller>,
) {
    env.with_env(|env| -> Result<(), jni::errors::Error> {
        rustls_platform_verifier::android::init_with_env(env, context)
    })
    .resolve::<jni::errors::ThrowRuntimeExAndDefault>()
}
