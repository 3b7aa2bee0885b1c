import Foundation
import Hummingbird
import LivebootCore
@testable import LivebootServer
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Seed
@testable import VmediaServer

/// The parsers an anonymous client reaches, each with what must hold for any input — beyond not crashing. A broken
/// property traps, which libFuzzer reports as a crash and saves the input (`bench/fuzz.sh`).
enum FuzzTarget: String, CaseIterable {
    /// `VmediaRequestParser`, the hand-written reader of the BMCs' requests, against NIO's decoder.
    case vmediaRequest = "vmedia-request"
    /// `Range` and the conditional fields, as the vmedia routes evaluate them on a real file.
    case rangeConditional = "range-conditional"
    /// The ssh public key lines a slice uploads.
    case sshKey = "ssh-key"
    /// The login form (url-encoded) and the multipart forms with their part count.
    case form

    func run(_ bytes: [UInt8]) {
        switch self {
        case .vmediaRequest: VmediaRequestFuzz.run(bytes)
        case .rangeConditional: RangeConditionalFuzz.run(bytes)
        case .sshKey: SSHKeyFuzz.run(bytes)
        case .form: FormFuzz.run(bytes)
        }
    }
}

/// The media the vmedia targets read: a small image in a folder of its own, made once per process.
enum FuzzMedia {
    static let size = 4096
    static let folder: String = {
        let folder = NSTemporaryDirectory() + "liveboot-fuzz-\(getpid())"
        try? FileManager.default.createDirectory(atPath: folder + "/seeds/nocloud", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: folder + "/live.iso", contents: Data((0..<size).map { UInt8($0 & 0xff) }))
        return folder
    }()
    /// As `liveboot serve` lays them out.
    static let routes = VmediaRoutes(layout: MediaLayout(images: ImagesConfig(ip: "127.0.0.1", port: 0, path: "images", folder: folder)))
    static let images = MediaLibrary(folder: folder, naming: LayoutNaming(kind: .image))
}

enum VmediaRequestFuzz {
    /// What our reader accepts, NIO's decoder reads the same way: same method, target, fields and persistence. A
    /// request the two read differently is how smuggling starts; a length past the input is an overread.
    static func run(_ bytes: [UInt8]) {
        let routes = FuzzMedia.routes
        let buffer = ByteBuffer(bytes: bytes)
        guard case .request(let ours, let length) = VmediaRequestParser.parse(buffer, routes: routes) else { return }
        precondition(length > 0 && length <= bytes.count, "a request of \(length) bytes read from \(bytes.count)")
        // The bytes after a request never change how it is read.
        guard case .request(let again, let lengthAgain) = VmediaRequestParser.parse(ByteBuffer(bytes: bytes[..<length]), routes: routes),
              lengthAgain == length, again.name == ours.name else {
            preconditionFailure("the request alone is read differently from the request followed by more bytes")
        }
        guard let head = decodedHead(Array(bytes[..<length])) else {
            preconditionFailure("read as a vmedia request, refused by NIO's decoder")
        }
        guard let theirs = VmediaRequest(head, routes: routes) else {
            preconditionFailure("read as a vmedia request, NIO's decoder reads the target \(head.uri.debugDescription)")
        }
        precondition(theirs.method == ours.method && theirs.name == ours.name && theirs.library === ours.library,
                     "method or target differ from NIO's decoder: \(head.method) \(head.uri.debugDescription)")
        precondition(theirs.keepAlive == ours.keepAlive, "persistence differs from NIO's decoder")
        let pairs: [(String, ByteBuffer?, ByteBuffer?)] = [
            ("Range", ours.fields.range, theirs.fields.range), ("If-Match", ours.fields.ifMatch, theirs.fields.ifMatch),
            ("If-None-Match", ours.fields.ifNoneMatch, theirs.fields.ifNoneMatch),
            ("If-Modified-Since", ours.fields.ifModifiedSince, theirs.fields.ifModifiedSince),
            ("If-Unmodified-Since", ours.fields.ifUnmodifiedSince, theirs.fields.ifUnmodifiedSince),
            ("If-Range", ours.fields.ifRange, theirs.fields.ifRange),
        ]
        for (name, a, b) in pairs {
            // RFC 9110 §5.5: whitespace around a field value is not part of it (NIO's headers keep the trailing).
            let (ours, theirs) = (a.map(fieldValue), b.map(fieldValue))
            precondition(ours == theirs, "\(name) differs from NIO's decoder: \(ours.debugDescription) against \(theirs.debugDescription)")
        }
        _ = routes.answer(ours)
    }

    /// A field's value as the routes read it: text decoded from UTF-8, invalid bytes replaced (NIO's headers are
    /// such text already; the routes make their strings with `String(buffer:)`, the same decoding).
    static func fieldValue(_ buffer: ByteBuffer) -> String {
        let bytes = Array(buffer.readableBytesView)
        let isSpace = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        guard let first = bytes.firstIndex(where: { !isSpace($0) }), let last = bytes.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(decoding: bytes[first...last], as: UTF8.self)
    }

    /// The head NIO's decoder reads from these bytes, nil if it refuses them.
    static func decodedHead(_ bytes: [UInt8]) -> HTTPRequestHead? {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
        defer { _ = try? channel.finish() }
        guard (try? channel.writeInbound(ByteBuffer(bytes: bytes))) != nil else { return nil }
        guard case .head(let head)? = try? channel.readInbound(as: HTTPServerRequestPart.self) else { return nil }
        return head
    }
}

enum RangeConditionalFuzz {
    /// The input is split into six fields (Range, If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since,
    /// If-Range) at NUL bytes; a missing field is absent. A partial answer lies inside the file; the byte and string
    /// forms of the range reader agree.
    static func run(_ bytes: [UInt8]) {
        let parts = bytes.split(separator: 0, maxSplits: 5, omittingEmptySubsequences: false).map { Array($0) }
        func field(_ index: Int) -> ByteBuffer? { index < parts.count ? ByteBuffer(bytes: parts[index]) : nil }
        let header = String(decoding: parts.first ?? [], as: UTF8.self)
        for size in [0, 1, FuzzMedia.size, Int.max] {
            let decision = parts.first.map { part in part.withUnsafeBufferPointer { ByteRange.decide(bytes: $0, size: size) } }
            if case .partial(let range)? = decision {
                precondition(range.lowerBound >= 0 && range.upperBound < size, "range \(range) outside \(size) bytes")
            }
            if Array(header.utf8) == parts.first ?? [] {
                precondition(decision == ByteRange.decide(header, size: size), "the string and byte readers differ")
            }
        }
        let fields = VmediaRequest.Fields(range: field(0), ifMatch: field(1), ifNoneMatch: field(2), ifModifiedSince: field(3),
                                          ifUnmodifiedSince: field(4), ifRange: field(5))
        let routes = FuzzMedia.routes
        let request = VmediaRequest(method: .get, library: FuzzMedia.images, name: "live.iso", fields: fields, keepAlive: true)
        let answer = routes.answer(request)
        switch answer.kind {
        case .content(let partial):
            precondition(answer.range.lowerBound >= 0 && answer.range.upperBound <= FuzzMedia.size && !answer.range.isEmpty,
                         "an answer of bytes \(answer.range) of \(FuzzMedia.size)")
            precondition(partial || answer.range == 0..<FuzzMedia.size, "a whole answer that is not the whole file")
        case .notFound, .notAllowed, .busy, .badRequest:
            preconditionFailure("the fuzz image was not answered: \(answer.kind)")
        case .notModified, .preconditionFailed, .unsatisfiable:
            break
        }
        if let date = parts.first.flatMap({ HTTPDate.parse(String(decoding: $0, as: UTF8.self)) }) {
            let seconds = Int(date.timeIntervalSince1970.rounded(.down))
            let formatted = HTTPDate.format(secondsSince1970: seconds)
            precondition(HTTPDate.parse(formatted).map { Int($0.timeIntervalSince1970) } == seconds,
                         "\(formatted) does not read back as the date it was made from")
        }
    }
}

enum SSHKeyFuzz {
    /// A key that is accepted writes a line that reads back as the same key; a refused line says why.
    static func run(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        let (keys, errors) = SSHPublicKey.parseMany(text)
        for key in keys {
            guard let again = try? SSHPublicKey(line: key.line) else { preconditionFailure("\(key.line) does not read back") }
            precondition(again.line == key.line, "\(key.line) reads back as \(again.line)")
            precondition(!key.line.contains("\n") && !key.line.contains("\r"), "a key line with a line break")
        }
        for (_, message) in errors { precondition(!message.isEmpty, "a refusal without a reason") }
    }
}

enum FormFuzz {
    /// The first byte picks the boundary's length; the rest is the body. The part count never exceeds what the body
    /// can hold; decoding either refuses or yields a form.
    static func run(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        let rest = Array(bytes.dropFirst())
        let text = String(decoding: rest, as: UTF8.self)
        _ = try? URLEncodedFormDecoder().decode(AccountController.LoginForm.self, from: text)
        let split = min(Int(first) % 72, rest.count)
        let boundaryText = String(decoding: rest[..<split], as: UTF8.self)
        guard let boundary = FormBody.boundary(of: "multipart/form-data; boundary=\(boundaryText)") else { return }
        precondition(!boundary.isEmpty && boundary.utf8.count <= 70, "boundary \(boundary.debugDescription)")
        let body = ByteBuffer(bytes: rest[split...])
        let parts = FormBody.parts(of: body, boundary: boundary)
        precondition(parts * (boundary.utf8.count + 2) <= body.readableBytes, "\(parts) delimiters in \(body.readableBytes) bytes")
        _ = try? FormBody.decodeMultipart(AccountController.LoginForm.self, from: body, boundary: boundary)
    }
}

extension VmediaRequest {
    /// What NIO's decoder makes of the same request, in our terms; nil when the target is not a media path.
    init?(_ head: HTTPRequestHead, routes: VmediaRoutes) {
        guard let target = routes.target(of: head.uri) else { return nil }
        func field(_ name: String) -> ByteBuffer? { head.headers.first(name: name).map { ByteBuffer(string: $0) } }
        // Not NIO's `isKeepAlive`: it lets an HTTP/1.0 `keep-alive` win over a `close` beside it (this fuzzer's find).
        let tokens = head.headers[canonicalForm: "connection"].map { $0.lowercased() }
        self.init(method: head.method == .GET ? .get : head.method == .HEAD ? .head : .other, library: target.library,
                  name: target.name,
                  fields: Fields(range: field("Range"), ifMatch: field("If-Match"), ifNoneMatch: field("If-None-Match"),
                                 ifModifiedSince: field("If-Modified-Since"), ifUnmodifiedSince: field("If-Unmodified-Since"),
                                 ifRange: field("If-Range")),
                  keepAlive: Self.persists(http11: head.version.major > 1 || (head.version.major == 1 && head.version.minor >= 1),
                                           close: tokens.contains("close"), keepAlive: tokens.contains("keep-alive")))
    }
}
