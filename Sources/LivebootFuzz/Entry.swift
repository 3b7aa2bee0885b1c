import Foundation

/// `liveboot-fuzz TARGET FILE…` runs each file through the target — how a saved crash is replayed, and how the tests
/// run the seeds. Built for fuzzing (`bench/fuzz.sh`: `-sanitize=fuzzer -D FUZZING`), it hands its arguments to
/// libFuzzer instead, the target named by `LIVEBOOT_FUZZ_TARGET`. Its own `main` calls libFuzzer's driver because
/// SwiftPM links an executable's entry under the target's name, so libFuzzer's `main` is never the one linked.
@main
enum FuzzEntry {
    static func main() throws {
        #if FUZZING
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(runFuzzerDriver(&argc, &argv, { data, size in fuzzOne(data, size) }))
        #else
        let arguments = CommandLine.arguments.dropFirst()
        guard let name = arguments.first, let target = FuzzTarget(rawValue: name) else {
            FileHandle.standardError.write(Data("usage: liveboot-fuzz \(FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")) FILE...\n".utf8))
            exit(2)
        }
        for path in arguments.dropFirst() {
            target.run([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
            // Unbuffered: each input's line is out before the next one may trap.
            FileHandle.standardOutput.write(Data("\(path): ok\n".utf8))
        }
        #endif
    }

    #if FUZZING
    static let target: FuzzTarget = {
        let name = ProcessInfo.processInfo.environment["LIVEBOOT_FUZZ_TARGET"] ?? ""
        guard let target = FuzzTarget(rawValue: name) else {
            fatalError("LIVEBOOT_FUZZ_TARGET must be one of \(FuzzTarget.allCases.map(\.rawValue))")
        }
        return target
    }()
    #endif
}

#if FUZZING
/// The entry libFuzzer's own `main` calls, should the linker pick that one.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzEntry.target.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}

/// libFuzzer's `int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *, size_t))`.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<CInt>,
                     _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt
#endif
