// swift-tools-version:5.9
// Lianxiao for iOS: the Rust core as an XCFramework (LianxiaoFFI), its generated Swift API
// (Lianxiao) and small Swift wrappers (LianxiaoKit: AsyncStream, Keychain, NWPathMonitor,
// os_log). Run scripts/build-xcframework.sh first: it creates LianxiaoFFI.xcframework and
// copies the generated Swift into Sources/Lianxiao.
import PackageDescription

let package = Package(
    name: "Lianxiao",
    platforms: [.iOS(.v15)],
    products: [
        .library(name: "Lianxiao", targets: ["Lianxiao"]),
        .library(name: "LianxiaoKit", targets: ["LianxiaoKit"]),
    ],
    targets: [
        .binaryTarget(name: "LianxiaoFFI", path: "LianxiaoFFI.xcframework"),
        .target(
            name: "Lianxiao",
            dependencies: ["LianxiaoFFI"],
            path: "Sources/Lianxiao"
        ),
        .target(
            name: "LianxiaoKit",
            dependencies: ["Lianxiao"],
            path: "Sources/LianxiaoKit"
        ),
    ]
)
