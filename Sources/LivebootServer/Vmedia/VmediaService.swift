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

/// What each boot's BMC read: its image (by boot id, from `/boot/<id>/…`) and its seed (by the seed's file name,
/// one per boot). `BootMediaRecorder` stores them with the boots.
struct BootMediaTallies: Sendable {
    let images = MediaTally()
    let seeds = MediaTally()
}

extension VmediaRoutes {
    /// Images (shared and per boot), seeds and NoCloud seed files, where the layout puts them; the specific prefixes
    /// first (an empty `images.path` makes the images' prefix `/`).
    init(layout: MediaLayout, tallies: BootMediaTallies = BootMediaTallies()) {
        func library(_ kind: MediaLayout.Kind, contentType: String = "application/octet-stream") -> MediaLibrary {
            MediaLibrary(folder: layout.folder(of: kind), naming: LayoutNaming(kind: kind), contentType: contentType,
                         medium: kind == .image ? nil : "seeds")
        }
        // One library for both image paths: one open descriptor per image, whoever reads it.
        let images = library(.image)
        self.init([
            VmediaRoute(prefix: layout.urlPath(of: .seed), library: library(.seed), tally: (tallies.seeds, .name)),
            VmediaRoute(prefix: layout.urlPath(of: .noCloud), library: library(.noCloud, contentType: "text/plain; charset=utf-8")),
            VmediaRoute(prefix: MediaLayout.bootImagesURLPath, library: images, tally: (tallies.images, .leadingComponent)),
            VmediaRoute(prefix: layout.urlPath(of: .image), library: images),
        ])
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
