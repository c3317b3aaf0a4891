import Foundation
import GRCore

/// Errors reading or matching a checkpoint; each names the file and what is wrong.
public struct CheckpointError: Error, CustomStringConvertible {
    public let path: String
    public let message: String
    public init(_ path: String, _ message: String) { self.path = path; self.message = message }
    public var description: String { "checkpoint \(path): \(message)" }
}

/// A training checkpoint as one safetensors file (written atomically by `SafeTensorsWriter`).
///
/// Tensors (all F32, PyTorch shapes):
/// - `<name>`: every parameter under the reference's `state_dict` name (the `ParameterArena`
///   entry names; no DDP `module.` prefix), so `safetensors.torch.load_file` +
///   `model.load_state_dict` work on the PyTorch side;
/// - `optimizer.exp_avg.<name>` / `optimizer.exp_avg_sq.<name>`: AdamW's m and v (PyTorch's
///   `exp_avg` / `exp_avg_sq` state), absent in a weights-only file.
///
/// `__metadata__` (strings): `format` (`formatVersion`), `config` (the `TrainConfig` as JSON),
/// `step` (optimiser steps done), `epoch` (epochs completed), `seed`, `history` (JSON list of
/// `EpochRecord`), `parameter_order` (JSON list of names in arena order), `max_item_id`.
/// Randomness is a pure function of (seed, step, stream) (Philox, `RandomStreamKind`) and shuffling
/// of (seed, epoch), so seed + step + epoch is the complete RNG state.
public struct Checkpoint {
    public static let formatVersion = "gr-checkpoint/1"
    public static let exp_avgPrefix = "optimizer.exp_avg."
    public static let exp_avg_sqPrefix = "optimizer.exp_avg_sq."

    public var config: TrainConfig
    public var step: Int
    public var epoch: Int
    public var history: [EpochRecord]
    public var maxItemId: Int

    public init(config: TrainConfig, step: Int, epoch: Int, history: [EpochRecord], maxItemId: Int) {
        self.config = config
        self.step = step
        self.epoch = epoch
        self.history = history
        self.maxItemId = maxItemId
    }

    /// Writes parameters (and, when given, AdamW m / v with the same flat layout as `values`) to `path`
    /// atomically. `entries` are (name, shape, offset into the flat tensors).
    public func write(to path: String, entries: [(name: String, shape: [Int], offset: Int)], values: Tensor,
                      adamM: Tensor?, adamV: Tensor?) throws {
        var w = SafeTensorsWriter()
        func add(_ name: String, _ flat: Tensor, _ e: (name: String, shape: [Int], offset: Int)) {
            let n = e.shape.reduce(1, *)
            w.add(name, floats: UnsafeBufferPointer(start: flat.floats + e.offset, count: n), shape: e.shape)
        }
        for e in entries { add(e.name, values, e) }
        if let adamM, let adamV {
            for e in entries { add(Self.exp_avgPrefix + e.name, adamM, e) }
            for e in entries { add(Self.exp_avg_sqPrefix + e.name, adamV, e) }
        }
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        func json<T: Encodable>(_ v: T) throws -> String { String(decoding: try enc.encode(v), as: UTF8.self) }
        w.metadata = [
            "format": Self.formatVersion,
            "config": try json(config),
            "step": "\(step)",
            "epoch": "\(epoch)",
            "seed": "\(config.seed)",
            "history": try json(history),
            "parameter_order": try json(entries.map(\.name)),
            "max_item_id": "\(maxItemId)",
        ]
        try w.write(to: path)
    }

    /// Reads a checkpoint's metadata and opens its tensors; `load(into:)` copies them out.
    public static func read(path: String) throws -> (Checkpoint, SafeTensorsFile) {
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(path: path) } catch {
            throw CheckpointError(path, "unreadable or corrupt safetensors file: \(error)")
        }
        let md = file.metadata
        guard md["format"] == formatVersion else {
            throw CheckpointError(path, "metadata 'format' is \(md["format"].map { "'\($0)'" } ?? "missing"), expected '\(formatVersion)'")
        }
        func field(_ k: String) throws -> String {
            guard let v = md[k] else { throw CheckpointError(path, "metadata field '\(k)' missing") }
            return v
        }
        func int(_ k: String) throws -> Int {
            guard let v = Int(try field(k)), v >= 0 else { throw CheckpointError(path, "metadata field '\(k)' is not a count") }
            return v
        }
        let dec = JSONDecoder()
        let config: TrainConfig
        do { config = try dec.decode(TrainConfig.self, from: Data(try field("config").utf8)) } catch let e as CheckpointError {
            throw e
        } catch { throw CheckpointError(path, "metadata field 'config' is not a valid config: \(error)") }
        let history: [EpochRecord]
        do { history = try dec.decode([EpochRecord].self, from: Data(try field("history").utf8)) } catch let e as CheckpointError {
            throw e
        } catch { throw CheckpointError(path, "metadata field 'history' is malformed: \(error)") }
        let ckpt = Checkpoint(config: config, step: try int("step"), epoch: try int("epoch"), history: history,
                              maxItemId: try int("max_item_id"))
        return (ckpt, file)
    }

    /// Copies parameters (and m / v when `adamM`/`adamV` are given) from `file` into flat tensors
    /// laid out by `entries`. Every entry must be present with the same shape and dtype F32.
    public static func load(_ file: SafeTensorsFile, entries: [(name: String, shape: [Int], offset: Int)],
                            values: Tensor, adamM: Tensor?, adamV: Tensor?) throws {
        func copy(_ name: String, _ e: (name: String, shape: [Int], offset: Int), _ dst: Tensor) throws {
            guard let te = file.entries[name] else { throw CheckpointError(file.path, "tensor '\(name)' missing") }
            guard te.shape == e.shape else {
                throw CheckpointError(file.path, "tensor '\(name)' has shape \(te.shape), the model expects \(e.shape)")
            }
            guard te.dtype == "F32" else { throw CheckpointError(file.path, "tensor '\(name)' is \(te.dtype), expected F32") }
            let bytes = try file.bytes(name)
            bytes.withUnsafeBytes { raw in
                guard raw.count > 0 else { return }
                UnsafeMutableRawPointer(dst.floats + e.offset).copyMemory(from: raw.baseAddress!, byteCount: raw.count)
            }
        }
        for e in entries { try copy(e.name, e, values) }
        if let adamM, let adamV {
            for e in entries { try copy(exp_avgPrefix + e.name, e, adamM) }
            for e in entries { try copy(exp_avg_sqPrefix + e.name, e, adamV) }
        }
    }
}
