import ArgumentParser
import Foundation
import NibbleFormat
import NibbleRuntime

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a .nib model: ops, shapes, precisions, kernels, weight sizes and the arena.")

    @Argument(help: "The .nib model.")
    var model: String

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() throws {
        let m = try loadModel(model)
        let g = m.graph
        let kernels = m.kernelNames
        var byPrecision: [String: Int] = [:]
        for (n, node) in g.nodes.enumerated() { byPrecision[node.precisionLabel, default: 0] += m.weightBytes(ofNode: n) }
        let fileSize = m.file.fileSize
        if json {
            let nodes: [[String: Any]] = g.nodes.enumerated().map { n, node in
                var o: [String: Any] = ["name": node.name, "op": node.op.name, "precision": node.precisionLabel, "kernel": kernels[n],
                                        "output_shape": g.tensors[node.outputs[0]].shape, "weight_bytes": m.weightBytes(ofNode: n)]
                if !m.edgeLevels[n].isEmpty {
                    o["residual_edges"] = m.edgeLevels[n].count
                    o["edge_levels"] = m.edgeLevels[n]
                    o["group_size"] = Int(node.attribute(.groupSize)?.ints.first ?? 0)
                }
                return o
            }
            func io(_ ids: [Int]) -> [[String: Any]] {
                ids.map { ["name": g.tensors[$0].name, "dtype": g.tensors[$0].dtype.name, "shape": g.tensors[$0].shape] }
            }
            let object: [String: Any] = [
                "file": model, "format_version": Int(m.file.formatVersion), "file_bytes": fileSize,
                "metadata": Dictionary(g.metadata.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a }),
                "inputs": io(g.inputs), "outputs": io(g.outputs), "nodes": nodes,
                "weight_bytes_by_precision": byPrecision,
                "arena": ["total_bytes": m.plan.totalBytes, "tensor_bytes": m.plan.tensorBytes,
                          "io_bytes": m.plan.ioBytes, "scratch_bytes": m.plan.scratchBytes],
                "max_residual_level": m.maxResidualLevel,
                "codec_tables": codecTablesJSON(m),
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("\(model): .nib format v\(m.file.formatVersion), \(formatBytes(fileSize))")
        for kv in g.metadata { print("  \(kv.key): \(kv.value)") }
        for i in g.inputs { print("input  \(g.tensors[i].name): \(g.tensors[i].dtype.name) \(g.tensors[i].shape)") }
        for o in g.outputs { print("output \(g.tensors[o].name): \(g.tensors[o].dtype.name) \(g.tensors[o].shape)") }
        print("")
        var header = ["#", "node", "op", "precision", "kernel", "output shape", "weights"]
        if m.hasResidualEdges { header += ["group", "edges", "edge levels"] }
        var rows: [[String]] = []
        for (n, node) in g.nodes.enumerated() {
            var row = ["\(n)", node.name, node.op.name, node.precisionLabel, kernels[n],
                       "\(g.tensors[node.outputs[0]].shape)", formatBytes(m.weightBytes(ofNode: n))]
            if m.hasResidualEdges {
                let levels = m.edgeLevels[n]
                row += levels.isEmpty ? ["", "", ""]
                    : ["\(node.attribute(.groupSize)?.ints.first ?? 0)", "\(levels.count)", levels.map(String.init).joined(separator: ",")]
            }
            rows.append(row)
        }
        printTable(header, rows)
        print("")
        print("weights: " + byPrecision.sorted { $0.key < $1.key }.map { "\($0.key) \(formatBytes($0.value))" }.joined(separator: ", "))
        print("arena: \(formatBytes(m.plan.totalBytes)) = tensors \(formatBytes(m.plan.tensorBytes)) (of which inputs/outputs \(formatBytes(m.plan.ioBytes))) + kernel scratch \(formatBytes(m.plan.scratchBytes))")
        printCodecTables(m)
        if m.hasResidualEdges {
            print("residual levels: 0...\(m.maxResidualLevel); level L runs the edges whose level is <= L (nibble run --residual-level L, -1 = all)")
        } else {
            print("residual levels: \(m.maxResidualLevel) (no ternary residual edges)")
        }
    }
}

extension InspectCommand {
    /// The codec section (docs/FORMAT.md §6) per coded tensor, with the CAT plan's arena beside the raw one.
    func printCodecTables(_ m: Model) {
        guard let p = m.codecPlacement else {
            print("codec tables: none (nibble run --codec none only; convert with --calibrate X.npy --codec-bits N|auto)")
            return
        }
        print("")
        print("codec tables (CAT): \(p.coded.count) tensors")
        var rows: [[String]] = []
        for c in p.coded {
            let t = m.graph.tensors[c.tensor]
            let e = catEntry(m, c.tensor)
            rows.append([t.name, "\(t.shape)", "\(c.codec.bits)", String(format: "%.4g", c.codec.quantizer.step), "\(c.codec.quantizer.zeroPoint)",
                         "\(e.table.count) B", "\(t.byteCount)", "\(c.expectedBytes)", "\(c.codec.worstCaseBytes)",
                         c.codec.storesRaw ? "raw tiles" : "huffman"])
        }
        printTable(["tensor", "shape", "bits", "step", "zero point", "table", "fp32 B", "expected B", "worst case B", "stored"], rows)
        print("arena with cat: \(formatBytes(p.totalBytes)) (none: \(formatBytes(m.plan.totalBytes))); peak activation bytes: raw \(p.rawActivationBytes), cat planned (worst case) \(p.plannedActivationBytes), cat expected (calibration) \(p.expectedActivationBytes)")
        guard let t = m.transformPlacement else { return }
        let entries = m.graph.codecTables.filter { $0.transform != nil }
        print("transform entries: \(entries.map { "\(m.graph.tensors[$0.tensor].name) (\($0.transform!.kind == ChannelTransformEntry.pcaKind ? "PCA" : "DCT"), \($0.bits) bits, expected \($0.expectedBytes) B)" }.joined(separator: ", "))")
        print("arena with transform: \(formatBytes(t.totalBytes)); peak activation bytes: transform planned (worst case) \(t.plannedActivationBytes), transform expected (calibration) \(t.expectedActivationBytes)")
    }

    /// The CAT entry of a tensor the CAT plan codes (a tensor may also have a transform entry).
    func catEntry(_ m: Model, _ tensor: Int) -> CodecTableEntry {
        m.graph.codecTables.first { $0.tensor == tensor && $0.transform == nil }!
    }

    func codecTablesJSON(_ m: Model) -> [String: Any] {
        guard let p = m.codecPlacement else { return [:] }
        let transform: Any = m.transformPlacement.map { t -> [String: Any] in
            ["arena_bytes": t.totalBytes, "planned_activation_bytes": t.plannedActivationBytes, "expected_activation_bytes": t.expectedActivationBytes,
             "tensors": m.graph.codecTables.filter { $0.transform != nil }.map { e -> [String: Any] in
                 ["name": m.graph.tensors[e.tensor].name, "kind": e.transform!.kind == ChannelTransformEntry.pcaKind ? "pca" : "dct",
                  "bits": e.bits, "step": Double(e.step), "expected_bytes": e.expectedBytes]
             }]
        } ?? NSNull()
        return [
            "transform": transform,
            "arena_bytes": p.totalBytes, "raw_activation_bytes": p.rawActivationBytes,
            "planned_activation_bytes": p.plannedActivationBytes, "expected_activation_bytes": p.expectedActivationBytes,
            "tensors": p.coded.map { c -> [String: Any] in
                ["name": m.graph.tensors[c.tensor].name, "bits": c.codec.bits, "step": Double(c.codec.quantizer.step),
                 "zero_point": c.codec.quantizer.zeroPoint, "table_bytes": catEntry(m, c.tensor).table.count,
                 "expected_bytes": c.expectedBytes, "worst_case_bytes": c.codec.worstCaseBytes, "raw_tiles": c.codec.storesRaw]
            },
        ]
    }
}

/// Prints rows under a header with columns padded to their widest cell.
func printTable(_ header: [String], _ rows: [[String]]) {
    var widths = header.map(\.count)
    for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { i, c in c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }.joined(separator: "  ")
    }
    print(line(header))
    print(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "))
    for r in rows { print(line(r)) }
}
