import ArgumentParser
import LivebootCLI

@main
struct Entry {
    static func main() async {
        LivebootCommand.ignoreBrokenPipes()
        await LivebootCommand.main()
    }
}
