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
            abstract: "Serve the images folder (and seeds) over HTTP for the BMCs' virtual media.")
        @OptionGroup var global: GlobalOptions
        @Option(name: .long, help: "Address to listen on (default: 0.0.0.0).") var host = "0.0.0.0"
        @Option(name: .long, help: "Port (default: the config's images.port).") var port: Int?
        @Option(name: .long, help: "Templates folder (default: /usr/share/liveboot/Templates, else ./Templates).")
        var templates: String?
        @Option(name: .long, help: "Static assets folder (default: /usr/share/liveboot/Public, else ./Public).")
        var publicFolder: String?
        @Option(name: .long, help: "Seconds between two status rounds of the dashboard.") var statusInterval = 60

        func run() async throws {
            let liveboot: Liveboot
            do { liveboot = try global.load() } catch { throw fail(error) }
            var logger = global.makeLogger()
            logger.logLevel = global.verbose ? .debug : .info
            let options = ServeOptions(host: host, port: port ?? liveboot.config.images.port,
                                       templatesFolder: templates ?? ServeOptions.defaultFolder("Templates"),
                                       publicFolder: publicFolder ?? ServeOptions.defaultFolder("Public"),
                                       statusInterval: .seconds(max(5, statusInterval)))
            let app: any ApplicationProtocol
            do {
                app = try await LivebootServer.buildApplication(config: liveboot.config, options: options, logger: logger)
            } catch { throw fail(error) }
            try await app.runService()
        }
    }

    struct Version: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the version.")
        func run() { Output.out("liveboot \(LivebootCommand.version)") }
    }
}
