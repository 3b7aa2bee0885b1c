import Foundation

/// Errors of the core that a user can act on. BMC errors stay `RedfishError` / `DellError`.
public enum LivebootError: Error, Sendable, CustomStringConvertible, Equatable {
    case configNotFound(String)
    case configInvalid(path: String, reason: String)
    case insecureSecrets(path: String, mode: String)
    case unknownNode(String, known: [String])
    case noNodes
    case noCredentials(node: String)
    case unknownImage(String, available: [String])
    case imageOutsideFolder(String, folder: String)
    case badImageName(String)
    case imageNotServed(url: String, reason: String)
    case noKeys
    case badKey(source: String, reason: String)
    case badArgument(String)
    case slotsMissing(node: String, found: Int)
    case mediaNotInserted(node: String, slot: String, expected: String, found: String?, seconds: Int)
    case mediaNotEjected(node: String, slot: String, holding: String?, seconds: Int)
    case bmcNotReady(node: String, reason: String, seconds: Int)
    case powerTimeout(node: String, wanted: String, last: String)
    case sshTimeout(node: String, seconds: Int)
    case noReportURL(reason: String)
    case noLiveSession(node: String, reason: String)
    case noBootRegistry(reason: String)
    case neverReported(node: String, seconds: Int)
    case readyTimeout(node: String, seconds: Int, sshAnswered: Bool, reported: Bool)

    public var description: String {
        switch self {
        case .configNotFound(let path):
            "no configuration at \(path) (set --config or LIVEBOOT_CONFIG; deploy/liveboot.yaml.example shows the format)"
        case .configInvalid(let path, let reason): "configuration \(path) is invalid: \(reason)"
        case .insecureSecrets(let path, let mode):
            "secrets file \(path) is readable by others (mode \(mode)); run: chmod 600 \(path)"
        case .unknownNode(let name, let known):
            "unknown node \"\(name)\"; known nodes: \(known.joined(separator: ", "))"
        case .noNodes: "no node given"
        case .noCredentials(let node):
            "no BMC password for \(node): set drac-password in the secrets file, the config, or LIVEBOOT_DRAC_PASSWORD"
        case .unknownImage(let name, let available):
            "unknown image \"\(name)\"; available: \(available.isEmpty ? "none (the images folder is empty)" : available.joined(separator: ", "))"
        case .imageOutsideFolder(let path, let folder):
            "image \(path) is not inside the images folder \(folder), so it cannot be served to the BMC"
        case .badImageName(let name):
            "image name \"\(name)\" must match [A-Za-z0-9._-]+ and end in .iso (the iDRAC sends URL paths verbatim)"
        case .imageNotServed(let url, let reason):
            "the BMC could not read \(url): \(reason). Is `liveboot serve` (or the web server for images) running?"
        case .noKeys: "no ssh key: configure authorized-keys / authorized-keys-file or pass --key FILE"
        case .badKey(let source, let reason): "ssh key in \(source): \(reason)"
        case .badArgument(let text): text
        case .slotsMissing(let node, let found):
            "\(node): the BMC offers no virtual-media slot that takes a CD image (\(found) slot\(found == 1 ? "" : "s") found)"
        case .mediaNotInserted(let node, let slot, let expected, let found, let seconds):
            "\(node): slot \(slot) should hold \(expected) but still holds \(found ?? "nothing") \(seconds) s after InsertMedia "
                + "(timing.media-insert); the BMC could not mount the URL, or needs longer"
        case .mediaNotEjected(let node, let slot, let holding, let seconds):
            "\(node): slot \(slot) still holds \(holding ?? "media") \(seconds) s after EjectMedia (timing.media-eject)"
        case .bmcNotReady(let node, let reason, let seconds):
            "\(node): the BMC is still not ready after \(seconds) s (\(reason)); try again once it has finished "
                + "(timing.bmc-ready)"
        case .powerTimeout(let node, let wanted, let last):
            "\(node): power did not reach \(wanted) in time (last seen \(last))"
        case .sshTimeout(let node, let seconds): "\(node): ssh did not answer within \(seconds) s"
        case .noReportURL(let reason):
            "\(reason): set portal.node-url to the URL at which the nodes' OS reaches `liveboot serve`'s portal "
                + "(e.g. http://10.0.0.1:8081), so that the live session can report itself"
        case .noLiveSession(let node, let reason): "\(node) has no live session to reach: \(reason)"
        case .noBootRegistry(let reason):
            "cannot open the portal database, where `liveboot serve` records the live sessions' reports: \(reason)"
        case .neverReported(let node, let seconds):
            "\(node): answered ssh but the live session never reported (\(seconds) s, timing.report-grace): "
                + "the node most likely booted its disk (the image did not boot from slot 1, or the one-time boot was ignored)"
        case .readyTimeout(let node, let seconds, let ssh, let reported):
            "\(node): not ready within \(seconds) s: "
                + (reported ? "the live session reported, but ssh did not answer"
                    : ssh ? "ssh answered, the live session did not report"
                    : "neither ssh nor the live session's report came: the node did not boot the live image (an image its "
                        + "firmware cannot boot, a one-time boot it ignored, or a boot still under way), or its OS cannot "
                        + "reach portal.node-url")
        }
    }
}

extension LivebootError: LocalizedError {
    public var errorDescription: String? { description }
}
