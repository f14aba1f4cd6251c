import NibbleKernels

/// How a step's independent work (output channels, or groups) is cut into a session's tasks: contiguous,
/// balanced ranges in whole blocks of `multiple` — a kernel's tile rows, so a task does not run more partial
/// tiles than the work needs. Every element is still computed by the same code as with one task.
public enum TaskSplit {
    /// Range of `count` items task `task` of `tasks` takes (empty when there are more tasks than blocks).
    public static func range(_ count: Int, task: Int, of tasks: Int, multiple: Int = 1) -> Range<Int> {
        let blocks = (count + multiple - 1) / multiple
        let lo = blocks * task / tasks * multiple, hi = blocks * (task + 1) / tasks * multiple
        return min(lo, count)..<min(hi, count)
    }
}

/// The output channels of a conv (whole groups when grouped) that one task computes, as a conv of its own:
/// offset the input, weights (OIHW), bias, scales and output by the fields here and run `geometry`.
public struct ConvSlice {
    public let geometry: ConvGeometry
    /// First output channel of the slice (bias, scales, output planes and weight rows start there).
    public let firstOutput: Int
    /// First input channel (non-zero for grouped convs only).
    public let firstInput: Int

    /// Task `task` of `tasks`, in blocks of `tileRows` output channels when not grouped; nil when the task has no
    /// work. Depthwise slices keep at least two channels (one channel would take the dense path, with another
    /// summation order), so with fewer than two per task the whole conv is task 0's.
    public init?(_ g: ConvGeometry, task: Int, of tasks: Int, tileRows: Int) {
        let grouped = g.groups > 1
        let units = grouped ? g.groups : g.outC
        let used = g.isDepthwise && units < 2 * tasks ? 1 : tasks
        if task >= used { return nil }
        let r = TaskSplit.range(units, task: task, of: used, multiple: grouped ? 1 : tileRows)
        if r.isEmpty { return nil }
        var slice = g
        if grouped {
            slice.groups = r.count
            slice.inC = r.count * g.inCPerGroup
            slice.outC = r.count * g.outCPerGroup
        } else {
            slice.outC = r.count
        }
        geometry = slice
        firstOutput = grouped ? r.lowerBound * g.outCPerGroup : r.lowerBound
        firstInput = grouped ? r.lowerBound * g.inCPerGroup : 0
    }
}
