import Foundation

/// The portal's now: leases begin and end by it. The system's clock in service; tests pass one they move, so that a
/// lease's end comes without sleeping through it.
public protocol PortalClock: Sendable {
    var now: Date { get }
}

public struct SystemClock: PortalClock {
    public init() {}
    public var now: Date { Date() }
}
