import Foundation
import Redfish

/// `Managers/iDRAC.Embedded.1/Oem/Dell/DellAttributes/iDRAC.Embedded.1`: the iDRAC's own attributes (`SSH.1.Port`,
/// `SerialRedirection.1.Enable` …), read as the BIOS's are.
struct IDRACAttributes: Decodable {
    let attributes: [String: AttributeValue]
    enum CodingKeys: String, CodingKey { case attributes = "Attributes" }

    subscript(_ name: String) -> String? { attributes[name]?.description }
}

extension IDRAC {
    /// The console the iDRAC's SSH CLI gives with `console com2`: the host's second serial device, the one the BIOS
    /// redirects its console to and the iDRAC records (Serial Over LAN).
    ///
    /// Quirk (captured on 6.00.30.00): the Manager's `SerialConsole` says `ServiceEnabled: false` with no connect
    /// types, though `console com2` works; what decides is the `CommandShell` (SSH), and the iDRAC attributes
    /// `SSH.1.Enable`, `SSH.1.Port` and `SerialRedirection.1.Enable`. Leaving the console is the iDRAC's
    /// `SerialRedirection.1.QuitKey` (`^\`), which a relay must not pass on.
    public func serialConsole(_ discovery: Discovery) async throws -> SerialConsoleAccess {
        let managerPath = Self.manager(of: discovery)
        let managerID = managerPath.split(separator: "/").last.map(String.init) ?? "iDRAC.Embedded.1"
        let path = managerPath + "/Oem/Dell/DellAttributes/" + managerID
        let attributes: IDRACAttributes
        do {
            attributes = try await client.get(IDRACAttributes.self, at: path)
        } catch let error as RedfishError where error.status == 404 {
            throw RedfishError.notSupported(bmc: bmc, what: "the iDRAC's attributes (DellAttributes), which say how its SSH serial console is reached")
        }
        return try Self.serialConsole(host: try client.endpoint.host, attributes: attributes)
    }

    static func serialConsole(host: String, attributes: IDRACAttributes) throws -> SerialConsoleAccess {
        if let ssh = attributes["SSH.1.Enable"], ssh != "Enabled" {
            throw RedfishError.notSupported(bmc: host, what: "a serial console: SSH is \(ssh) on the iDRAC (SSH.1.Enable)")
        }
        let port = attributes["SSH.1.Port"].flatMap { Int($0) } ?? 22
        let settings = [
            SerialSetting(scope: "iDRAC", name: "SerialRedirection.1.Enable", value: attributes["SerialRedirection.1.Enable"],
                          accepted: ["Enabled"], why: "the iDRAC relays the host's serial port only when enabled"),
            SerialSetting(scope: "iDRAC", name: "IPMISOL.1.BaudRate", value: attributes["IPMISOL.1.BaudRate"],
                          accepted: ["115200"], why: "the live images' kernels write to the serial port at 115200 baud"),
        ]
        return SerialConsoleAccess(host: host, port: port, command: "console com2",
                                   bmcEscape: quitKey(attributes["SerialRedirection.1.QuitKey"] ?? "^\\"),
                                   settings: settings)
    }

    /// `^\` → 0x1C: the caret notation the iDRAC uses for its quit key.
    static func quitKey(_ notation: String) -> [UInt8] {
        let chars = Array(notation.utf8)
        if chars.count == 2, chars[0] == UInt8(ascii: "^") { return [chars[1] & 0x1F] }
        return chars
    }

    /// What the BIOS must say for the serial console to show the boot (names of iDRAC 9's registry, 14G to 16G):
    /// the console redirected to the serial device, kept on once the OS loader runs, at the kernels' speed.
    /// `SerialPortAddress` is not checked: the live images write to both COM1 and COM2.
    public func serialBiosSettings(_ bios: Bios) -> [SerialSetting] {
        func setting(_ name: String, _ accepted: [String], _ why: String) -> SerialSetting {
            SerialSetting(scope: SerialSetting.biosScope, name: name, value: bios.attributes[name]?.description, accepted: accepted, why: why)
        }
        return [
            setting("SerialComm", ["OnConRedir", "OnConRedirAuto", "OnConRedirCom1", "OnConRedirCom2"],
                    "the BIOS redirects its console to the serial device only with console redirection on"),
            setting("RedirAfterBoot", ["Enabled"], "without it the boot loader's screen is not redirected"),
            setting("FailSafeBaud", ["115200"], "the serial speed the live images' kernels use"),
        ]
    }
}
