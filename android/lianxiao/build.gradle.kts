// The `lianxiao` library: the Kotlin that `cargo xtask bindings` generates from the Rust core,
// the core itself as .so files for three ABIs (built by cargo-ndk), and thin wrappers
// (ktx: Flow adapters and helpers; android: Keystore, connectivity, Logcat).
plugins {
    alias(libs.plugins.android.library)
    alias(libs.plugins.kotlin.android)
    `maven-publish`
}

/** The Cargo workspace this Gradle project lives in. */
val rustRoot: File = rootDir.parentFile
val bindingsDir: File = rustRoot.resolve("target/bindings/kotlin")
val jniLibsDir: File = projectDir.resolve("src/main/jniLibs")
val buildRust = providers.gradleProperty("lianxiao.buildRust").map { it.toBoolean() }.getOrElse(true)
val cargoProfile = providers.gradleProperty("lianxiao.cargoProfile").getOrElse("release-mobile")
val minSdkVersion = 24

android {
    namespace = "org.lianxiao.core.android"
    compileSdk = 35

    defaultConfig {
        minSdk = minSdkVersion
        consumerProguardFiles("consumer-rules.pro")
        ndk {
            abiFilters += listOf("arm64-v8a", "armeabi-v7a", "x86_64")
        }
    }

    sourceSets {
        getByName("main") {
            kotlin.srcDir(bindingsDir)
            jniLibs.srcDir(jniLibsDir)
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    publishing {
        singleVariant("release") { withSourcesJar() }
    }
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    // The generated bindings call the library through JNA; the @aar carries libjnidispatch.so.
    api(libs.jna) { artifact { type = "aar" } }
    api(libs.kotlinx.coroutines.core)
    implementation(libs.kotlinx.coroutines.android)
    // Kotlin half of the platform certificate verifier the core's rustls uses.
    implementation(libs.rustls.platform.verifier)

    testImplementation(libs.junit)
    testImplementation(libs.kotlinx.coroutines.test)
}

// `./gradlew :lianxiao:publishToMavenLocal` (or to a company repository): apps then depend on
// org.lianxiao:lianxiao and get JNA, coroutines and the TLS verifier transitively.
publishing {
    publications {
        register<MavenPublication>("release") {
            groupId = "org.lianxiao"
            artifactId = "lianxiao"
            version = "0.1.0"
            afterEvaluate { from(components["release"]) }
        }
    }
}

// --- Rust ----------------------------------------------------------------------------------

/** Generates target/bindings/{kotlin,swift,python} from the host build of lianxiao-ffi. */
val generateBindings by tasks.registering(Exec::class) {
    group = "lianxiao"
    description = "Generates the Kotlin bindings with `cargo xtask bindings`."
    workingDir = rustRoot
    commandLine("cargo", "xtask", "bindings")
    inputs.files(fileTree(rustRoot) {
        include("Cargo.toml", "Cargo.lock", "bindings/**", "core/src/**", "protocol/src/**")
    })
    outputs.dir(bindingsDir)
}

/** Cross-compiles liblianxiao_ffi.so for the three ABIs into src/main/jniLibs/<abi>/. */
val cargoNdk by tasks.registering(Exec::class) {
    group = "lianxiao"
    description = "Builds liblianxiao_ffi.so for arm64-v8a, armeabi-v7a and x86_64 with cargo-ndk."
    workingDir = rustRoot
    val profileArgs = if (cargoProfile == "release") listOf("--release") else listOf("--profile", cargoProfile)
    commandLine(
        listOf(
            "cargo", "ndk",
            "-t", "arm64-v8a", "-t", "armeabi-v7a", "-t", "x86_64",
            // Link against the same API level as minSdk (cargo-ndk's default is older).
            "--platform", minSdkVersion.toString(),
            "-o", jniLibsDir.absolutePath,
            "build",
        ) + profileArgs + listOf("-p", "lianxiao-ffi"),
    )
    inputs.files(fileTree(rustRoot) {
        include("Cargo.toml", "Cargo.lock", "bindings/**", "core/src/**", "protocol/src/**")
    })
    outputs.dir(jniLibsDir)
}

/**
 * The Kotlin half of rustls-platform-verifier must match the Rust crate exactly, or TLS
 * fails at run time; fail the build instead.
 */
val checkRustlsVerifierVersion by tasks.registering {
    group = "lianxiao"
    val lock = rustRoot.resolve("Cargo.lock")
    val expected = libs.versions.rustls.platform.verifier.get()
    inputs.file(lock)
    doLast {
        val lines = lock.readLines()
        val at = lines.indexOfFirst { it.trim() == "name = \"rustls-platform-verifier-android\"" }
        val locked = lines.drop(at + 1).firstOrNull { it.trim().startsWith("version = ") }
            ?.substringAfter('"')?.substringBefore('"')
        check(at >= 0 && locked == expected) {
            "gradle/libs.versions.toml has rustls-platform-verifier $expected but Cargo.lock has " +
                "rustls-platform-verifier-android $locked: make them equal"
        }
    }
}

tasks.named("preBuild") {
    dependsOn(checkRustlsVerifierVersion)
    if (buildRust) dependsOn(generateBindings, cargoNdk)
}
