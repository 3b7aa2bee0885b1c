import Foundation
import XCTest

/// A PNG as an independent reader sees it: Python's `zlib` checks every chunk's CRC and inflates the pixels, so a
/// screenshot is known to be an image a browser can show, not merely bytes that start with the signature.
struct PNGCheck: Decodable {
    let width: Int
    let height: Int
    /// The `tEXt` chunk's `Description`: what the simulated screen says in words.
    let description: String

    static let script = #"""
import json, struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "no PNG signature"
pos, chunks, idat = 8, {}, b""
while pos < len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    crc, = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
    assert zlib.crc32(kind + body) == crc, "bad CRC in " + kind.decode()
    if kind == b"IDAT": idat += body
    chunks[kind] = body
    pos += 12 + length
width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
assert (depth, colour) == (8, 2), "not 8-bit RGB"
pixels = zlib.decompress(idat)
assert len(pixels) == height * (1 + 3 * width), "pixel data of the wrong size"
row = 1 + 3 * width
colours = {pixels[y * row + 1 + 3 * x:y * row + 4 + 3 * x] for y in range(height) for x in range(width)}
assert len(colours) >= 2, "a blank image"
key, _, text = chunks.get(b"tEXt", b"Description\0").partition(b"\0")
print(json.dumps({"width": width, "height": height, "description": text.decode("latin-1")}))
"""#

    static func inspect(_ file: String) async throws -> PNGCheck {
        let result = try await Subprocess.run("/usr/bin/env", ["python3", "-c", script, file], timeout: .seconds(30))
        XCTAssertEqual(result.status, 0, result.all)
        return try JSONDecoder().decode(PNGCheck.self, from: Data(result.stdout.utf8))
    }

    static func inspect(_ png: Data) async throws -> PNGCheck {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("pngcheck-\(UUID().uuidString).png")
        try png.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        return try await inspect(file.path)
    }
}
