import CNibbleSupport
import NibbleFormat

/// A session's intra-op threads (docs/ARCHITECTURE.md, "Threads"): the CNibbleSupport fork-join pool (threads − 1
/// workers plus the caller), the kernel scratch of tasks 1..<threads (task 0 uses the arena's scratch), and the
/// one context the tasks of a step read. Created with the session, so running a step allocates nothing.
final class WorkerPool {
    let threads: Int
    /// Bytes of per-task kernel scratch allocated here, outside the arena.
    let scratchBytes: Int
    private let pool: OpaquePointer
    private let context: UnsafeMutablePointer<StepTasks>

    /// Nil when `threads` <= 1 or the platform runs tasks serially (the embedded build); then steps run whole.
    init?(threads: Int, taskScratchBytes: Int) throws(NibbleError) {
        if threads <= 1 { return nil }
        guard let pool = nibble_support_pool_create(Int32(threads)) else {
            throw .insufficientMemory("cannot start \(threads - 1) worker threads for num_threads \(threads)")
        }
        let running = Int(nibble_support_pool_threads(pool))
        if running <= 1 {
            nibble_support_pool_destroy(pool)
            return nil
        }
        let stride = Layout.alignUp(taskScratchBytes)
        let bytes = stride * (running - 1)
        var scratch: UnsafeMutableRawPointer?
        if bytes > 0 {
            scratch = nibble_support_aligned_alloc(Layout.alignment, bytes)
            if scratch == nil {
                nibble_support_pool_destroy(pool)
                throw .insufficientMemory("cannot allocate \(bytes) bytes of kernel scratch for \(running - 1) extra threads (\(stride) each)")
            }
        }
        self.threads = running
        self.scratchBytes = bytes
        self.pool = pool
        context = UnsafeMutablePointer<StepTasks>.allocate(capacity: 1)
        context.initialize(to: StepTasks(step: nil, bindings: nil, phase: 0, tasks: running, scratch: scratch, stride: stride))
    }

    deinit {
        nibble_support_pool_destroy(pool)
        nibble_support_aligned_free(context.pointee.scratch)
        context.deinitialize(count: 1)
        context.deallocate()
    }

    /// Runs `step`: each of its phases as one task per thread; returns when the last phase is done.
    @inline(__always)
    func run(_ step: Step, _ b: Bindings) {
        context.pointee.step = step
        context.pointee.bindings = b
        for phase in 0..<step.taskPhases {
            context.pointee.phase = phase
            nibble_support_pool_run(pool, runStepTask, context, Int32(threads))
        }
    }
}

/// What every task of one step reads; written by the caller before the pool starts the tasks.
struct StepTasks {
    var step: Step?
    var bindings: Bindings?
    var phase: Int
    let tasks: Int
    /// Kernel scratch of tasks 1..<tasks, `stride` bytes apart (nil when the stride is 0).
    let scratch: UnsafeMutableRawPointer?
    let stride: Int

    @inline(__always)
    func run(task t: Int) {
        guard let step, let bindings else { return }
        // No per-task scratch when no split step needs any (stride 0): any valid pointer does.
        let kernelScratch = t == 0 || scratch == nil ? bindings.scratch + step.taskScratchOffset : scratch.unsafelyUnwrapped + (t - 1) * stride
        step.runTask(bindings, phase: phase, task: t, of: tasks, scratch: kernelScratch)
    }
}

/// The pool's task function (a C function pointer: no captures): task `task` of the step in `context`.
private func runStepTask(_ context: UnsafeMutableRawPointer?, _ task: Int32) {
    context.unsafelyUnwrapped.assumingMemoryBound(to: StepTasks.self).pointee.run(task: Int(task))
}
