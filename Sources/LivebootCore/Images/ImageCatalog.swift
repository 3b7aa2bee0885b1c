import Crypto
import Foundation
import Seed
import Yams

/// A bootable image resolved to a file inside the images folder, and the URL the BMC reads it from.
public struct ResolvedImage: Sendable, Hashable {
    /// Path relative to the images folder, also the URL path below `images.baseURL`.
    public let name: String
    public let path: String
    public let url: String
}

/// One catalogue entry for `lb images`.
public struct CatalogEntry: Sendable, Codable, Hashable {
    public let name: String
    public let shortNames: [String]
    public let size: Int64
    public let modified: Date
    /// From `images.yaml` beside the images, when it says.
    public var os: String?
    public var version: String?
    public var description: String?
    /// Computed once per (size, mtime) and cached in `.liveboot-checksums.json`; nil unless asked for.
    public var sha256: String?
}

/// What a scan of the images folder found: servable images, and files that cannot be served, with why.
public struct CatalogScan: Sendable, Codable {
    public let entries: [CatalogEntry]
    public let ignored: [Ignored]
    public struct Ignored: Sendable, Codable, Hashable {
        public let name: String
        public let reason: String
    }
}

/// The images folder: ISOs and short-name symlinks (`u22 -> ubuntu-22.04-liveboot.iso`).
public struct ImageCatalog: Sendable {
    public let config: ImagesConfig

    public init(config: ImagesConfig) { self.config = config }

    var folder: URL { URL(fileURLWithPath: config.folder).resolvingSymlinksInPath() }

    var layout: MediaLayout { MediaLayout(images: config) }

    /// `u22` (short name), `u22.iso`, a file name, or a path that must lie inside the folder.
    public func resolve(_ name: String) throws -> ResolvedImage {
        let fm = FileManager.default
        var candidates: [URL] = []
        if name.contains("/") {
            candidates = [URL(fileURLWithPath: name, relativeTo: URL(fileURLWithPath: fm.currentDirectoryPath))]
        } else {
            candidates = [folder.appendingPathComponent(name), folder.appendingPathComponent(name + ".iso")]
        }
        guard let found = candidates.first(where: { fm.fileExists(atPath: $0.path) }) else {
            throw LivebootError.unknownImage(name, available: (try? list().flatMap { [$0.name] + $0.shortNames }) ?? [])
        }
        // Symlinks are followed, and the real file must still be inside the folder: the server refuses
        // anything outside it, so a link to /etc/shadow.iso is not an image.
        let real = found.resolvingSymlinksInPath()
        let root = folder.path.hasSuffix("/") ? folder.path : folder.path + "/"
        guard real.path.hasPrefix(root) else { throw LivebootError.imageOutsideFolder(found.path, folder: folder.path) }
        let relative = String(real.path.dropFirst(root.count))
        guard relative.split(separator: "/").allSatisfy({ MediaLayout.isPlainName(String($0)) }),
              MediaLayout.isServableName(real.lastPathComponent) else {
            throw LivebootError.badImageName(relative)
        }
        return ResolvedImage(name: relative, path: real.path, url: layout.imageURL(relative))
    }

    /// The folder's ISOs with the short names that point at them; the `seeds/` subfolder is not listed.
    public func list() throws -> [CatalogEntry] { try scan(checksums: false).entries }

    /// The images, their metadata from `images.yaml`, optionally their SHA-256 (cached), and what was ignored.
    public func scan(checksums: Bool) throws -> CatalogScan {
        let fm = FileManager.default
        let entries = try fm.contentsOfDirectory(atPath: folder.path).sorted()
        var files: [String: (size: Int64, modified: Date)] = [:]
        var links: [String: [String]] = [:]
        var ignored: [CatalogScan.Ignored] = []
        for entry in entries where !entry.hasPrefix(".") && !MediaLayout.reservedEntries.contains(entry) {
            let url = folder.appendingPathComponent(entry)
            let attributes = try fm.attributesOfItem(atPath: url.path)
            if attributes[.type] as? FileAttributeType == .typeSymbolicLink {
                let target = url.resolvingSymlinksInPath()
                guard target.deletingLastPathComponent().path == folder.path else {
                    ignored.append(.init(name: entry, reason: "a link that leads outside the images folder"))
                    continue
                }
                links[target.lastPathComponent, default: []].append(entry.hasSuffix(".iso") ? String(entry.dropLast(4)) : entry)
            } else if attributes[.type] as? FileAttributeType == .typeRegular {
                guard MediaLayout.isServableName(entry) else {
                    ignored.append(.init(name: entry, reason: "the name must match [A-Za-z0-9._-]+ and end in .iso"))
                    continue
                }
                files[entry] = ((attributes[.size] as? NSNumber)?.int64Value ?? 0, attributes[.modificationDate] as? Date ?? .distantPast)
            }
        }
        let metadata = loadMetadata()
        var sums = checksums ? ChecksumCache(folder: folder) : nil
        let listed = try files.keys.sorted().map { name in
            let file = files[name]!
            var entry = CatalogEntry(name: name, shortNames: Array(Set(links[name] ?? [])).sorted(), size: file.size,
                                     modified: file.modified)
            if let meta = metadata[name] {
                entry.os = meta.os
                entry.version = meta.version
                entry.description = meta.description
            }
            entry.sha256 = try sums?.sha256(of: name, size: file.size, modified: file.modified)
            return entry
        }
        sums?.save()
        return CatalogScan(entries: listed, ignored: ignored)
    }

    /// `images.yaml`: `<file name>: {os: ubuntu, version: "22.04", description: …}`.
    struct Metadata: Decodable {
        let os: String?
        let version: String?
        let description: String?
    }

    func loadMetadata() -> [String: Metadata] {
        guard let data = FileManager.default.contents(atPath: folder.appendingPathComponent("images.yaml").path) else { return [:] }
        return (try? YAMLDecoder().decode([String: Metadata].self, from: String(decoding: data, as: UTF8.self))) ?? [:]
    }
}

/// Writes seeds where `MediaLayout` says the vmedia listener serves them.
public struct SeedPublisher: Sendable {
    public let layout: MediaLayout

    public init(config: ImagesConfig) { layout = MediaLayout(images: config) }

    /// A 3½-inch 1.44 MB floppy: BMCs (and qemu) want exactly this size for a floppy image.
    public static let floppySize = 1_474_560

    public static func floppyImage(_ iso: Data) -> Data {
        var padded = iso
        if padded.count < floppySize { padded.append(Data(count: floppySize - padded.count)) }
        return padded
    }

    /// Publishes the bytes under their content id (so re-publishing the same seed is a no-op) and returns
    /// the URL the BMC will read.
    public func publish(_ image: Data, id: String) throws -> String {
        let directory = URL(fileURLWithPath: layout.seedsFolder)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = URL(fileURLWithPath: layout.seedPath(id: id))
        if FileManager.default.contents(atPath: file.path) != image {
            // Write then rename, so a BMC reading the URL never sees half a file.
            let temporary = directory.appendingPathComponent(".\(id).\(UUID().uuidString).tmp")
            try image.write(to: temporary)
            _ = try? FileManager.default.removeItem(at: file)
            try FileManager.default.moveItem(at: temporary, to: file)
        }
        return layout.seedURL(id: id)
    }

    /// For BMCs with a single virtual-media slot: the seed's files for cloud-init's NoCloud HTTP source, at the
    /// node's stable URL (`MediaLayout.noCloudURL`; the live image carries `ds=nocloud;s=<that URL>`).
    public func publishNoCloud(_ seed: Seed, node: String) throws -> String {
        let directory = URL(fileURLWithPath: layout.noCloudFolder(node: node))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for (name, text) in [("user-data", seed.userData), ("meta-data", seed.metaData)] {
            let temporary = directory.appendingPathComponent(".\(name).\(UUID().uuidString).tmp")
            try Data(text.utf8).write(to: temporary)
            _ = try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))
            try FileManager.default.moveItem(at: temporary, to: directory.appendingPathComponent(name))
        }
        return layout.noCloudURL(node: node)
    }

    /// Removes the node's NoCloud files; false when there were none.
    @discardableResult
    public func withdrawNoCloud(node: String) throws -> Bool {
        let directory = URL(fileURLWithPath: layout.noCloudFolder(node: node))
        guard FileManager.default.fileExists(atPath: directory.path) else { return false }
        try FileManager.default.removeItem(at: directory)
        return true
    }
}

/// SHA-256 of images, computed once per (size, modification time) and kept in `<images>/.liveboot-checksums.json`:
/// hashing a 2 GiB ISO takes seconds, and the catalogue is listed often.
struct ChecksumCache {
    struct Entry: Codable {
        let size: Int64
        let modified: Double
        let sha256: String
    }

    let file: URL
    var entries: [String: Entry]
    var changed = false

    init(folder: URL) {
        file = folder.appendingPathComponent(".liveboot-checksums.json")
        entries = (FileManager.default.contents(atPath: file.path)).flatMap { try? JSONDecoder().decode([String: Entry].self, from: $0) } ?? [:]
    }

    mutating func sha256(of name: String, size: Int64, modified: Date) throws -> String {
        if let cached = entries[name], cached.size == size, cached.modified == modified.timeIntervalSince1970 {
            return cached.sha256
        }
        let handle = try FileHandle(forReadingFrom: file.deletingLastPathComponent().appendingPathComponent(name))
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 4 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        let digest = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        entries[name] = Entry(size: size, modified: modified.timeIntervalSince1970, sha256: digest)
        changed = true
        return digest
    }

    /// Best effort: a read-only images folder just means no cache.
    func save() {
        guard changed, let data = try? JSONEncoder().encode(entries) else { return }
        try? data.write(to: file, options: .atomic)
    }
}
