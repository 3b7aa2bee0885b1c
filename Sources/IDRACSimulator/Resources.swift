import Foundation

/// The Redfish resources a simulated iDRAC 9 (R750, firmware 6.00.30.00) serves, written for this project from
/// what the captures in `shared/fixtures/redfish/dell-r750-idrac9-6.00.30.00_nvidia-ncx` show.
extension SimulatedNode {
    var firmwareVersion: String { behaviour.legacyVirtualMedia ? "5.10.50.00" : "6.00.30.00" }

    func get(_ path: String, expand: Bool) -> SimResponse {
        if path.hasPrefix("/redfish/v1/TaskService/Tasks/") {
            return taskResource(String(path.split(separator: "/").last!))
        }
        guard let resource = resource(path) else {
            return .error(404, "Base.1.8.ResourceMissingAtURI", "The resource at the URI \(path) was not found.",
                          resolution: "Place a valid resource at the URI or correct the URI and resubmit the request.")
        }
        if expand, case .array(let members)? = resource["Members"] {
            let expanded = members.compactMap { $0["@odata.id"]?.stringValue.flatMap(self.resource) }
            return .json(resource.merging([("Members", .array(expanded))]))
        }
        return .json(resource)
    }

    func collection(_ id: String, type: String, name: String, members: [String]) -> JSON {
        ["@odata.id": .string(id), "@odata.type": .string("#\(type).\(type)"), "Name": .string(name),
         "Members": .array(members.map(JSON.link)), "Members@odata.count": .int(members.count)]
    }

    var vmediaBase: String { behaviour.legacyVirtualMedia ? Self.manager + "/VirtualMedia" : Self.system + "/VirtualMedia" }

    func resource(_ path: String) -> JSON? {
        let sys = Self.system, mgr = Self.manager
        switch path {
        case "/redfish/v1", "/redfish":
            return [
                "@odata.id": "/redfish/v1", "@odata.type": "#ServiceRoot.v1_10_0.ServiceRoot", "Id": "RootService",
                "Name": "Root Service", "RedfishVersion": "1.13.1", "Vendor": "Dell",
                "Product": "Integrated Dell Remote Access Controller",
                "Systems": .link("/redfish/v1/Systems"), "Managers": .link("/redfish/v1/Managers"),
                "Chassis": .link("/redfish/v1/Chassis"), "SessionService": .link("/redfish/v1/SessionService"),
                "Tasks": .link("/redfish/v1/TaskService"), "JobService": .link("/redfish/v1/JobService"),
                "Registries": .link("/redfish/v1/Registries"),
                "Links": ["Sessions": .link("/redfish/v1/SessionService/Sessions")],
                "Oem": ["Dell": ["@odata.type": "#DellServiceRoot.v1_0_0.DellServiceRoot", "IsBranded": 0,
                                 "ServiceTag": .string("SIM\(name.uppercased())")]],
                "ProtocolFeaturesSupported": [
                    "ExpandQuery": ["ExpandAll": true, "Levels": true, "Links": true, "MaxLevels": 1, "NoLinks": true],
                    "FilterQuery": true, "SelectQuery": true, "OnlyMemberQuery": true,
                ],
            ]
        case "/redfish/v1/SessionService":
            return ["@odata.id": "/redfish/v1/SessionService", "Id": "SessionService", "ServiceEnabled": true,
                    "SessionTimeout": 1800, "Sessions": .link("/redfish/v1/SessionService/Sessions")]
        case "/redfish/v1/SessionService/Sessions":
            return collection(path, type: "SessionCollection", name: "Session Collection",
                              members: sessions.keys.sorted().map { "\(path)/\($0)" })
        case "/redfish/v1/Systems":
            return collection(path, type: "ComputerSystemCollection", name: "Computer System Collection", members: [sys])
        case sys:
            var system: JSON = [
                "@odata.id": .string(sys), "@odata.type": "#ComputerSystem.v1_16_0.ComputerSystem",
                "Id": "System.Embedded.1", "Name": "System", "Manufacturer": "Dell Inc.", "Model": "PowerEdge R750",
                "SerialNumber": .string("SIM\(name.uppercased())"), "BiosVersion": "1.8.2", "PowerState": .string(power),
                "HostName": .string(sshUp ? name : ""), "Status": ["Health": "OK", "State": "Enabled"],
                "BootProgress": ["LastState": .string(bootProgress), "OemLastState": .null],
                "Bios": .link(sys + "/Bios"),
                "Boot": [
                    "BootSourceOverrideEnabled": .string(bootEnabled), "BootSourceOverrideMode": "UEFI",
                    "BootSourceOverrideTarget": .string(bootTarget),
                    "BootSourceOverrideTarget@Redfish.AllowableValues": [
                        "None", "Pxe", "Floppy", "Cd", "Hdd", "BiosSetup", "Utilities", "UefiTarget", "SDCard", "UefiHttp",
                    ],
                    "BootOptions": .link(sys + "/BootOptions"),
                ],
                "Actions": ["#ComputerSystem.Reset": [
                    "target": .string(sys + "/Actions/ComputerSystem.Reset"),
                    "ResetType@Redfish.AllowableValues": [
                        "On", "ForceOff", "ForceRestart", "GracefulRestart", "GracefulShutdown", "PushPowerButton", "Nmi", "PowerCycle",
                    ],
                ]],
                "Links": ["ManagedBy": [.link(mgr)], "ManagedBy@odata.count": 1, "Chassis": [.link("/redfish/v1/Chassis/System.Embedded.1")]],
            ]
            if !behaviour.legacyVirtualMedia { system = system.merging([("VirtualMedia", .link(sys + "/VirtualMedia"))]) }
            return system
        case "/redfish/v1/Managers":
            return collection(path, type: "ManagerCollection", name: "Manager Collection", members: [mgr])
        case mgr:
            return [
                "@odata.id": .string(mgr), "@odata.type": "#Manager.v1_12_0.Manager", "Id": "iDRAC.Embedded.1",
                "Name": "Manager", "ManagerType": "BMC", "Model": "15G Monolithic", "FirmwareVersion": .string(firmwareVersion),
                "PowerState": "On", "Status": ["Health": "OK", "State": "Enabled"],
                "VirtualMedia": .link(mgr + "/VirtualMedia"),
                // As captured: the serial console is not advertised here, though `console com2` over SSH works.
                "SerialConsole": ["ConnectTypesSupported": [], "ConnectTypesSupported@odata.count": 0,
                                  "MaxConcurrentSessions": 0, "ServiceEnabled": false],
                "CommandShell": ["ConnectTypesSupported": ["SSH", "IPMI"], "ConnectTypesSupported@odata.count": 2,
                                 "MaxConcurrentSessions": 5, "ServiceEnabled": true],
                "Actions": [
                    "#Manager.Reset": ["target": .string(mgr + "/Actions/Manager.Reset"),
                                       "ResetType@Redfish.AllowableValues": ["GracefulRestart"]],
                    "Oem": [
                        "#OemManager.v1_4_0.OemManager#OemManager.ImportSystemConfiguration": [
                            "target": .string(mgr + "/Actions/Oem/EID_674_Manager.ImportSystemConfiguration"),
                            "ShutdownType@Redfish.AllowableValues": ["Graceful", "Forced", "NoReboot"],
                            "HostPowerState@Redfish.AllowableValues": ["On", "Off"],
                        ],
                        "#OemManager.v1_4_0.OemManager#OemManager.ExportSystemConfiguration": [
                            "target": .string(mgr + "/Actions/Oem/EID_674_Manager.ExportSystemConfiguration"),
                        ],
                    ],
                ],
                "Links": [
                    "ManagerForServers": [.link(sys)],
                    "Oem": ["Dell": [
                        "@odata.type": "#DellOem.v1_3_0.DellOemLinks",
                        "DellJobService": .link(mgr + "/Oem/Dell/DellJobService"),
                        "DellLCService": .link(mgr + "/Oem/Dell/DellLCService"),
                        "Jobs": .link(mgr + "/Oem/Dell/Jobs"),
                    ]],
                ],
            ]
        case vmediaBase:
            return collection(path, type: "VirtualMediaCollection", name: "VirtualMedia Collection",
                              members: (behaviour.listsSlotsInReverse ? slots.reversed() : slots).map { "\(vmediaBase)/\($0.id)" })
        case mgr + "/VirtualMedia" where !behaviour.legacyVirtualMedia:
            // iDRAC ≥ 6 still lists the Manager's collection, deprecated, with no slots to act on.
            return collection(path, type: "VirtualMediaCollection", name: "VirtualMedia Collection", members: [])
        case _ where path.hasPrefix(vmediaBase + "/"):
            let id = String(path.dropFirst(vmediaBase.count + 1))
            guard let slot = slots.first(where: { $0.id == id }) else { return nil }
            let image = slot.shown
            let types: JSON = behaviour.legacyVirtualMedia ? (id == "CD" ? ["CD", "DVD"] : ["USBStick"]) : ["CD", "DVD", "USBStick"]
            return [
                "@odata.id": .string(path), "@odata.type": "#VirtualMedia.v1_4_0.VirtualMedia", "Id": .string(id),
                "Name": .string(behaviour.legacyVirtualMedia ? (id == "CD" ? "Virtual CD" : "Virtual Removable Disk") : "VirtualMedia Instance \(id)"),
                "Image": image.map(JSON.string) ?? .null,
                "ImageName": image.map { .string(URL(string: $0)?.lastPathComponent ?? $0) } ?? .null,
                "Inserted": .bool(image != nil), "ConnectedVia": image == nil ? "NotConnected" : "URI",
                "MediaTypes": types, "WriteProtected": true,
                "TransferMethod": image == nil ? .null : "Stream",
                "TransferProtocolType": image.flatMap { URL(string: $0)?.scheme?.uppercased() }.map(JSON.string) ?? .null,
                "Actions": [
                    "#VirtualMedia.EjectMedia": ["target": .string(path + "/Actions/VirtualMedia.EjectMedia")],
                    "#VirtualMedia.InsertMedia": ["target": .string(path + "/Actions/VirtualMedia.InsertMedia")],
                ],
            ]
        case sys + "/Bios":
            return [
                "@odata.id": .string(path), "@odata.type": "#Bios.v1_2_0.Bios", "Id": "Bios",
                "Name": "BIOS Configuration Current Settings", "AttributeRegistry": "BiosAttributeRegistry.v1_0_3",
                "Attributes": .object(bios.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }),
                "Actions": [
                    "#Bios.ChangePassword": ["target": .string(path + "/Actions/Bios.ChangePassword")],
                    "#Bios.ResetBios": ["target": .string(path + "/Actions/Bios.ResetBios")],
                ],
                "@Redfish.Settings": [
                    "@odata.type": "#Settings.v1_3_3.Settings", "SettingsObject": .link(path + "/Settings"),
                    "SupportedApplyTimes": ["OnReset", "AtMaintenanceWindowStart", "InMaintenanceWindowOnReset"],
                ],
            ]
        case sys + "/Bios/Settings":
            return [
                "@odata.id": .string(path), "@odata.type": "#Bios.v1_2_0.Bios", "Id": "Settings",
                "Name": "BIOS Configuration Pending Settings", "AttributeRegistry": "BiosAttributeRegistry.v1_0_3",
                "Attributes": .object(pendingBios.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }),
                "Oem": ["Dell": ["Jobs": .link(mgr + "/Oem/Dell/Jobs")]],
            ]
        case sys + "/Bios/BiosRegistry":
            return [
                "@odata.id": .string(path), "@odata.type": "#AttributeRegistry.v1_3_5.AttributeRegistry",
                "Id": "BiosAttributeRegistry.v1_0_3", "Name": "BIOS Attribute Registry", "Language": "en",
                "OwningEntity": "Dell", "RegistryVersion": "v1_0_3",
                "RegistryEntries": ["Attributes": .array(BiosCatalogue.attributes.map(BiosCatalogue.registryEntry)),
                                    "Dependencies": [], "Menus": []],
            ]
        case mgr + "/Oem/Dell/Jobs":
            return collection(path, type: "DellJobCollection", name: "JobQueue", members: jobs.map { "\(path)/\($0.id)" })
        case _ where path.hasPrefix(mgr + "/Oem/Dell/Jobs/") || path.hasPrefix(mgr + "/Jobs/"):
            let id = String(path.split(separator: "/").last!)
            guard let job = jobs.first(where: { $0.id == id }) else { return nil }
            return [
                "@odata.id": .string(path), "@odata.type": "#DellJob.v1_2_0.DellJob", "Id": .string(job.id),
                "Name": .string(job.type == "BIOSConfiguration" ? "Configure: BIOS.Setup.1-1" : "Import Configuration"),
                "JobState": .string(job.state), "JobType": .string(job.type), "Message": .string(job.message),
                "MessageId": .string(job.state == "Completed" ? "PR19" : "JCP001"), "MessageArgs": [],
                "PercentComplete": .int(job.state == "Completed" ? 100 : 0), "StartTime": "TIME_NOW",
                "EndTime": "TIME_NA", "CompletionTime": .null, "TargetSettingsURI": .null,
            ]
        case mgr + "/Oem/Dell/DellAttributes/iDRAC.Embedded.1":
            return [
                "@odata.id": .string(path), "@odata.type": "#DellAttributes.v1_0_0.DellAttributes", "Id": "iDRAC.Embedded.1",
                "Name": "iDRAC Attributes", "AttributeRegistry": "ManagerAttributeRegistry.v1_0",
                "Attributes": .object(idracAttributes.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }),
            ]
        case mgr + "/Oem/Dell/DellLCService":
            return [
                "@odata.id": .string(path), "@odata.type": "#DellLCService.v1_5_0.DellLCService", "Id": "DellLCService",
                "Name": "DellLCService",
                "Actions": [
                    "#DellLCService.GetRemoteServicesAPIStatus": [
                        "target": .string(path + "/Actions/DellLCService.GetRemoteServicesAPIStatus")],
                    "#DellLCService.ExportServerScreenShot": [
                        "target": .string(path + "/Actions/DellLCService.ExportServerScreenShot"),
                        "FileType@Redfish.AllowableValues": ["LastCrashScreenShot", "Preview", "ServerScreenShot"]],
                ],
            ]
        case mgr + "/Oem/Dell/DellJobService" where !behaviour.legacyJobServiceOnly:
            return [
                "@odata.id": .string(path), "@odata.type": "#DellJobService.v1_2_0.DellJobService", "Id": "Job Service",
                "Name": "DellJobService", "CurrentNumberOfJobs": .int(jobs.count), "MaximumNumberOfJobs": 256,
                "Actions": [
                    "#DellJobService.DeleteJobQueue": ["target": .string(path + "/Actions/DellJobService.DeleteJobQueue")],
                    "#DellJobService.SetupJobQueue": ["target": .string(path + "/Actions/DellJobService.SetupJobQueue")],
                ],
            ]
        default:
            return nil
        }
    }
}
