import CompressNIO
import Foundation
import NIOCore

/// What the simulated server's screen shows, drawn as a real iDRAC's `ExportServerScreenShot` returns it: a PNG.
/// Lines of text in a 3×5 block font, on the colours of the phase (POST's blue, a console's black), so that a test
/// (and a person looking at the portal) can tell a POST from a live session from a disk OS's login prompt.
struct SimulatedScreen: Equatable {
    enum Phase: String { case post, booting, live, disk }

    let phase: Phase
    let lines: [String]

    static let width = 480, height = 160, scale = 3

    /// The PNG: 8-bit RGB, one filter byte (none) per row, zlib-compressed (CompressNIO), with the lines also in a
    /// `tEXt` chunk (`Description`) as screen readers of PNGs expect.
    func png() throws -> Data {
        let (background, foreground): ([UInt8], [UInt8]) = switch phase {
        case .post: ([0x10, 0x2A, 0x6E], [0xE8, 0xE8, 0xE8])
        case .booting, .live, .disk: ([0x00, 0x00, 0x00], [0xC0, 0xC0, 0xC0])
        }
        var pixels = [UInt8](repeating: 0, count: Self.height * (1 + Self.width * 3))
        let stride = 1 + Self.width * 3
        for y in 0..<Self.height {
            for x in 0..<Self.width { pixels.replaceSubrange(y * stride + 1 + x * 3..<y * stride + 4 + x * 3, with: background) }
        }
        let cell = 4 * Self.scale, lineHeight = 7 * Self.scale
        for (row, line) in lines.enumerated() {
            for (column, character) in line.uppercased().enumerated() {
                guard let glyph = BlockFont.glyph(character) else { continue }
                for (gy, bits) in glyph.enumerated() {
                    for (gx, bit) in bits.enumerated() where bit == "#" {
                        for dy in 0..<Self.scale {
                            for dx in 0..<Self.scale {
                                let x = Self.scale * 2 + column * cell + gx * Self.scale + dx
                                let y = Self.scale * 2 + row * lineHeight + gy * Self.scale + dy
                                guard x < Self.width, y < Self.height else { continue }
                                pixels.replaceSubrange(y * stride + 1 + x * 3..<y * stride + 4 + x * 3, with: foreground)
                            }
                        }
                    }
                }
            }
        }
        var raw = ByteBuffer(bytes: pixels)
        let compressed = try raw.compress(with: .zlib())
        var header = Data()
        header.appendBigEndian(UInt32(Self.width))
        header.appendBigEndian(UInt32(Self.height))
        header.append(contentsOf: [8, 2, 0, 0, 0])  // depth 8, colour type RGB, deflate, adaptive filters, no interlace
        var png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        png.appendChunk("IHDR", header)
        png.appendChunk("tEXt", Data(("Description\u{0}" + lines.joined(separator: "\n")).utf8))
        png.appendChunk("IDAT", Data(compressed.readableBytesView))
        png.appendChunk("IEND", Data())
        return png
    }
}

extension Data {
    mutating func appendBigEndian(_ value: UInt32) {
        Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
    }

    /// A PNG chunk: length, type, data, and the CRC-32 of type and data (PNG §5.3).
    mutating func appendChunk(_ type: String, _ data: Data) {
        appendBigEndian(UInt32(data.count))
        let typed = Data(type.utf8) + data
        append(typed)
        appendBigEndian(CRC32.of(typed))
    }
}

/// CRC-32 as PNG and zlib define it (ISO 3309 polynomial, reflected), from its table. zlib has one, but CompressNIO
/// does not export it.
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 == 1 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func of(_ data: Data) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in data { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}

/// A 3×5 block font: enough for the few words a simulated screen shows.
enum BlockFont {
    static func glyph(_ character: Character) -> [Substring]? {
        glyphs[character].map { $0.split(separator: "|") }
    }

    static let glyphs: [Character: String] = [
        "A": ".#.|#.#|###|#.#|#.#", "B": "##.|#.#|##.|#.#|##.", "C": ".##|#..|#..|#..|.##", "D": "##.|#.#|#.#|#.#|##.",
        "E": "###|#..|##.|#..|###", "F": "###|#..|##.|#..|#..", "G": ".##|#..|#.#|#.#|.##", "H": "#.#|#.#|###|#.#|#.#",
        "I": "###|.#.|.#.|.#.|###", "J": "..#|..#|..#|#.#|.#.", "K": "#.#|#.#|##.|#.#|#.#", "L": "#..|#..|#..|#..|###",
        "M": "#.#|###|###|#.#|#.#", "N": "##.|#.#|#.#|#.#|#.#", "O": ".#.|#.#|#.#|#.#|.#.", "P": "##.|#.#|##.|#..|#..",
        "Q": ".#.|#.#|#.#|##.|.##", "R": "##.|#.#|##.|#.#|#.#", "S": ".##|#..|.#.|..#|##.", "T": "###|.#.|.#.|.#.|.#.",
        "U": "#.#|#.#|#.#|#.#|###", "V": "#.#|#.#|#.#|#.#|.#.", "W": "#.#|#.#|###|###|#.#", "X": "#.#|#.#|.#.|#.#|#.#",
        "Y": "#.#|#.#|.#.|.#.|.#.", "Z": "###|..#|.#.|#..|###",
        "0": "###|#.#|#.#|#.#|###", "1": ".#.|##.|.#.|.#.|###", "2": "##.|..#|.#.|#..|###", "3": "##.|..#|.#.|..#|##.",
        "4": "#.#|#.#|###|..#|..#", "5": "###|#..|##.|..#|##.", "6": ".##|#..|###|#.#|###", "7": "###|..#|.#.|.#.|.#.",
        "8": "###|#.#|###|#.#|###", "9": "###|#.#|###|..#|##.",
        ":": "...|.#.|...|.#.|...", ".": "...|...|...|...|.#.", "-": "...|...|###|...|...", "/": "..#|..#|.#.|#..|#..",
        "(": ".#.|#..|#..|#..|.#.", ")": ".#.|..#|..#|..#|.#.", "_": "...|...|...|...|###", "@": "###|#.#|###|#..|.##",
        "[": "##.|#..|#..|#..|##.", "]": ".##|..#|..#|..#|.##", "=": "...|###|...|###|...", " ": "...|...|...|...|...",
    ]
}
