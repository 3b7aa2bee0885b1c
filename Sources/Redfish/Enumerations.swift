/// Enumerations a BMC may extend: a spelling this code does not know is kept as it came (shown, compared, sent
/// back) instead of failing the whole resource. Each type lists the DMTF schema's values it uses by name.
public protocol OpenEnum: RawRepresentable, Codable, Sendable, Hashable, CustomStringConvertible where RawValue == String {
    init(rawValue: String)
}

extension OpenEnum {
    public init(from decoder: any Decoder) throws {
        self.init(rawValue: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var description: String { rawValue }
}

/// `ComputerSystem.Reset`'s `ResetType` (Resource.ResetType).
public struct ResetType: OpenEnum {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let on = Self(rawValue: "On")
    public static let forceOff = Self(rawValue: "ForceOff")
    public static let gracefulShutdown = Self(rawValue: "GracefulShutdown")
    public static let gracefulRestart = Self(rawValue: "GracefulRestart")
    public static let forceRestart = Self(rawValue: "ForceRestart")
    public static let powerCycle = Self(rawValue: "PowerCycle")
    public static let forceOn = Self(rawValue: "ForceOn")
    public static let pushPowerButton = Self(rawValue: "PushPowerButton")
}

/// `Boot.BootSourceOverrideTarget` (ComputerSystem.BootSource).
public struct BootSource: OpenEnum {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let none = Self(rawValue: "None")
    public static let cd = Self(rawValue: "Cd")
    public static let hdd = Self(rawValue: "Hdd")
    public static let pxe = Self(rawValue: "Pxe")
    public static let usb = Self(rawValue: "Usb")
    public static let floppy = Self(rawValue: "Floppy")
    public static let biosSetup = Self(rawValue: "BiosSetup")
    public static let uefiTarget = Self(rawValue: "UefiTarget")
}

/// `Boot.BootSourceOverrideEnabled`.
public struct BootOverrideEnabled: OpenEnum {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let disabled = Self(rawValue: "Disabled")
    public static let once = Self(rawValue: "Once")
    public static let continuous = Self(rawValue: "Continuous")
}

/// `VirtualMedia.MediaTypes` members.
public struct MediaType: OpenEnum {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let cd = Self(rawValue: "CD")
    public static let dvd = Self(rawValue: "DVD")
    public static let floppy = Self(rawValue: "Floppy")
    public static let usbStick = Self(rawValue: "USBStick")
}

/// `Task.TaskState`.
public struct TaskState: OpenEnum {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let new = Self(rawValue: "New")
    public static let running = Self(rawValue: "Running")
    public static let pending = Self(rawValue: "Pending")
    public static let completed = Self(rawValue: "Completed")
    public static let exception = Self(rawValue: "Exception")
    public static let killed = Self(rawValue: "Killed")
    public static let cancelled = Self(rawValue: "Cancelled")
    public static let interrupted = Self(rawValue: "Interrupted")

    /// A state after which the task does not change: only these end the polling (an unknown state keeps it going,
    /// within its deadline).
    public var isFinal: Bool { [.completed, .exception, .killed, .cancelled, .interrupted].contains(self) }
}

/// `BootProgress.LastState` (ComputerSystem.BootProgressTypes, Redfish 2020.4+).
public struct BootProgressState: OpenEnum {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let none = Self(rawValue: "None")
    public static let primaryProcessorInitializationStarted = Self(rawValue: "PrimaryProcessorInitializationStarted")
    public static let memoryInitializationStarted = Self(rawValue: "MemoryInitializationStarted")
    public static let systemHardwareInitializationComplete = Self(rawValue: "SystemHardwareInitializationComplete")
    public static let setupEntered = Self(rawValue: "SetupEntered")
    public static let osBootStarted = Self(rawValue: "OSBootStarted")
    public static let osRunning = Self(rawValue: "OSRunning")

    /// In words: what the node is doing.
    public var words: String {
        switch self {
        case .none: "no boot in progress"
        case .primaryProcessorInitializationStarted, .memoryInitializationStarted: "POST (\(rawValue))"
        case .systemHardwareInitializationComplete: "POST done"
        case .setupEntered: "in BIOS setup"
        case .osBootStarted: "OS boot started"
        case .osRunning: "OS running"
        default: rawValue
        }
    }
}

/// A system read with `$select=BootProgress`: only what the boot watch needs.
public struct BootProgressReading: Decodable, Sendable {
    public let lastState: BootProgressState?

    enum Keys: String, CodingKey { case bootProgress = "BootProgress" }
    enum ProgressKeys: String, CodingKey { case lastState = "LastState" }

    public init(from decoder: any Decoder) throws {
        let progress = try? decoder.container(keyedBy: Keys.self).nestedContainer(keyedBy: ProgressKeys.self, forKey: .bootProgress)
        lastState = try progress?.decodeIfPresent(BootProgressState.self, forKey: .lastState)
    }
}

/// `Manager.SerialConnectTypesSupported` / `CommandConnectTypesSupported` values.
public struct ConsoleConnectType: OpenEnum {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let ssh = Self(rawValue: "SSH")
    public static let telnet = Self(rawValue: "Telnet")
    public static let ipmi = Self(rawValue: "IPMI")
    public static let oem = Self(rawValue: "Oem")
}
