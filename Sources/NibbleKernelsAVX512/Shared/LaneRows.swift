// Shared source (symlinked into every kernel module): an elementwise function of a float row, a vector of the module's
// width at a time, the last vector partial (its lanes past the row computed on zeros and not stored).

enum LaneRows {
    /// y[i] = f(x)[i] for i < count. `y` may be `x`: each vector is loaded before its result is stored.
    @inline(__always)
    static func map(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>, _ f: (FVec) -> FVec) {
        let lanes = FVec.scalarCount
        var i = 0
        while i &+ lanes <= count {
            UnsafeMutableRawPointer(y + i).storeBytes(of: f(UnsafeRawPointer(x + i).loadUnaligned(as: FVec.self)), as: FVec.self)
            i &+= lanes
        }
        if i < count {
            var v = FVec()
            for t in 0..<(count &- i) { v[t] = x[i &+ t] }
            let r = f(v)
            for t in 0..<(count &- i) { y[i &+ t] = r[t] }
        }
    }
}
