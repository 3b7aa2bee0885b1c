import Foundation
import NIOCore
import XCTest
@testable import LivebootCore

/// The status probe's in-process ping: real ICMP over the loopback (every 127.0.0.0/8 address answers there) and a
/// documentation network, 198.51.100.0/24 (RFC 5737), which nobody answers (192.0.2.0/24, the first one, is this
/// build machine's own LAN).
final class ICMPEchoTests: XCTestCase {
    /// The process's socket, or a skip where this user may open none (CI runs as root, which always may).
    func sharedEcho() async throws -> ICMPEcho {
        if let echo = await ICMPEcho.shared { return echo }
        XCTAssertNotEqual(getuid(), 0, "root may always open a raw ICMP socket")
        throw XCTSkip("no ICMP socket for this user (ping_group_range excludes it, no CAP_NET_RAW): the ping binary is used")
    }

    func testHundredsOfConcurrentEchoesEachGetTheirReply() async throws {
        let echo = try await sharedEcho()
        let answered = await withTaskGroup(of: Bool.self) { group in
            for host in 1...300 {
                group.addTask {
                    let address = try! SocketAddress(ipAddress: "127.0.\(host / 250).\(host % 250 + 1)", port: 0)
                    return (try? await echo.echo(address, timeout: .seconds(3))) ?? false
                }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        XCTAssertEqual(answered, 300)
    }

    /// Silent hosts probed among answering ones: a reply answers only the request sent to its sender, and the silent
    /// ones end at their timeout, leaving no waiter behind.
    func testSilentHostsTimeOutWhileOthersAnswer() async throws {
        let echo = try await sharedEcho()
        let results = await withTaskGroup(of: (String, Bool).self) { group in
            for index in 1...20 {
                for host in ["127.0.1.\(index)", "198.51.100.\(index)"] {
                    group.addTask {
                        let address = try! SocketAddress(ipAddress: host, port: 0)
                        return (host, (try? await echo.echo(address, timeout: .milliseconds(800))) ?? false)
                    }
                }
            }
            return await group.reduce(into: [String: Bool]()) { $0[$1.0] = $1.1 }
        }
        XCTAssertEqual(results.filter { $0.key.hasPrefix("127.") && $0.value }.count, 20)
        XCTAssertEqual(results.filter { $0.key.hasPrefix("198.") && $0.value }.count, 0)
        XCTAssertEqual(echo.waiting, 0, "every request ended with its reply or its timeout")
    }

    /// The kernel may close the socket under us (a fatal ICMP error quoting an echo): the next probe opens another.
    func testAClosedSocketIsReplacedByTheNextProbe() async throws {
        let closed = try await sharedEcho()
        await closed.close()
        let result = await Probes.ping("127.0.0.1", timeout: .seconds(1))
        XCTAssertEqual(result, .ok)
        let replacement = try await sharedEcho()
        XCTAssertFalse(replacement === closed)
        let again = try await sharedEcho()
        XCTAssertTrue(again === replacement, "one replacement, kept")
    }

    func testARawSocketWhenRootMayOpenOne() async throws {
        guard getuid() == 0 else { throw XCTSkip("a raw ICMP socket needs root or CAP_NET_RAW") }
        let echo = try await ICMPEcho.open(kinds: [.raw])
        XCTAssertEqual(echo.kind, .raw)
        let reply = try await echo.echo(try SocketAddress(ipAddress: "127.0.0.9", port: 0), timeout: .seconds(2))
        await echo.close()
        XCTAssertTrue(reply)
    }

    /// The unprivileged socket exists exactly when `net.ipv4.ping_group_range` admits our group; it then echoes as the
    /// raw one does, and otherwise its refusal is what sends the probe to the next kind.
    func testADatagramSocketWhereThePingGroupRangeAdmitsUs() async throws {
        let range = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ping_group_range", encoding: .utf8))?
            .split(whereSeparator: \.isWhitespace).compactMap { UInt32($0) } ?? []
        guard range.count == 2 else { throw XCTSkip("no net.ipv4.ping_group_range here") }
        let admitted = range[0] <= getgid() && getgid() <= range[1]
        do {
            let echo = try await ICMPEcho.open(kinds: [.datagram])
            XCTAssertTrue(admitted, "opened though the range \(range) excludes group \(getgid())")
            XCTAssertEqual(echo.kind, .datagram)
            let reply = try await echo.echo(try SocketAddress(ipAddress: "127.0.0.7", port: 0), timeout: .seconds(2))
            await echo.close()
            XCTAssertTrue(reply)
        } catch {
            XCTAssertFalse(admitted, "refused though the range \(range) admits group \(getgid()): \(error)")
            XCTAssertTrue("\(error)".contains("datagram"), "\(error)")
        }
    }

    func testOpeningNoKindIsAnErrorThatSaysSo() async throws {
        do {
            _ = try await ICMPEcho.open(kinds: [])
            XCTFail("no socket kind to open")
        } catch {
            XCTAssertTrue("\(error)".contains("no ICMP socket"), "\(error)")
        }
    }

    func testProbeSaysUnknownHosts() async throws {
        _ = try await sharedEcho()
        let result = await Probes.ping("no-such-node.invalid", timeout: .seconds(1))
        XCTAssertEqual(result, .ko("unknown host or network error"))
        let loopback = await Probes.ping("127.0.0.1", timeout: .seconds(1))
        XCTAssertEqual(loopback, .ok)
    }

    // MARK: packets

    /// RFC 1071's worked example: the words 0001 f203 f4f5 f6f7 sum to ddf2, whose complement is 220d.
    func testChecksumIsTheInternetChecksum() {
        let bytes = ByteBuffer(bytes: [0x00, 0x01, 0xF2, 0x03, 0xF4, 0xF5, 0xF6, 0xF7])
        XCTAssertEqual(EchoPacket.checksum(bytes.readableBytesView), 0x220D)
        // A request carries its own checksum: summed again with it, the complement is zero.
        let request = EchoPacket.request(identifier: 0x1234, sequence: 7)
        XCTAssertEqual(EchoPacket.checksum(request.readableBytesView), 0)
        XCTAssertEqual(request.getInteger(at: 0, as: UInt8.self), 8)
    }

    /// What a raw socket reads: an IPv4 header (here with 4 bytes of options), then the ICMP message.
    func rawPacket(type: UInt8, identifier: UInt16, sequence: UInt16) -> ByteBuffer {
        var packet = ByteBuffer()
        packet.writeInteger(UInt8(0x46))  // version 4, header of 6 words
        packet.writeBytes([UInt8](repeating: 0, count: 23))
        packet.writeBytes(icmp(type: type, identifier: identifier, sequence: sequence).readableBytesView)
        return packet
    }

    func icmp(type: UInt8, identifier: UInt16, sequence: UInt16) -> ByteBuffer {
        var message = ByteBuffer()
        message.writeInteger(type)
        message.writeInteger(UInt8(0))
        message.writeInteger(UInt16(0))
        message.writeInteger(identifier)
        message.writeInteger(sequence)
        return message
    }

    func testARawSocketKeepsOnlyItsOwnEchoReplies() {
        let ours: UInt16 = 0x4242
        XCTAssertEqual(EchoPacket.replySequence(rawPacket(type: 0, identifier: ours, sequence: 9), kind: .raw, identifier: ours), 9)
        // Another program's reply, and our own request seen coming in on the loopback.
        XCTAssertNil(EchoPacket.replySequence(rawPacket(type: 0, identifier: 0x1111, sequence: 9), kind: .raw, identifier: ours))
        XCTAssertNil(EchoPacket.replySequence(rawPacket(type: 8, identifier: ours, sequence: 9), kind: .raw, identifier: ours))
        // Truncated, or not IPv4.
        XCTAssertNil(EchoPacket.replySequence(ByteBuffer(bytes: [0x45, 0, 0]), kind: .raw, identifier: ours))
        XCTAssertNil(EchoPacket.replySequence(ByteBuffer(bytes: [0x60] + [UInt8](repeating: 0, count: 40)), kind: .raw, identifier: ours))
    }

    /// A datagram socket reads the ICMP message alone, with the identifier the kernel chose.
    func testADatagramSocketReadsTheMessageAlone() {
        XCTAssertEqual(EchoPacket.replySequence(icmp(type: 0, identifier: 0x0BAD, sequence: 3), kind: .datagram, identifier: 1), 3)
        XCTAssertNil(EchoPacket.replySequence(icmp(type: 3, identifier: 0, sequence: 3), kind: .datagram, identifier: 1))
    }
}
