import ArgumentParser
import LivebootCLI

@main
struct Entry: AsyncMainProtocol {
    typealias Command = LivebootCommand
}
