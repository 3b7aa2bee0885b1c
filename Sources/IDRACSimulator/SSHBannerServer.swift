import NIOCore
import NIOPosix

/// Stands in for the node's sshd: listens on a fixed loopback port while the simulated OS is up, sends an
/// `SSH-2.0-` banner and closes. Down means not listening (connection refused), as with a real powered-off node.
actor SSHBannerServer {
    private(set) var port: Int
    private var channel: (any Channel)?

    init(port: Int) { self.port = port }

    /// - Returns: the port (chosen by the system the first time when 0).
    @discardableResult
    func start(banner: String) async throws -> Int {
        if let channel { try? await channel.close() }
        let line = banner + "\r\n"
        let bound = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    _ = child.writeAndFlush(ByteBuffer(string: line)).flatMap { child.close() }
                }
            }
            .bind(host: "127.0.0.1", port: port).get()
        port = bound.localAddress?.port ?? port
        channel = bound
        return port
    }

    func stop() async {
        try? await channel?.close()
        channel = nil
    }
}
