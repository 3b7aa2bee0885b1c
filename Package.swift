// swift-tools-version:6.0
import PackageDescription

// Layers, top-down: liveboot (exe) → LivebootCLI → LivebootServer (portal) → LivebootCore → DellIDRAC → Redfish;
// VmediaServer (the BMCs' listener, NIO only) under LivebootServer.
// Linux only: the vmedia listener and the probes call Glibc (sendfile, pread, realpath), and CI and the gatekeepers
// run Debian/Ubuntu with Swift 6. No Apple platform is declared because none is built or tested.
let package = Package(
    name: "liveboot",
    products: [
        .executable(name: "liveboot", targets: ["liveboot"]),
        .executable(name: "idrac-sim", targets: ["idrac-sim"]),
        .library(name: "LivebootCore", targets: ["LivebootCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/vapor/multipart-kit.git", from: "4.7.1"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio-ssh.git", from: "0.15.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
    ],
    targets: [
        // The Redfish protocol: transport, sessions, typed resources, errors. Knows no vendor.
        .target(name: "Redfish", dependencies: [
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Metrics", package: "swift-metrics"),
        ]),
        // Dell iDRAC 9 quirks, each documented where handled.
        .target(name: "DellIDRAC", dependencies: ["Redfish"]),
        // A BMC's serial console over SSH (swift-nio-ssh): password login, a pseudo-terminal, the attach command.
        // Knows no vendor: which host, port and command come from the BMC adapter.
        .target(name: "BMCConsole", dependencies: [
            .product(name: "NIOSSH", package: "swift-nio-ssh"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),
        // cidata seeds: the NoCloud ISO writer/reader and user-data. Shared by the core and the simulator.
        .target(name: "Seed", dependencies: [
            .product(name: "Yams", package: "Yams"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // Nodes, images, configuration and the operations both faces call.
        .target(name: "LivebootCore", dependencies: [
            "Redfish", "DellIDRAC", "Seed", "BMCConsole",
            .product(name: "Yams", package: "Yams"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Subprocess", package: "swift-subprocess"),
        ]),
        // The portal's storage: SQLite through GRDB (users, slices, keys, leases, operations, audit), behind
        // Sendable repository protocols. Used by the portal and by `lb admin`.
        .target(name: "PortalStore", dependencies: [
            "LivebootCore", "Seed",
            .product(name: "Yams", package: "Yams"),
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // The vmedia listener: GET/HEAD of media files for the BMCs, read from the bytes, sent with sendfile, on its
        // own event loops. NIO only: no router, no core (the media layout's rules come in through `MediaNaming`).
        .target(name: "VmediaServer", dependencies: [
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOExtras", package: "swift-nio-extras"),
            .product(name: "Metrics", package: "swift-metrics"),
        ]),
        // `liveboot serve`: the web portal (stock Hummingbird HTTP/1) and the vmedia listener, in one process.
        .target(name: "LivebootServer", dependencies: [
            "LivebootCore", "PortalStore", "Seed", "VmediaServer",
            .product(name: "MultipartKit", package: "multipart-kit"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Mustache", package: "swift-mustache"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
        ]),
        // The CLI face: argument parsing and printing only.
        .target(name: "LivebootCLI", dependencies: [
            "LivebootCore", "LivebootServer", "PortalStore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Hummingbird", package: "hummingbird"),
        ]),
        .executableTarget(name: "liveboot", dependencies: [
            "LivebootCLI", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // The iDRAC 9 simulator: a stateful Redfish server, one port per node.
        .target(name: "IDRACSimulator", dependencies: [
            "Seed",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Yams", package: "Yams"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "CompressNIO", package: "compress-nio"),
            .product(name: "NIOSSH", package: "swift-nio-ssh"),
        ]),
        .executableTarget(name: "idrac-sim", dependencies: [
            "IDRACSimulator",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // libFuzzer targets for the parsers an anonymous client reaches (bench/fuzz.sh builds them with
        // -sanitize=fuzzer); a plain build replays saved inputs through the same checks.
        .executableTarget(name: "liveboot-fuzz", dependencies: [
            "LivebootServer", "VmediaServer", "Seed",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ], path: "Sources/LivebootFuzz"),
        .testTarget(name: "LivebootTests", dependencies: [
            "LivebootCore", "LivebootCLI", "LivebootServer", "VmediaServer", "IDRACSimulator", "Redfish", "DellIDRAC", "Seed", "PortalStore",
            "BMCConsole",
            .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
    ]
)
