import Foundation
import LivebootCore
#if canImport(Glibc)
import Glibc
#endif

/// A file the vmedia routes may serve, with its validators.
public struct MediaFile: Sendable {
    public let path: String
    public let size: Int
    public let validators: Validators
    let lastModifiedHeader: String
    let checkedAt: ContinuousClock.Instant
}

/// The files one folder may serve, by name: confined to the folder (symlinks followed, then checked), names
/// `[A-Za-z0-9._-]` ending in `.iso` (the iDRAC's client sends paths verbatim), and stat'ed at most once a second
/// per name — the BMC reads an ISO in thousands of ranged GETs, which must not each cost a metadata walk.
public final class MediaLibrary: Sendable {
    public let folder: String
    private let root: String
    private let cache = Locked<[String: MediaFile]>([:])
    private let maxAge: Duration
    /// Resolve `u22.iso` through a `u22` symlink, as the image catalogue names short names.
    private let resolvesShortNames: Bool

    public init(folder: String, resolvesShortNames: Bool, maxAge: Duration = .seconds(1)) {
        self.folder = folder
        let real = URL(fileURLWithPath: folder).resolvingSymlinksInPath().path
        root = real.hasSuffix("/") ? real : real + "/"
        self.maxAge = maxAge
        self.resolvesShortNames = resolvesShortNames
    }

    static func isServable(_ name: String) -> Bool { name.hasSuffix(".iso") && isPlainName(name) }

    /// `[A-Za-z0-9._-]`, not starting with a dot, at most 255 characters: never a path.
    static func isPlainName(_ name: String) -> Bool {
        guard name.count <= 255, let first = name.unicodeScalars.first, first != "." else { return false }
        return name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0)
            || $0 == "." || $0 == "_" || $0 == "-" }
    }

    /// The file behind `name`, or nil (then: 404, saying nothing of why).
    public func lookup(_ name: String) -> MediaFile? {
        guard Self.isServable(name) else { return nil }
        let now = ContinuousClock.now
        if let cached = cache.withLock({ $0[name] }), now - cached.checkedAt < maxAge { return cached }
        var candidates = [root + name]
        if resolvesShortNames { candidates.append(root + String(name.dropLast(4))) }
        for candidate in candidates {
            guard let file = Self.confinedFile(candidate, root: root, now: now) else { continue }
            cache.withLock { $0[name] = file }
            return file
        }
        cache.withLock { _ = $0.removeValue(forKey: name) }
        return nil
    }

    /// The real path must stay under `root` after every symlink is followed, and be a regular file.
    static func confinedFile(_ path: String, root: String, now: ContinuousClock.Instant) -> MediaFile? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        let real = String(cString: resolved)
        guard real.hasPrefix(root) else { return nil }
        var info = stat()
        guard stat(real, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        let mtimeNanos = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        let etag = "\"\(String(info.st_size, radix: 16))-\(String(mtimeNanos, radix: 16))-\(String(info.st_ino, radix: 16))\""
        let modified = Date(timeIntervalSince1970: TimeInterval(info.st_mtim.tv_sec))
        let validators = Validators(etag: etag, lastModified: modified)
        return MediaFile(path: real, size: Int(info.st_size), validators: validators,
                         lastModifiedHeader: validators.lastModifiedHeader, checkedAt: now)
    }
}
