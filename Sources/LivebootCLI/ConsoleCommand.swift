import ArgumentParser
import Foundation
import LivebootCore
#if canImport(Glibc)
import Glibc
#endif

extension LivebootCommand {
    struct Console: NodeCommand {
        static let configuration = CommandConfiguration(
            abstract: "Attach this terminal to a node's serial console, print its last boot's console log, or set it up.",
            discussion: """
            Attached, what you type goes to the node (the terminal is in raw mode) and Ctrl-] leaves. The console is \
            the BMC's (Dell: `console com2` over the iDRAC's SSH, with the node's BMC credentials); it shows the \
            boot only if the BIOS redirects its console to the serial port: `lb status --bmc NODE` says what is \
            missing, `lb console --setup NODE` queues the BIOS changes (applied at the next reboot).
            """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The node.") var node: String
        @Flag(name: .long, help: "Print the console log of the node's last live boot (ANSI kept; --text strips it).")
        var log = false
        @Flag(name: .long, help: "With --log: plain text, escape sequences removed.") var text = false
        @Flag(name: .long, help: "Queue the BIOS changes the serial console needs (applied at the next reboot).")
        var setup = false

        var nodeSelection: [String] { [node] }

        /// Ctrl-]: as telnet and `virsh console` leave.
        static let escape: UInt8 = 0x1D

        func validate() throws {
            if log && setup { throw ValidationError("--log and --setup do not go together") }
            if text && !log { throw ValidationError("--text goes with --log") }
        }

        func run(_ liveboot: Liveboot, on nodes: [Node]) async throws {
            guard nodes.count == 1, let node = nodes.first else {
                throw ValidationError("one node at a time: a terminal attaches to one console")
            }
            if log { return try await printLog(liveboot, node) }
            if setup { return try await setUp(liveboot, node) }
            try await attach(liveboot, node)
        }

        func printLog(_ liveboot: Liveboot, _ node: Node) async throws {
            let registry: any BootRegistry
            let latest: BootRecordState?
            do {
                registry = try liveboot.bootRegistry()
                latest = try await registry.latestBoot(of: node.name)
            } catch {
                throw fail(error)
            }
            guard let latest else { throw fail(LivebootError.noLiveSession(node: node.name, reason: "no live boot of it is on record")) }
            guard let consoleLog = try await registry.consoleLog(bootID: latest.ticket.id) else {
                Output.err("\(node.name): boot \(latest.ticket.id) has no console log: a boot's console is recorded while `lb liveboot --wait` or `lb wait` waits for it")
                throw ExitCode(1)
            }
            if let why = consoleLog.unavailable {
                Output.err("\(node.name): no console log for boot \(latest.ticket.id): \(why)")
                throw ExitCode(1)
            }
            if consoleLog.truncated {
                Output.err("(the last \(consoleLog.bytes.count) of \(consoleLog.totalBytes) bytes the console showed)")
            }
            if text {
                Output.out(consoleLog.text)
            } else {
                try? FileHandle.standardOutput.write(contentsOf: consoleLog.bytes)
            }
        }

        func setUp(_ liveboot: Liveboot, _ node: Node) async throws {
            let printer = ProgressPrinter(nodes: [node])
            do {
                if let change = try await liveboot.setUpSerialConsole(node, progress: printer.handler(for: node)) {
                    let what = change.applied.map { "\($0.name)=\($0.value)" }.joined(separator: " ")
                    Output.out("\(node.name): \(what) queued" + (change.jobID.map { " as job \($0)" } ?? "")
                        + "; applies at next reboot (`lb reboot \(node.name)`)")
                } else {
                    Output.out("\(node.name): the BIOS already redirects its console to the serial port")
                }
            } catch {
                throw fail(error)
            }
        }

        func attach(_ liveboot: Liveboot, _ node: Node) async throws {
            let attachment = await liveboot.serialConsole(node).attach(
                ConsoleViewerRequest(name: ProcessInfo.processInfo.environment["USER"] ?? "lb console", wantsKeyboard: true))
            let terminal = RawTerminal()
            Output.err("[lb console \(node.name): connecting; Ctrl-] leaves]")
            terminal.enter()
            defer { terminal.leave() }
            let keyboard = Task.detached {
                for await chunk in StandardInput.chunks() {
                    if let quit = chunk.firstIndex(of: Self.escape) {
                        await attachment.type(Array(chunk[..<quit]))
                        break
                    }
                    await attachment.type(chunk)
                }
                await attachment.leave()
            }
            var ended: String?
            var readOnly = false
            for await event in attachment.events {
                switch event {
                case .output(let bytes): try? FileHandle.standardOutput.write(contentsOf: Data(bytes))
                case .notice(let said): Output.err("\r\n[\(said)]\r")
                case .keyboard(let mine, let holder):
                    if !mine {
                        Output.err("\r\n[read-only: \(holder ?? "nobody") has the keyboard]\r")
                    } else if readOnly {
                        Output.err("\r\n[you have the keyboard]\r")
                    }
                    readOnly = !mine
                case .ended(let why): ended = why
                }
            }
            keyboard.cancel()
            terminal.leave()
            if let ended {
                Output.err("\n[lb console \(node.name): \(ended)]")
                throw ExitCode(1)
            }
            Output.err("\n[lb console \(node.name): left]")
        }
    }
}

/// The terminal in raw mode while attached (keys go to the node as typed, Ctrl-C included), restored after.
final class RawTerminal: @unchecked Sendable {
    private var saved: termios?

    func enter() {
        guard isatty(STDIN_FILENO) == 1 else { return }
        var settings = termios()
        guard tcgetattr(STDIN_FILENO, &settings) == 0 else { return }
        saved = settings
        cfmakeraw(&settings)
        tcsetattr(STDIN_FILENO, TCSANOW, &settings)
    }

    func leave() {
        guard var settings = saved else { return }
        tcsetattr(STDIN_FILENO, TCSANOW, &settings)
        saved = nil
    }
}

/// Standard input as it arrives, read on a thread of its own (a blocking read).
enum StandardInput {
    static func chunks() -> AsyncStream<[UInt8]> {
        AsyncStream { continuation in
            let thread = Thread {
                var buffer = [UInt8](repeating: 0, count: 4096)
                while true {
                    let count = read(STDIN_FILENO, &buffer, buffer.count)
                    guard count > 0 else { break }
                    continuation.yield(Array(buffer[..<count]))
                }
                continuation.finish()
            }
            thread.start()
        }
    }
}
