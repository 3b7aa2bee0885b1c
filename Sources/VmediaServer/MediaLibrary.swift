import Foundation
import Metrics
import NIOConcurrencyHelpers
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// One version of a served file, open: every answer that reads it shares the descriptor (`sendfile` takes its own
/// offset, so they do not disturb each other), and the descriptor is closed when the last of them is done with it
/// and the library has moved on to a newer version — ARC counts the users.
///
/// A `NIOFileHandle` is lent to one user at a time (a second, concurrent `withUnsafeFileDescriptor` fails with
/// EBUSY, and NIO then closes the connection): each event loop gets its own, a `dup` of the descriptor.
final class OpenMediaFile: Sendable {
    let size: Int
    let validators: Validators
    /// The header fields every answer about this version carries, from `Accept-Ranges` to `Last-Modified`, made once:
    /// formatting them per answer was a tenth of a ranged read's CPU time (perf).
    let validatorFields: [UInt8]
    /// `Content-Type`, the library's.
    let contentTypeField: [UInt8]
    /// For `pread` (small slices) and `fstat` (the truncation check): never lent to NIO.
    let descriptor: CInt
    fileprivate let identity: FileIdentity
    /// What the operators' metrics count of this file's answers.
    let meter: MediaMeter
    private let handles = NIOLockedValueBox<[ObjectIdentifier: NIOFileHandle]>([:])

    fileprivate init(descriptor: CInt, identity: FileIdentity, modified: Int, contentType: String, meter: MediaMeter) {
        self.descriptor = descriptor
        self.meter = meter
        self.identity = identity
        size = identity.size
        // Strong: it changes whenever the bytes may have (size, mtime in nanoseconds, inode).
        let etag = "\"\(String(identity.size, radix: 16))-\(String(identity.mtimeNanos, radix: 16))-\(String(identity.inode, radix: 16))\""
        validators = Validators(etag: etag, lastModified: Date(timeIntervalSince1970: TimeInterval(modified)))
        validatorFields = Array("\r\nAccept-Ranges: bytes\r\nETag: \(etag)\r\nLast-Modified: \(validators.lastModifiedHeader)".utf8)
        contentTypeField = Array("\r\nContent-Type: \(contentType)".utf8)
    }

    /// The handle `FileRegion`s on `loop` use; nil if no descriptor is left to duplicate.
    func handle(on loop: any EventLoop) -> NIOFileHandle? {
        let key = ObjectIdentifier(loop)
        return handles.withLockedValue { handles in
            if let handle = handles[key] { return handle }
            let copy = dup(descriptor)
            guard copy >= 0 else { return nil }
            _ = fcntl(copy, F_SETFD, FD_CLOEXEC)
            let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: copy)
            handles[key] = handle
            return handle
        }
    }

    deinit {
        handles.withLockedValue { handles in
            for handle in handles.values { try? handle.close() }
        }
        close(descriptor)
    }
}

fileprivate struct FileIdentity: Equatable, Sendable {
    let inode: UInt64
    let size: Int
    let mtimeNanos: Int64

    init(_ info: stat) {
        inode = UInt64(info.st_ino)
        size = Int(info.st_size)
        mtimeNanos = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
    }
}

/// Which request names a folder serves, and from which files: the layout's rules, handed in by whoever owns them
/// (this layer knows sockets and bytes, not what an image or a seed is).
public protocol MediaNaming: Sendable {
    /// The paths under the folder that `name` may be served from, tried in order; empty when the name is not
    /// servable (then: 404). Never called with a name that failed before: only names that passed are cached.
    func candidates(for name: String) -> [String]
    /// Whether the file finally reached — its real path under the folder, symlinks followed — may be served.
    func servesFile(atRelativePath path: String) -> Bool
}

/// The files one folder may serve, by name: confined to the folder (symlinks followed, then checked), the names and
/// files its `MediaNaming` accepts (the iDRAC's client sends paths verbatim).
///
/// A BMC reads an ISO in thousands of ranged GETs, so a name is resolved, checked and stat'ed at most once a second,
/// and its file kept open between answers: `open`+`fstat`+`close` per answer was a tenth of the CPU time of a
/// 32 KiB ranged read (perf). A file replaced under its name is served anew within that second.
public final class MediaLibrary: Sendable {
    public let folder: String
    private let root: String
    private let cache = NIOLockedValueBox<[String: Entry]>([:])
    private let maxAge: TimeAmount
    private let naming: any MediaNaming
    private let contentType: String
    /// The metrics label of every file of the library (seeds: one per boot, too many to count apart), or nil to
    /// label each file by its path in the folder (images: a few, each worth its own line).
    private let medium: String?

    private struct Entry: Sendable {
        let file: OpenMediaFile
        let checkedAt: NIODeadline
    }

    public init(folder: String, naming: any MediaNaming, contentType: String = "application/octet-stream",
                medium: String? = nil, maxAge: TimeAmount = .seconds(1)) {
        self.folder = folder
        self.medium = medium
        let real = URL(fileURLWithPath: folder).resolvingSymlinksInPath().path
        root = real.hasSuffix("/") ? real : real + "/"
        self.maxAge = maxAge
        self.naming = naming
        self.contentType = contentType
    }

    /// The open file behind `name`, or nil (then: 404, saying nothing of why).
    func open(_ name: String) -> OpenMediaFile? {
        // Only names that passed the check are ever cached.
        let cached = cache.withLockedValue { $0[name] }
        let now = NIODeadline.now()
        if let cached, now - cached.checkedAt < maxAge { return cached.file }
        for candidate in naming.candidates(for: name) {
            guard let (real, info) = Self.confinedFile(root + candidate, root: root),
                  naming.servesFile(atRelativePath: String(real.dropFirst(root.count))) else { continue }
            // The same version as before: keep its descriptor.
            let file = cached.flatMap { $0.file.identity == FileIdentity(info) ? $0.file : nil }
                ?? Self.openFile(real, contentType: contentType, meter: MediaMeter(medium: medium ?? String(real.dropFirst(root.count))))
            guard let file else { continue }
            cache.withLockedValue { $0[name] = Entry(file: file, checkedAt: now) }
            return file
        }
        cache.withLockedValue { _ = $0.removeValue(forKey: name) }
        return nil
    }

    /// Opens `path` and describes what was opened (`fstat` on the descriptor, so the validators belong to these bytes).
    private static func openFile(_ path: String, contentType: String, meter: MediaMeter) -> OpenMediaFile? {
        // O_NOFOLLOW: the real path has no symlink left in its last component; one appearing since is refused.
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return nil }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            return nil
        }
        return OpenMediaFile(descriptor: fd, identity: FileIdentity(info), modified: Int(info.st_mtim.tv_sec),
                             contentType: contentType, meter: meter)
    }

    /// The real path must stay under `root` after every symlink is followed, and be a regular file.
    static func confinedFile(_ path: String, root: String) -> (path: String, info: stat)? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        let real = String(cString: resolved)
        guard real.hasPrefix(root) else { return nil }
        var info = stat()
        guard stat(real, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return (real, info)
    }
}

/// Bytes answered and answers being streamed, per medium (`liveboot_vmedia_bytes_total`,
/// `liveboot_vmedia_active_streams`): made once per opened file, so that an answer costs an atomic add, not a
/// lookup of the metric by its labels.
final class MediaMeter: Sendable {
    let bytes: Counter
    /// Answers whose bytes are still being sent (`sendfile`); small slices go out in one write and are not counted.
    let streams: Meter

    init(medium: String) {
        bytes = Counter(label: "liveboot_vmedia_bytes_total", dimensions: [("medium", medium)])
        streams = Meter(label: "liveboot_vmedia_active_streams", dimensions: [("medium", medium)])
    }
}
