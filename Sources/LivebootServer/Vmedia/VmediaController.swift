import CNowaitRead
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import HTTPTypes
import Hummingbird
import NIOCore
import NIOPosix

/// `GET|HEAD /<images.path>/<name>.iso` and `/seeds/<id>.iso`: what the iDRAC's httpfs2 client reads.
///
/// Its constraints (from the public record of its behaviour): status line `HTTP/1.1 `, `HEAD` first answered 200 with
/// `Content-Length` and `Accept-Ranges: bytes`; each read a single `Range` answered 206 with `Content-Range`; the
/// whole header block within the first 1024 bytes — so these routes send a short, fixed set of headers.
public struct VmediaController: Sendable {
    public let images: MediaLibrary
    public let seeds: MediaLibrary
    /// Read size per chunk. Measured with bench/vmedia.sh: 256 KiB gives the best ranged throughput. The peak memory
    /// of 64 fast full-file streams is glibc's heap after a fresh 256 KiB allocation per chunk (with
    /// `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072` it fell from 1.6 GB to 70 MB, at half the throughput):
    /// hence one buffer per response, refilled in place (`stream`).
    static let chunk = 256 * 1024

    public init(images: MediaLibrary, seeds: MediaLibrary) {
        self.images = images
        self.seeds = seeds
    }

    public func addRoutes<Context: RequestContext>(to router: Router<Context>, imagesPath: String) {
        let base = imagesPath.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        for (path, library) in [("/\(base)/{name}", images), ("/seeds/{name}", seeds)] {
            router.on(RouterPath(path), method: .get) { request, context in
                try await serve(request, name: context.parameters.get("name") ?? "", from: library)
            }
            router.on(RouterPath(path), method: .head) { request, context in
                try await serve(request, name: context.parameters.get("name") ?? "", from: library)
            }
        }
    }

    /// One blocking open/pread/close, run on the thread pool.
    static func readSmall(_ path: String, _ range: ClosedRange<Int>) throws -> ByteBuffer {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw HTTPError(.notFound) }
        defer { close(fd) }
        var buffer = ByteBufferAllocator().buffer(capacity: range.count)
        let read = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: range.count) { pointer in
            var done = 0
            while done < range.count {
                let n = pread(fd, pointer.baseAddress! + done, range.count - done, off_t(range.lowerBound + done))
                if n <= 0 { break }
                done += n
            }
            return done
        }
        // The file shrank under us: fail rather than send a short body as if it were whole.
        guard read == range.count else { throw HTTPError(.internalServerError) }
        return buffer
    }

    func serve(_ request: Request, name: String, from library: MediaLibrary) async throws -> Response {
        guard let file = library.lookup(name) else { return Response(status: .notFound) }
        var headers: HTTPFields = [
            .acceptRanges: "bytes",
            .eTag: file.validators.etag,
            .lastModified: file.lastModifiedHeader,
        ]
        let rangeHeader = request.headers[.range]
        let outcome = Conditional.evaluate(
            ifMatch: request.headers[.ifMatch], ifUnmodifiedSince: request.headers[.ifUnmodifiedSince],
            ifNoneMatch: request.headers[.ifNoneMatch], ifModifiedSince: request.headers[.ifModifiedSince],
            ifRange: request.headers[.ifRange], hasRange: rangeHeader != nil, validators: file.validators)
        let range: RangeDecision
        switch outcome {
        case .notModified: return Response(status: .notModified, headers: headers)
        case .preconditionFailed: return Response(status: .preconditionFailed, headers: [.contentLength: "0"])
        case .proceed(let honourRange): range = honourRange ? ByteRange.decide(rangeHeader, size: file.size) : .whole
        }
        let slice: ClosedRange<Int>?
        let status: HTTPResponse.Status
        switch range {
        case .unsatisfiable:
            headers[.contentRange] = "bytes */\(file.size)"
            headers[.contentLength] = "0"
            return Response(status: .rangeNotSatisfiable, headers: headers)
        case .whole:
            status = .ok
            slice = file.size > 0 ? 0...(file.size - 1) : nil
        case .partial(let r):
            status = .partialContent
            slice = r
            headers[.contentRange] = "bytes \(r.lowerBound)-\(r.upperBound)/\(file.size)"
        }
        headers[.contentType] = "application/octet-stream"
        headers[.contentLength] = String(slice?.count ?? 0)
        if request.method == .head || slice == nil {
            return Response(status: status, headers: headers, body: ResponseBody())
        }
        let path = file.path, bytes = slice!
        // Most iDRAC reads are small ranges: open, pread and close in one trip to the thread pool, not three.
        if bytes.count <= Self.chunk {
            let buffer = try await NIOThreadPool.singleton.runIfActive { try Self.readSmall(path, bytes) }
            return Response(status: status, headers: headers, body: .init(byteBuffer: buffer))
        }
        return Response(status: status, headers: headers, body: ResponseBody(contentLength: bytes.count) { writer in
            try await Self.stream(path, bytes, to: &writer)
        })
    }

    /// Streams a large slice with one 256 KiB buffer per response, refilled in place: allocating a fresh buffer per
    /// chunk (as NonBlockingFileIO.read does) let glibc's heap grow to gigabytes under 64 fast streams. Chunks the
    /// page cache holds are read without blocking on the task's own thread (`preadv2` RWF_NOWAIT); the rest is read
    /// on NIO's thread pool.
    static func stream(_ path: String, _ bytes: ClosedRange<Int>, to writer: inout any ResponseBodyWriter) async throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw HTTPError(.notFound) }
        defer { close(fd) }
        var buffer = ByteBufferAllocator().buffer(capacity: chunk)
        var offset = bytes.lowerBound
        let end = bytes.upperBound + 1
        while offset < end {
            let count = min(chunk, end - offset)
            // Reuses the storage once NIO has written the previous chunk out (else clear() gives fresh storage).
            buffer.clear()
            let cached = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { pointer in
                max(0, liveboot_pread_nowait(fd, pointer.baseAddress, count, Int64(offset)))
            }
            if cached == 0 {
                let range = offset...(offset + count - 1)
                buffer = try await NIOThreadPool.singleton.runIfActive { try readSmall(path, range) }
            }
            // The file shrank under us: stop rather than send a short body as if it were whole.
            guard buffer.readableBytes > 0 else { throw HTTPError(.internalServerError) }
            offset += buffer.readableBytes
            try await writer.write(buffer)
        }
        try await writer.finish(nil)
    }
}
