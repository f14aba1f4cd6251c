/// How a step's independent work (output channels, or groups) is cut into a session's tasks: contiguous,
/// balanced ranges in whole blocks of `multiple` — a kernel's tile rows, so a task does not run more partial
/// tiles than the work needs. Every element is still computed by the same code as with one task.
enum TaskSplit {
    /// Range of `count` items task `task` of `tasks` takes (empty when there are more tasks than blocks).
    static func range(_ count: Int, task: Int, of tasks: Int, multiple: Int = 1) -> Range<Int> {
        let blocks = (count + multiple - 1) / multiple
        let lo = blocks * task / tasks * multiple, hi = blocks * (task + 1) / tasks * multiple
        return min(lo, count)..<min(hi, count)
    }
}
