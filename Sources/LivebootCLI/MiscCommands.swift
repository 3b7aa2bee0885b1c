import ArgumentParser
import Foundation
import Hummingbird
import LivebootCore
import LivebootServer

extension LivebootCommand {
    struct Images: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the bootable images and their short names.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: JSONOption

        func run() async throws {
            let entries: [CatalogEntry]
            let liveboot: Liveboot
            do {
                liveboot = try global.load()
                entries = try liveboot.catalog.list()
            } catch { throw fail(error) }
            if output.json { return try Output.json(entries) }
            Output.out("images in \(liveboot.config.images.folder), served as \(liveboot.config.images.baseURL)/")
            let width = (entries.map(\.name.count).max() ?? 4) + 2
            for entry in entries {
                let size = ByteCountFormatter.string(fromByteCount: entry.size, countStyle: .binary)
                let short = entry.shortNames.isEmpty ? "" : "  (" + entry.shortNames.joined(separator: ", ") + ")"
                Output.out("  " + entry.name.padding(toLength: width, withPad: " ", startingAt: 0)
                    + size.padding(toLength: 11, withPad: " ", startingAt: 0) + short)
            }
            if entries.isEmpty { Output.out("  (none)") }
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
