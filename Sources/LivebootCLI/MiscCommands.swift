import ArgumentParser
import Foundation
import Hummingbird
import LivebootCore
import LivebootServer

extension LivebootCommand {
    struct Images: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the bootable images, their short names and OS (images.yaml), and what cannot be served.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: JSONOption
        @Flag(name: .long, help: "Also the SHA-256 of each image (computed once, then cached by size and mtime).")
        var checksums = false

        func run() async throws {
            let scan: CatalogScan
            let liveboot: Liveboot
            do {
                liveboot = try global.load()
                scan = try liveboot.catalog.scan(checksums: checksums)
            } catch { throw fail(error) }
            if output.json { return try Output.json(scan) }
            Output.out("images in \(liveboot.config.images.folder), served as \(liveboot.config.images.baseURL)/")
            let width = (scan.entries.map(\.name.count).max() ?? 4) + 2
            for entry in scan.entries {
                let size = ByteCountFormatter.string(fromByteCount: entry.size, countStyle: .binary)
                let os = [entry.os, entry.version].compactMap { $0 }.joined(separator: " ")
                let short = entry.shortNames.isEmpty ? "" : "  (" + entry.shortNames.joined(separator: ", ") + ")"
                Output.out("  " + entry.name.padding(toLength: width, withPad: " ", startingAt: 0)
                    + size.padding(toLength: 11, withPad: " ", startingAt: 0)
                    + (os.isEmpty ? "" : os.padding(toLength: 14, withPad: " ", startingAt: 0)) + short
                    + (entry.sha256.map { "  sha256:\($0)" } ?? ""))
            }
            if scan.entries.isEmpty { Output.out("  (none)") }
            for skipped in scan.ignored { Output.out("  ignored: \(skipped.name) — \(skipped.reason)") }
        }
    }

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the web portal and the vmedia listener the BMCs read images and seeds from.",
            discussion: """
            Two listeners in one process: the portal on portal.listen:portal.port (default 0.0.0.0:8081), the vmedia \
            listener on images.listen:images.port (default 0.0.0.0:8080; the URLs the BMCs get name images.ip and \
            images.port). The vmedia listener answers GET and HEAD of media files only.
            """)
        @OptionGroup var global: GlobalOptions
        @Option(name: .long, help: "Address both listeners bind (default: portal.listen and images.listen).") var host: String?
        @Option(name: .long, help: "The portal's port (default: the config's portal.port).") var port: Int?
        @Option(name: .long, help: "The vmedia listener's port (default: the config's images.port).") var mediaPort: Int?
        @Option(name: .long, help: "Templates folder (default: /usr/share/liveboot/Templates, else ./Templates).")
        var templates: String?
        @Option(name: .long, help: "Static assets folder (default: /usr/share/liveboot/Public, else ./Public).")
        var publicFolder: String?
        @Option(name: .long, help: "The console panel's xterm.js, as deploy/xterm.sh builds it (default: /usr/share/liveboot/xterm, else ./.build-xterm).")
        var xtermFolder: String?
        @Option(name: .long, help: "Seconds between two status rounds of the dashboard.") var statusInterval = 60

        func run() async throws {
            let liveboot: Liveboot
            do { liveboot = try global.load() } catch { throw fail(error) }
            var logger = global.makeLogger()
            logger.logLevel = global.verbose ? .debug : .info
            var options: ServeOptions
            do {
                options = try ServeOptions(config: liveboot.config,
                                           templatesFolder: templates ?? ServeOptions.defaultFolder("Templates"),
                                           publicFolder: publicFolder ?? ServeOptions.defaultFolder("Public"),
                                           statusInterval: .seconds(max(5, statusInterval)))
            } catch { throw fail(error) }
            if let host {
                options.portal.host = host
                options.media.host = host
            }
            if let port { options.portal.port = port }
            if let xtermFolder { options.xtermFolder = xtermFolder }
            if let mediaPort { options.media.port = mediaPort }
            let app: any ApplicationProtocol
            do {
                app = try await LivebootServer.buildApplication(config: liveboot.config, options: options, logger: logger,
                                                                onServerRunning: { [logger, options] ports in
                    logger.info("liveboot serve is up", metadata: ["portal": "http://\(options.portal.host):\(ports.portal)/",
                                                                   "vmedia": "\(liveboot.config.images.serverURL)/"])
                })
            } catch { throw fail(error) }
            try await app.runService()
        }
    }

    struct Version: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the version.")
        func run() { Output.out("liveboot \(LivebootCommand.version)") }
    }
}
