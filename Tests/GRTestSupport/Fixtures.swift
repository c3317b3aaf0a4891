import Foundation
import GRCore

/// Locates the shared folder (`$GR_SHARED`, else `../shared` beside the repository root).
public enum Shared {
    public static var root: URL {
        if let s = ProcessInfo.processInfo.environment["GR_SHARED"] { return URL(fileURLWithPath: s) }
        // This file is Tests/GRTestSupport/Fixtures.swift: three levels up is the repo root.
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return repo.deletingLastPathComponent().appendingPathComponent("shared")
    }
    public static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    /// Opens `shared/fixtures/<name>.safetensors`.
    public static func fixture(_ name: String) throws -> SafeTensorsFile {
        try SafeTensorsFile(path: path("fixtures/\(name).safetensors"))
    }
}
