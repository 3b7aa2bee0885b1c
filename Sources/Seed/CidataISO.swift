import Foundation

/// Writes a small ISO 9660 image for a cloud-init NoCloud seed: ECMA-119 primary volume descriptor, a Joliet
/// supplementary descriptor and Rock Ridge (RRIP 1.10) entries, so that the lower-case names `user-data`
/// and `meta-data` read back exactly under Linux isofs, blkid, isoinfo -R/-J, xorriso, bsdtar and 7z.
///
/// Everything is derived from the inputs, the timestamp included, so the same files give the same bytes
/// (stable ETag for the BMC's ranged reads, no churn on disk).
///
/// Layout, in 2048-byte sectors: 0–15 system area · 16 PVD · 17 Joliet SVD · 18 terminator · 19–22 path tables
/// (L and M, primary and Joliet) · 23 primary root · 24 Joliet root · 25 Rock Ridge continuation area (the ER
/// record) · 26… file data. The continuation area comes *after* the directory that points to it: libarchive
/// (bsdtar) reads the image front to back and refuses a `CE` that points backwards.
public struct CidataISO: Sendable {
    public struct File: Sendable, Hashable {
        public let name: String
        public let contents: Data
        public init(name: String, contents: Data) {
            self.name = name
            self.contents = contents
        }
    }

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case invalidName(String)
        case duplicateName(String)
        case tooLarge(String, Int)
        case tooManyFiles(Int)

        public var description: String {
            switch self {
            case .invalidName(let name): "seed file name \"\(name)\" is not allowed (use [a-z0-9._-], at most 64 characters)"
            case .duplicateName(let name): "seed file \"\(name)\" appears twice"
            case .tooLarge(let name, let size): "seed file \"\(name)\" is \(size) bytes; at most \(CidataISO.maxFileSize) are accepted"
            case .tooManyFiles(let count): "a seed holds at most 16 files, not \(count)"
            }
        }
    }

    public static let sector = 2048
    public static let maxFileSize = 8 << 20
    public let volumeID: String
    public let files: [File]
    public let timestamp: Date
    /// The timestamp in both ISO 9660 forms, computed once (a Calendar per directory record cost most of the time).
    let recordingDate: [UInt8]
    let volumeDate: [UInt8]
    /// Where each file's data starts (in sorted order), and the image size in sectors: fixed by the files.
    let dataSectors: [Int]
    let totalSectors: Int

    public init(volumeID: String = "cidata", files: [File], timestamp: Date) throws {
        guard files.count <= 16 else { throw Failure.tooManyFiles(files.count) }
        var seen = Set<String>()
        for file in files {
            guard Self.isValidName(file.name) else { throw Failure.invalidName(file.name) }
            guard seen.insert(file.name).inserted else { throw Failure.duplicateName(file.name) }
            guard file.contents.count <= Self.maxFileSize else { throw Failure.tooLarge(file.name, file.contents.count) }
        }
        self.volumeID = volumeID
        self.files = files.sorted { $0.name < $1.name }
        self.timestamp = timestamp
        var next = Self.firstData
        dataSectors = self.files.map { file in
            defer { next += Self.sectors(file.contents.count) }
            return next
        }
        totalSectors = next
        let c = UTCDate(timestamp)
        recordingDate = [UInt8(max(0, min(255, c.year - 1900))), UInt8(c.month), UInt8(c.day), UInt8(c.hour),
                         UInt8(c.minute), UInt8(c.second), 0]
        volumeDate = c.digits + Array("00".utf8) + [0]
    }

    /// `[a-z0-9][a-z0-9._-]{0,63}`, checked by hand: a regular expression here cost more than writing the image.
    static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...64).contains(bytes.count) else { return false }
        for (index, byte) in bytes.enumerated() {
            let alphanumeric = (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
            guard alphanumeric || (index > 0 && (byte == 0x2E || byte == 0x5F || byte == 0x2D)) else { return false }
        }
        return true
    }

    // MARK: Layout

    static let pvdSector = 16, svdSector = 17, terminatorSector = 18
    static let primaryLPath = 19, primaryMPath = 20, jolietLPath = 21, jolietMPath = 22
    static let primaryRoot = 23, jolietRoot = 24, continuationSector = 25, firstData = 26


    static func sectors(_ bytes: Int) -> Int { max(1, (bytes + sector - 1) / sector) }

    /// 8.3 upper-case ISO 9660 level 1 names, for readers that know neither Rock Ridge nor Joliet.
    var primaryNames: [String] {
        var used = Set<String>()
        return files.map { file in
            // Names are `[a-z0-9._-]` (checked at init): upper-casing and cleaning work on bytes.
            let parts = file.name.uppercased().split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
            func clean(_ s: Substring, _ n: Int) -> String {
                String(decoding: s.utf8.prefix(n).map { (0x41...0x5A).contains($0) || (0x30...0x39).contains($0) ? $0 : 0x5F },
                       as: UTF8.self)
            }
            let stem = clean(parts[0], 8), ext = parts.count > 1 ? clean(parts[1], 3) : ""
            var candidate = stem + "." + ext
            var counter = 1
            while used.contains(candidate) {
                let suffix = String(counter)
                candidate = String(stem.prefix(8 - suffix.count)) + suffix + "." + ext
                counter += 1
            }
            used.insert(candidate)
            return candidate + ";1"
        }
    }

    // MARK: Writing

    public func bytes() -> Data {
        // One zeroed buffer, filled in place: the image is mostly file data and padding.
        var image = Data(count: totalSectors * Self.sector)
        func put(_ bytes: [UInt8], at offset: Int) { image.replaceSubrange(offset..<offset + bytes.count, with: bytes) }
        func sectorOffset(_ n: Int) -> Int { n * Self.sector }

        let primaryDir = directory(joliet: false)
        let jolietDir = directory(joliet: true)
        put(volumeDescriptor(joliet: false), at: sectorOffset(Self.pvdSector))
        put(volumeDescriptor(joliet: true), at: sectorOffset(Self.svdSector))
        put([255] + Array("CD001".utf8) + [1], at: sectorOffset(Self.terminatorSector))
        put(pathTable(root: Self.primaryRoot, bigEndian: false), at: sectorOffset(Self.primaryLPath))
        put(pathTable(root: Self.primaryRoot, bigEndian: true), at: sectorOffset(Self.primaryMPath))
        put(pathTable(root: Self.jolietRoot, bigEndian: false), at: sectorOffset(Self.jolietLPath))
        put(pathTable(root: Self.jolietRoot, bigEndian: true), at: sectorOffset(Self.jolietMPath))
        put(Self.extensionReference, at: sectorOffset(Self.continuationSector))
        put(primaryDir, at: sectorOffset(Self.primaryRoot))
        put(jolietDir, at: sectorOffset(Self.jolietRoot))
        for (file, sector) in zip(files, dataSectors) {
            let offset = sectorOffset(sector)
            image.replaceSubrange(offset..<offset + file.contents.count, with: file.contents)
        }
        return image
    }

    /// The RRIP 1.10 `ER` entry. Too long for a directory record (255 bytes at most), it sits in a
    /// continuation area that the root's `CE` entry points to, as genisoimage lays it out.
    static let extensionReference: [UInt8] = {
        let id = Array("RRIP_1991A".utf8)
        let descriptor = Array("THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS".utf8)
        let source = Array("PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.".utf8)
        let length = 8 + id.count + descriptor.count + source.count
        return [UInt8(ascii: "E"), UInt8(ascii: "R"), UInt8(length), 1, UInt8(id.count), UInt8(descriptor.count),
                UInt8(source.count), 1] + id + descriptor + source
    }()

    func directory(joliet: Bool) -> [UInt8] {
        let own = joliet ? Self.jolietRoot : Self.primaryRoot
        var records: [UInt8] = []
        // "." of the root carries SP (SUSP is in use), CE (→ ER) and PX; ".." carries PX.
        var dotSystemUse: [UInt8] = []
        var dotdotSystemUse: [UInt8] = []
        if !joliet {
            dotSystemUse = [UInt8(ascii: "S"), UInt8(ascii: "P"), 7, 1, 0xBE, 0xEF, 0]
                + [UInt8(ascii: "C"), UInt8(ascii: "E"), 28, 1] + both32(Self.continuationSector) + both32(0)
                + both32(Self.extensionReference.count)
                + Self.posixAttributes(mode: 0o040555, links: 2)
            dotdotSystemUse = Self.posixAttributes(mode: 0o040555, links: 2)
        }
        records += record(extent: own, size: Self.sector, flags: 2, identifier: [0], systemUse: dotSystemUse)
        records += record(extent: own, size: Self.sector, flags: 2, identifier: [1], systemUse: dotdotSystemUse)
        var entries: [(identifier: [UInt8], file: File, sector: Int)] = []
        let names = joliet ? [] : primaryNames
        for (index, file) in files.enumerated() {
            let identifier = joliet ? Self.ucs2(file.name) : Array(names[index].utf8)
            entries.append((identifier, file, dataSectors[index]))
        }
        // ECMA-119 9.3: records sorted by identifier bytes.
        entries.sort { $0.identifier.lexicographicallyPrecedes($1.identifier) }
        for entry in entries {
            var systemUse: [UInt8] = []
            if !joliet {
                let name = Array(entry.file.name.utf8)
                systemUse = Self.posixAttributes(mode: 0o100444, links: 1)
                    + [UInt8(ascii: "N"), UInt8(ascii: "M"), UInt8(5 + name.count), 1, 0] + name
            }
            records += record(extent: entry.sector, size: entry.file.contents.count, flags: 0,
                              identifier: entry.identifier, systemUse: systemUse)
        }
        precondition(records.count <= Self.sector, "root directory outgrew one sector")
        return records
    }

    /// RRIP 1.10 `PX`: mode, links, uid 0, gid 0.
    static func posixAttributes(mode: Int, links: Int) -> [UInt8] {
        [UInt8(ascii: "P"), UInt8(ascii: "X"), 36, 1] + both32(mode) + both32(links) + both32(0) + both32(0)
    }

    func record(extent: Int, size: Int, flags: UInt8, identifier: [UInt8], systemUse: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = [0, 0] + both32(extent) + both32(size) + recordingDate + [flags, 0, 0] + both16(1)
        bytes.append(UInt8(identifier.count))
        bytes += identifier
        if identifier.count % 2 == 0 { bytes.append(0) }
        bytes += systemUse
        if bytes.count % 2 == 1 { bytes.append(0) }
        bytes[0] = UInt8(bytes.count)
        return bytes
    }

    func pathTable(root: Int, bigEndian: Bool) -> [UInt8] {
        let extent = bigEndian ? be32(root) : le32(root)
        let parent: [UInt8] = bigEndian ? [0, 1] : [1, 0]
        return [1, 0] + extent + parent + [0, 0]
    }

    func volumeDescriptor(joliet: Bool) -> [UInt8] {
        var d = [UInt8](repeating: 0, count: Self.sector)
        func put(_ bytes: [UInt8], _ offset: Int) { d.replaceSubrange(offset..<offset + bytes.count, with: bytes) }
        // A text field padded with spaces (UCS-2 spaces for Joliet), filled by index: the flattened-array version
        // of this was a fifth of a seed's time.
        func text(_ s: String, _ length: Int) -> [UInt8] {
            var field = [UInt8](repeating: 0x20, count: length)
            if joliet {
                for index in stride(from: 0, to: length, by: 2) { field[index] = 0 }
                for (index, byte) in Self.ucs2(s).prefix(length).enumerated() { field[index] = byte }
            } else {
                for (index, byte) in s.utf8.prefix(length).enumerated() { field[index] = byte }
            }
            return field
        }
        put([joliet ? 2 : 1] + Array("CD001".utf8) + [1], 0)
        put(text("LINUX", 32), 8)
        put(text(volumeID, 32), 40)
        put(both32(totalSectors), 80)
        if joliet { put(Array("%/E".utf8), 88) }  // UCS-2 level 3
        put(both16(1), 120)
        put(both16(1), 124)
        put(both16(Self.sector), 128)
        put(both32(10), 132)
        put(le32(joliet ? Self.jolietLPath : Self.primaryLPath), 140)
        put(be32(joliet ? Self.jolietMPath : Self.primaryMPath), 148)
        put(record(extent: joliet ? Self.jolietRoot : Self.primaryRoot, size: Self.sector, flags: 2,
                   identifier: [0], systemUse: []), 156)
        put(text("", 128), 190)
        put(text("LIVEBOOT", 128), 318)
        put(text("", 128), 446)
        put(text("LIVEBOOT CIDATA", 128), 574)
        put(text("", 37), 702)
        put(text("", 37), 739)
        put(text("", 37), 776)
        put(volumeDate, 813)
        put(volumeDate, 830)
        put(Array("0000000000000000".utf8) + [0], 847)
        put(volumeDate, 864)
        d[881] = 1
        return d
    }

    static func ucs2(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf16.count * 2)
        for unit in s.utf16 { out.append(UInt8(unit >> 8)); out.append(UInt8(unit & 0xFF)) }
        return out
    }
}

func le32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) } }
func be32(_ v: Int) -> [UInt8] { le32(v).reversed() }
func both32(_ v: Int) -> [UInt8] { le32(v) + be32(v) }
func both16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8), UInt8(v >> 8), UInt8(v & 0xFF)] }

/// A UTC calendar date from a timestamp, by the civil-from-days algorithm (H. Hinnant): Foundation's Calendar
/// took most of a seed's time, and the ISO needs only these six numbers (the vmedia server's `Date` and
/// `Last-Modified` headers use it too, with the weekday).
public struct UTCDate: Sendable {
    public let year, month, day, hour, minute, second: Int
    /// 0 is Sunday.
    public let weekday: Int

    public init(_ date: Date) { self.init(secondsSince1970: Int(date.timeIntervalSince1970.rounded(.down))) }

    public init(secondsSince1970 seconds: Int) {
        var days = seconds / 86_400
        var rest = seconds % 86_400
        if rest < 0 { rest += 86_400; days -= 1 }
        weekday = ((days % 7) + 11) % 7  // 1970-01-01 was a Thursday
        hour = rest / 3600
        minute = rest % 3600 / 60
        second = rest % 60
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    }

    /// `YYYYMMDDhhmmss` as ASCII digits (the volume descriptor's dates).
    var digits: [UInt8] {
        func padded(_ value: Int, _ width: Int) -> [UInt8] {
            var out = [UInt8](repeating: 0x30, count: width)
            var v = value
            for index in stride(from: width - 1, through: 0, by: -1) { out[index] = UInt8(0x30 + v % 10); v /= 10 }
            return out
        }
        return padded(year, 4) + padded(month, 2) + padded(day, 2) + padded(hour, 2) + padded(minute, 2) + padded(second, 2)
    }
}
