import Foundation
import GRDB

enum Migrations {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: users, slices, keys, leases, operations, audit") { db in
            try db.create(table: "user") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("name", .text).notNull().unique()
                t.column("passwordHash", .text).notNull()
                t.column("isAdmin", .boolean).notNull().defaults(to: false)
                t.column("apiTokenHash", .text).unique()
                t.column("createdAt", .datetime).notNull()
            }
            try db.create(table: "slice") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("name", .text).notNull().unique()
                t.column("createdAt", .datetime).notNull()
            }
            try db.create(table: "membership") { t in
                t.column("userId", .integer).notNull().references("user", onDelete: .cascade)
                t.column("sliceId", .integer).notNull().references("slice", onDelete: .cascade)
                t.primaryKey(["userId", "sliceId"])
            }
            try db.create(table: "sshKey") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("sliceId", .integer).notNull().indexed().references("slice", onDelete: .cascade)
                t.column("type", .text).notNull()
                t.column("line", .text).notNull()
                t.column("fingerprint", .text).notNull()
                t.column("comment", .text).notNull()
                t.column("addedBy", .text).notNull()
                t.column("addedAt", .datetime).notNull()
                t.uniqueKey(["sliceId", "fingerprint"])
            }
            try db.create(table: "node") { t in
                t.column("name", .text).primaryKey()
            }
            try db.create(table: "lease") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("sliceId", .integer).notNull().references("slice", onDelete: .cascade)
                t.column("node", .text).notNull().indexed().references("node", onDelete: .cascade)
                t.column("startsAt", .datetime).notNull()
                t.column("endsAt", .datetime).notNull()
                t.column("createdBy", .text).notNull()
                t.check(sql: "endsAt > startsAt")
            }
            try db.create(table: "operation") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("node", .text).notNull().indexed()
                t.column("kind", .text).notNull()
                t.column("image", .text)
                t.column("user", .text).notNull()
                t.column("slice", .text)
                t.column("state", .text).notNull()
                t.column("message", .text)
                t.column("sshCommand", .text)
                t.column("startedAt", .datetime).notNull()
                t.column("endedAt", .datetime)
            }
            // At most one running operation per node, whatever the number of server tasks racing to start one.
            try db.create(index: "operation_one_running_per_node", on: "operation", columns: ["node"],
                          unique: true, condition: Column("state") == "running")
            try db.create(table: "operationStep") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("operationId", .integer).notNull().indexed().references("operation", onDelete: .cascade)
                t.column("elapsed", .double).notNull()
                t.column("message", .text).notNull()
                t.column("isError", .boolean).notNull().defaults(to: false)
            }
            try db.create(table: "audit") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("at", .datetime).notNull().indexed()
                t.column("user", .text).notNull()
                t.column("slice", .text)
                t.column("node", .text)
                t.column("action", .text).notNull()
                t.column("result", .text).notNull()
            }
            try db.create(table: "webSession") { t in
                t.column("tokenHash", .text).primaryKey()
                t.column("userId", .integer).notNull().references("user", onDelete: .cascade)
                t.column("csrfToken", .text).notNull()
                t.column("createdAt", .datetime).notNull()
                t.column("expiresAt", .datetime).notNull()
            }
        }
        migrator.registerMigration("v2: API tokens expire; user and slice names unique whatever their case") { db in
            try db.alter(table: "user") { t in t.add(column: "apiTokenExpiresAt", .datetime) }
            try db.execute(sql: "CREATE UNIQUE INDEX user_name_nocase ON user(name COLLATE NOCASE)")
            try db.execute(sql: "CREATE UNIQUE INDEX slice_name_nocase ON slice(name COLLATE NOCASE)")
        }
        migrator.registerMigration("v3: boots and their reports; an operation's host keys") { db in
            try db.create(table: "boot") { t in
                t.column("id", .text).primaryKey()
                t.column("node", .text).notNull().indexed()
                t.column("startedAt", .datetime).notNull()
                // Set once: reported, superseded by a later boot, or given up.
                t.column("closedAt", .datetime)
                // Set when the session is over: a later boot of the node, a disk boot, a failed wait.
                t.column("endedAt", .datetime)
                t.column("reportedAt", .datetime)
                t.column("hostKeys", .text)
                t.column("hostname", .text)
                t.column("fqdn", .text)
                t.column("reportedFrom", .text)
            }
            try db.alter(table: "operation") { t in t.add(column: "hostKeys", .text) }
        }
        migrator.registerMigration("v4: the screen of a failed boot") { db in
            // The PNG apart from the operation's row: lists of operations never read its bytes.
            try db.create(table: "operationScreenshot") { t in
                t.column("operationId", .integer).primaryKey().references("operation", onDelete: .cascade)
                t.column("png", .blob).notNull()
                t.column("takenAt", .datetime).notNull()
            }
            try db.alter(table: "operation") { t in t.add(column: "screenshotAt", .datetime) }
        }
        migrator.registerMigration("v5: a lease that ends returns its node") { db in
            try db.alter(table: "lease") { t in
                // Set once the node was returned (media out, disk or off); retries while the BMC does not answer.
                t.add(column: "returnedAt", .datetime)
                t.add(column: "returnAttempts", .integer).notNull().defaults(to: 0)
                t.add(column: "returnRetryAt", .datetime)
                t.add(column: "returnError", .text)
            }
            // Leases that ended before nodes were returned are history: returning them now could reboot a node
            // another slice holds since.
            try db.execute(sql: "UPDATE lease SET returnedAt = endsAt WHERE endsAt <= ?", arguments: [Date()])
        }
        migrator.registerMigration("v6: how each boot's wait ended") { db in
            try db.alter(table: "boot") { t in
                t.add(column: "readyAt", .datetime)
                t.add(column: "failedAt", .datetime)
                t.add(column: "failure", .text)
            }
            try db.create(index: "boot_on_startedAt", on: "boot", columns: ["startedAt"])
        }
        migrator.registerMigration("v7: what each boot's BMC read of its media") { db in
            try db.alter(table: "boot") { t in t.add(column: "seedFile", .text) }
            // The operation's copy, as its step said it: what the operation page and the API show.
            try db.alter(table: "operation") { t in t.add(column: "media", .text) }
            try db.create(index: "boot_on_seedFile", on: "boot", columns: ["seedFile"])
            try db.create(table: "bootMediumRead") { t in
                t.column("bootId", .text).notNull().references("boot", onDelete: .cascade)
                t.column("medium", .text).notNull()
                t.column("name", .text).notNull()
                t.column("bytes", .integer).notNull()
                t.column("firstReadAt", .datetime).notNull()
                t.column("lastReadAt", .datetime).notNull()
                t.column("activeSeconds", .integer).notNull()
                t.primaryKey(["bootId", "medium"])
            }
        }
        migrator.registerMigration("v8: each boot's console log") { db in
            try db.create(table: "bootConsole") { t in
                t.primaryKey("bootId", .text).references("boot", onDelete: .cascade)
                t.column("log", .blob).notNull()
                t.column("totalBytes", .integer).notNull()
                t.column("unavailable", .text)
            }
            // The boot an operation started: its console log is shown on the operation's page.
            try db.alter(table: "operation") { t in t.add(column: "bootId", .text) }
        }
        return migrator
    }
}
