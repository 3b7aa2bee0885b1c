import LivebootCore
import Logging
import NIOCore
import ServiceLifecycle
import VmediaServer

/// The media layout's rules for one kind of media, as the vmedia listener asks them.
struct LayoutNaming: MediaNaming {
    let kind: MediaLayout.Kind

    func candidates(for name: String) -> [String] { MediaLayout.candidates(for: name, kind: kind) }
    func servesFile(atRelativePath path: String) -> Bool { MediaLayout.servesFile(atRelativePath: path, kind: kind) }
}

extension VmediaRoutes {
    /// Images, seeds and NoCloud seed files, where the layout puts them; the specific prefixes first (an empty
    /// `images.path` makes the images' prefix `/`).
    init(layout: MediaLayout) {
        func route(_ kind: MediaLayout.Kind, contentType: String = "application/octet-stream") -> VmediaRoute {
            VmediaRoute(prefix: layout.urlPath(of: kind),
                        library: MediaLibrary(folder: layout.folder(of: kind), naming: LayoutNaming(kind: kind), contentType: contentType,
                                              medium: kind == .image ? nil : "seeds"))
        }
        self.init([route(.seed), route(.noCloud, contentType: "text/plain; charset=utf-8"), route(.image)])
    }
}

/// The vmedia listener as one service of `liveboot serve`: it stops with the process's graceful shutdown, after the
/// answers being written.
struct VmediaService: Service {
    let server: VmediaServer
    let onBound: @Sendable (Int) async -> Void

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await server.run(onBound: onBound)
        } onGracefulShutdown: {
            server.shutdown()
        }
    }
}
