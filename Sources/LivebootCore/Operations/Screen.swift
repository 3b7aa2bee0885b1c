import Foundation
import Redfish

extension Liveboot {
    /// A picture of the node's screen, from its BMC (Dell: `ExportServerScreenShot`); a capture already running
    /// (LC098) is waited for like any transient refusal. BMCs without one throw `RedfishError.notSupported`.
    public func screenshot(_ node: Node) async throws -> ScreenCapture {
        try await withSession(node) { session in
            try await MediaDrive(session: session, timing: config.timing, progress: { _ in })
                .retryingWhileBusy("screenshot") { try await session.bmc.screenshot(session.discovery) }
        }
    }

    /// The screen of a node whose boot failed, as a step (stored with the operation by the portal, saved by the
    /// CLI); a BMC that cannot take one says why, and the boot's own failure stands.
    func captureScreen(_ node: Node, progress: @escaping ProgressHandler) async {
        do {
            progress(.screenshot(try await screenshot(node)))
        } catch RedfishError.notSupported(_, let what) {
            progress(.screenshotUnavailable("the BMC does not support \(what)"))
        } catch {
            progress(.screenshotUnavailable("\(error)"))
        }
    }
}
