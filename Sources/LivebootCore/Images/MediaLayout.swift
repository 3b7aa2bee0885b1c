import Foundation

/// Where served media live on disk and under which URL paths the vmedia listener serves them — the one place that
/// knows it; the catalogue, the seed publisher, the vmedia routes and the pruning ask here.
///
/// - images: `<folder>/<name>.iso` (or a short-name symlink `<folder>/u22`) → `/<images.path>/<name>.iso`, and, for
///   one boot's BMC, `/boot/<boot id>/<name>.iso` (the same file: the path only says whose reading it is);
/// - seeds: `<folder>/seeds/cidata-<sha256>.iso` → `/seeds/cidata-<sha256>.iso`;
/// - NoCloud seeds for single-slot BMCs: `<folder>/seeds/nocloud/<node>/<file>` → `/seed/<node>/<file>`.
public struct MediaLayout: Sendable {
    public enum Kind: Sendable, CaseIterable {
        case image, seed, noCloud
    }

    /// The images folder as configured.
    public let folder: String
    /// `http://ip:port`: the vmedia listener as the BMCs reach it.
    public let serverURL: String
    /// `/<images.path>/` (`/` when the path is empty).
    public let imagesURLPath: String

    public static let seedsURLPath = "/seeds/"
    /// Images as one boot's BMC reads them: the listener counts what each boot read (`MediaTally`).
    public static let bootImagesURLPath = "/boot/"
    public static let noCloudURLPath = "/seed/"
    /// What cloud-init's NoCloud HTTP source reads (`meta-data`, `user-data`) or tries (the other two).
    public static let noCloudFiles: Set<String> = ["user-data", "meta-data", "vendor-data", "network-config"]
    /// Inside the images folder, not images.
    static let reservedEntries: Set<String> = ["seeds", "images.yaml"]

    public init(images: ImagesConfig) {
        folder = images.folder
        serverURL = images.serverURL
        let trimmed = images.path.split(separator: "/").joined(separator: "/")
        imagesURLPath = trimmed.isEmpty ? "/" : "/\(trimmed)/"
    }

    public var seedsFolder: String { folder + "/seeds" }
    public var noCloudFolder: String { seedsFolder + "/nocloud" }

    /// The folder a kind's URL names are relative to.
    public func folder(of kind: Kind) -> String {
        switch kind {
        case .image: folder
        case .seed: seedsFolder
        case .noCloud: noCloudFolder
        }
    }

    /// The URL path prefix of a kind, starting and ending with `/`.
    public func urlPath(of kind: Kind) -> String {
        switch kind {
        case .image: imagesURLPath
        case .seed: Self.seedsURLPath
        case .noCloud: Self.noCloudURLPath
        }
    }

    /// An image's URL, from its path relative to the images folder.
    public func imageURL(_ relative: String) -> String { serverURL + imagesURLPath + relative }
    /// The image's URL for one boot (`boot` is its ticket id, a plain name).
    public func imageURL(_ relative: String, boot: String) -> String { serverURL + Self.bootImagesURLPath + boot + "/" + relative }
    public func seedURL(id: String) -> String { serverURL + Self.seedsURLPath + Self.seedFileName(id: id) }
    public func noCloudURL(node: String) -> String { serverURL + Self.noCloudURLPath + node + "/" }
    public func noCloudFolder(node: String) -> String { noCloudFolder + "/" + node }
    public func seedPath(id: String) -> String { seedsFolder + "/" + Self.seedFileName(id: id) }
    public static func seedFileName(id: String) -> String { id + ".iso" }

    // MARK: names

    /// `[A-Za-z0-9._-]`, not starting with a dot, at most 255 bytes: never a path.
    public static func isPlainName(_ name: String) -> Bool {
        guard name.utf8.count <= 255, let first = name.utf8.first, first != UInt8(ascii: ".") else { return false }
        return name.utf8.allSatisfy { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    /// A plain name ending in `.iso`: what an image or a seed file may be called (the iDRAC's client sends paths
    /// verbatim, so nothing needing escapes is ever served).
    public static func isServableName(_ name: String) -> Bool { name.hasSuffix(".iso") && isPlainName(name) }

    /// The files under `folder(of: kind)` a request name may be served from, in order; empty when the name is not
    /// servable. Images also answer `u22.iso` through a `u22` short-name symlink.
    public static func candidates(for name: String, kind: Kind) -> [String] {
        switch kind {
        case .image:
            guard isServableName(name) else { return [] }
            return [name, String(name.dropLast(4))]
        case .seed:
            return isServableName(name) ? [name] : []
        case .noCloud:
            let parts = name.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, isPlainName(String(parts[0])), noCloudFiles.contains(String(parts[1])) else { return [] }
            return [name]
        }
    }

    /// Whether the file a request finally reached (its real path relative to the kind's folder) may be served: an
    /// image must be an ISO by its own name too (a short name `notes.iso` must not serve a file `notes`).
    public static func servesFile(atRelativePath path: String, kind: Kind) -> Bool {
        switch kind {
        case .image, .seed:
            return !path.contains("/") && isServableName(path)
        case .noCloud:
            return !candidates(for: path, kind: .noCloud).isEmpty
        }
    }
}

// MARK: pruning

extension MediaLayout {
    /// The seed file a media URL names, if it is one of ours (`<server>/seeds/<file>`).
    public func seedFile(inURL url: String) -> String? {
        guard let path = URL(string: url)?.path, path.hasPrefix(Self.seedsURLPath) else { return nil }
        let name = String(path.dropFirst(Self.seedsURLPath.count))
        return Self.isServableName(name) ? name : nil
    }

    /// Removes published seeds no boot needs any more: every boot publishes a seed of its own (a fresh
    /// `instance-id`), so without this the folder grows by one file per boot. Kept: seeds published within
    /// `retention` (running and recent boots — a boot publishes its seed as it starts), and seeds a BMC slot holds
    /// now (`inUse`: a live node that reboots reads its seed again). Returns the files removed.
    @discardableResult
    public func pruneSeeds(inUse: Set<String>, retention: Duration, now: Date = Date()) -> [String] {
        let fm = FileManager.default
        let cutoff = now.addingTimeInterval(-Double(retention.components.seconds))
        guard let entries = try? fm.contentsOfDirectory(atPath: seedsFolder) else { return [] }
        var removed: [String] = []
        for entry in entries.sorted() where Self.isServableName(entry) && !inUse.contains(entry) {
            let path = seedsFolder + "/" + entry
            guard let attributes = try? fm.attributesOfItem(atPath: path),
                  attributes[.type] as? FileAttributeType == .typeRegular,
                  let modified = attributes[.modificationDate] as? Date, modified < cutoff else { continue }
            if (try? fm.removeItem(atPath: path)) != nil { removed.append(entry) }
        }
        return removed
    }
}
