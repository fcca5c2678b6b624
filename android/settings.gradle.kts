// The Android side of Lianxiao: the `lianxiao` library (generated bindings, the native
// libraries and small Kotlin wrappers) and a `sample` Compose app that uses it.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
    plugins {
        // Applied by the sample only when google-services.json is present (FCM).
        id("com.google.gms.google-services") version "4.4.2"
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
        // 个推 Getui's SDK (push through the phone makers' channels).
        maven {
            name = "getui"
            url = uri("https://mvn.getui.com/nexus/content/repositories/releases/")
            content { includeGroup("com.getui") }
        }
        // The Kotlin half of rustls-platform-verifier ships inside its Rust crate as a local
        // Maven repository; `cargo fetch` puts it on disk (see lianxiao/build.gradle.kts).
        maven {
            name = "rustlsPlatformVerifier"
            url = uri(rustlsPlatformVerifierMaven())
            content { includeGroup("org.rustls") }
        }
    }
}

/** `<crate dir>/maven` of rustls-platform-verifier-android, found with `cargo metadata`. */
fun rustlsPlatformVerifierMaven(): File {
    val rustRoot = file("..")
    val json = providers.exec {
        workingDir = rustRoot
        commandLine(
            "cargo", "metadata", "--format-version", "1",
            "--filter-platform", "aarch64-linux-android",
        )
    }.standardOutput.asText.get()
    @Suppress("UNCHECKED_CAST")
    val packages = (groovy.json.JsonSlurper().parseText(json) as Map<String, Any>)["packages"]
        as List<Map<String, Any>>
    val manifest = packages.firstOrNull { it["name"] == "rustls-platform-verifier-android" }
        ?.get("manifest_path") as String?
        ?: error("rustls-platform-verifier-android not in the cargo graph: is lianxiao-ffi a workspace member?")
    return File(File(manifest).parentFile, "maven")
}

rootProject.name = "lianxiao-android"
include(":lianxiao")
include(":sample")
