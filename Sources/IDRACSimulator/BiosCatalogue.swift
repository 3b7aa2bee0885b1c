import Foundation

/// The simulated R750's BIOS: a subset of the real registry (iDRAC 6.00.30.00, BiosAttributeRegistry.v1_0_3),
/// kept to the attributes testbed admins touch, with the real names, types, value names and bounds.
struct BiosAttributeSpec: Sendable {
    enum Kind: Sendable { case enumeration([String]), integer(ClosedRange<Int>), string(maxLength: Int), unboundedInteger }
    let name: String
    let displayName: String
    let kind: Kind
    let readOnly: Bool
    let defaultValue: JSON
}

enum BiosCatalogue {
    static let attributes: [BiosAttributeSpec] = [
        .init(name: "SysProfile", displayName: "System Profile",
              kind: .enumeration(["PerfPerWattOptimizedDapc", "PerfPerWattOptimizedOs", "PerfOptimized", "Custom"]),
              readOnly: false, defaultValue: "PerfPerWattOptimizedDapc"),
        .init(name: "ProcCStates", displayName: "C States", kind: .enumeration(["Enabled", "Disabled", "Autonomous"]),
              readOnly: true, defaultValue: "Enabled"),
        .init(name: "ProcTurboMode", displayName: "Turbo Boost", kind: .enumeration(["Enabled", "Disabled"]),
              readOnly: false, defaultValue: "Enabled"),
        .init(name: "LogicalProc", displayName: "Logical Processor", kind: .enumeration(["Enabled", "Disabled"]),
              readOnly: false, defaultValue: "Enabled"),
        .init(name: "ProcVirtualization", displayName: "Virtualization Technology",
              kind: .enumeration(["Enabled", "Disabled"]), readOnly: false, defaultValue: "Enabled"),
        .init(name: "SriovGlobalEnable", displayName: "SR-IOV Global Enable", kind: .enumeration(["Enabled", "Disabled"]),
              readOnly: false, defaultValue: "Disabled"),
        .init(name: "BootMode", displayName: "Boot Mode", kind: .enumeration(["Bios", "Uefi"]), readOnly: false,
              defaultValue: "Uefi"),
        .init(name: "UsbPorts", displayName: "User Accessible USB Ports",
              kind: .enumeration(["AllOn", "OnlyBackPortsOn", "AllOff"]), readOnly: false, defaultValue: "AllOn"),
        .init(name: "UsbManagedPort", displayName: "iDRAC Direct USB Port", kind: .enumeration(["On", "Off"]),
              readOnly: false, defaultValue: "On"),
        .init(name: "NumLock", displayName: "Keyboard NumLock", kind: .enumeration(["On", "Off"]), readOnly: false,
              defaultValue: "On"),
        .init(name: "AcPwrRcvry", displayName: "AC Power Recovery", kind: .enumeration(["Last", "On", "Off"]),
              readOnly: false, defaultValue: "Last"),
        .init(name: "AcPwrRcvryUserDelay", displayName: "User Defined Delay (60 s to 600 s)",
              kind: .integer(60...600), readOnly: false, defaultValue: 120),
        // Serial console: a node as racked, with the COM port on but the BIOS console not redirected to it, so the
        // POST and the boot loader stay off the serial console until `lb console --setup` (the kernel's own output,
        // `console=ttyS…`, shows regardless).
        .init(name: "SerialComm", displayName: "Serial Communication", kind: .enumeration(["OnNoConRedir", "OnConRedir", "Off"]),
              readOnly: false, defaultValue: "OnNoConRedir"),
        .init(name: "SerialPortAddress", displayName: "Serial Port Address", kind: .enumeration(["Com1", "Com2"]),
              readOnly: false, defaultValue: "Com1"),
        .init(name: "ExtSerialConnector", displayName: "External Serial Connector",
              kind: .enumeration(["Serial1", "Serial2", "RemoteAccDevice"]), readOnly: true, defaultValue: "Serial1"),
        .init(name: "FailSafeBaud", displayName: "Failsafe Baud Rate", kind: .enumeration(["115200", "57600", "19200", "9600"]),
              readOnly: false, defaultValue: "115200"),
        .init(name: "ConTermType", displayName: "Remote Terminal Type", kind: .enumeration(["Vt100Vt220", "Ansi"]),
              readOnly: false, defaultValue: "Vt100Vt220"),
        .init(name: "RedirAfterBoot", displayName: "Redirection After Boot", kind: .enumeration(["Enabled", "Disabled"]),
              readOnly: false, defaultValue: "Disabled"),
        .init(name: "AssetTag", displayName: "Asset Tag", kind: .string(maxLength: 63), readOnly: false, defaultValue: ""),
        .init(name: "SystemModelName", displayName: "System Model Name", kind: .string(maxLength: 40), readOnly: true,
              defaultValue: "PowerEdge R750"),
        // The real registry bounds this by UInt64.max, which does not fit a signed 64-bit integer.
        .init(name: "SgxEpoch0", displayName: "SGX Owner Epoch 0", kind: .unboundedInteger, readOnly: true, defaultValue: 0),
        .init(name: "SystemBiosVersion", displayName: "System BIOS Version", kind: .string(maxLength: 48),
              readOnly: true, defaultValue: "1.8.2"),
    ]

    static func registryEntry(_ spec: BiosAttributeSpec) -> JSON {
        var pairs: [(String, JSON)] = [
            ("AttributeName", .string(spec.name)), ("DisplayName", .string(spec.displayName)),
            ("ReadOnly", .bool(spec.readOnly)), ("Hidden", false), ("ResetRequired", true),
        ]
        switch spec.kind {
        case .enumeration(let values):
            pairs.append(("Type", "Enumeration"))
            pairs.append(("Value", .array(values.map { ["ValueName": .string($0), "ValueDisplayName": .string($0)] })))
        case .integer(let range):
            pairs += [("Type", "Integer"), ("LowerBound", .int(range.lowerBound)), ("UpperBound", .int(range.upperBound)),
                      ("ScalarIncrement", 0)]
        case .unboundedInteger:
            pairs += [("Type", "Integer"), ("LowerBound", 0), ("UpperBound", .decimal(Decimal(string: "18446744073709551615")!))]
        case .string(let maxLength):
            pairs += [("Type", "String"), ("MinLength", 0), ("MaxLength", .int(maxLength))]
        }
        return .object(pairs)
    }
}
