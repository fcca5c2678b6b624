// A small Compose app showing the library in use: sign in, switch accounts, read and
// acknowledge notices; homework for students (draft with photos, hand-in and its progress),
// teachers (report, grade with voice, return, remind) and parents (grade, sign-off). No
// business logic: every rule lives in the Rust core.
plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
    alias(libs.plugins.kotlin.compose)
    id("com.google.gms.google-services") apply false
}

// Firebase's Gradle plugin reads google-services.json; without the file the app uses Getui
// only (most phones in rural China have no Google services anyway).
val hasFcm = file("google-services.json").exists()
if (hasFcm) apply(plugin = "com.google.gms.google-services")

android {
    namespace = "org.lianxiao.sample"
    compileSdk = 35

    defaultConfig {
        applicationId = "org.lianxiao.sample"
        minSdk = 24
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
        // 10.0.2.2 is the development machine as seen from the emulator; override with
        // ./gradlew :sample:installDebug -Plianxiao.serverUrl=https://lianxiao.example.cn
        val serverUrl = providers.gradleProperty("lianxiao.serverUrl").getOrElse("http://10.0.2.2:8080")
        buildConfigField("String", "SERVER_URL", "\"$serverUrl\"")
        // 个推 Getui: the app id from the Getui developer console (-Pgetui.appId=...).
        manifestPlaceholders["GETUI_APPID"] = providers.gradleProperty("getui.appId").getOrElse("")
        // FCM only when the Firebase project's google-services.json is here.
        buildConfigField("boolean", "HAS_FCM", hasFcm.toString())
    }

    buildFeatures {
        compose = true
        buildConfig = true
    }

    buildTypes {
        release {
            isMinifyEnabled = true
            proguardFiles(getDefaultProguardFile("proguard-android-optimize.txt"))
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    implementation(project(":lianxiao"))
    implementation(platform(libs.compose.bom))
    implementation(libs.compose.ui)
    implementation(libs.compose.material3)
    implementation(libs.compose.ui.tooling.preview)
    debugImplementation(libs.compose.ui.tooling)
    implementation(libs.activity.compose)
    implementation(libs.lifecycle.viewmodel.compose)
    implementation(libs.lifecycle.runtime.compose)
    implementation(libs.kotlinx.coroutines.android)
    implementation(libs.livekit.android)
    implementation(libs.media3.exoplayer)
    implementation(libs.media3.exoplayer.hls)
    implementation(libs.media3.ui)
    // Push: Getui (gtsdk + its gtc core; from Getui's Maven repository, see settings) and FCM.
    implementation("com.getui:gtsdk:3.3.7.0")
    implementation("com.getui:gtc:3.2.18.0")
    implementation(platform("com.google.firebase:firebase-bom:33.7.0"))
    implementation("com.google.firebase:firebase-messaging")
    implementation("com.google.android.gms:play-services-base:18.5.0")
}
