/// MSB-first bit writer and reader over caller memory, used by `TileCodec` for both the Huffman and the RAW
/// payloads. Neither allocates; the writer never writes past its capacity (it raises `overflowed` and stops),
/// and the reader never loads past its end (bits beyond the end read as zero and are counted, so the caller
/// can tell an overrun from `bitsConsumed > bitCapacity`).

/// Writes bit fields most-significant bit first into `[base, base + capacity)`.
@usableFromInline
struct BitWriter {
    @usableFromInline let base: UnsafeMutablePointer<UInt8>
    @usableFromInline let capacity: Int
    /// Bytes written so far.
    @usableFromInline var position: Int = 0
    /// Pending bits, right-aligned: the low `pending` bits of `accumulator` are not yet written.
    @usableFromInline var accumulator: UInt64 = 0
    @usableFromInline var pending: Int = 0
    /// Set once a byte did not fit; later writes are dropped.
    @usableFromInline var overflowed = false

    @inlinable
    init(base: UnsafeMutablePointer<UInt8>, capacity: Int) {
        self.base = base
        self.capacity = capacity
    }

    /// Appends the low `count` bits of `value` (count in 0...32, value < 2^count).
    @inlinable @inline(__always)
    mutating func write(_ value: UInt32, count: Int) {
        // pending < 32 before, so at most 63 bits are pending after the shift: nothing is lost.
        accumulator = (accumulator &<< UInt64(count)) | UInt64(value)
        pending &+= count
        if pending >= 32 { flushWord() }
    }

    /// Appends a code word as `HuffmanTable`'s word tables hold it: code << 5 | length.
    @inlinable @inline(__always)
    mutating func write(word: UInt32) {
        write(word &>> 5, count: Int(word & 31))
    }

    /// Appends code words `a` then `b`, in one write when they fit in 32 bits together (all but escapes after long
    /// codes): half the shifts and flush checks of two.
    @inlinable @inline(__always)
    mutating func write(word a: UInt32, then b: UInt32) {
        let al = Int(a & 31), bl = Int(b & 31)
        if al &+ bl <= 32 {
            write((a &>> 5) &<< UInt32(bl) | b &>> 5, count: al &+ bl)
        } else {
            writeApart(a, b)
        }
    }

    /// The rare pair over 32 bits, out of line so the common case stays small enough to inline.
    @usableFromInline
    mutating func writeApart(_ a: UInt32, _ b: UInt32) {
        write(word: a)
        write(word: b)
    }

    /// Writes the oldest 32 pending bits: one big-endian 4-byte store while it fits, else byte by byte up to
    /// the capacity (then `overflowed`).
    @inlinable @inline(__always)
    mutating func flushWord() {
        pending &-= 32
        let word = UInt32(truncatingIfNeeded: accumulator &>> UInt64(pending))
        if position &+ 4 <= capacity {
            UnsafeMutableRawPointer(base + position).storeBytes(of: word.bigEndian, as: UInt32.self)
            position &+= 4
        } else {
            for shift in stride(from: 24, through: 0, by: -8) { put(UInt8(truncatingIfNeeded: word &>> UInt32(shift))) }
        }
    }

    @inlinable @inline(__always)
    mutating func put(_ byte: UInt8) {
        if position < capacity {
            base[position] = byte
            position &+= 1
        } else {
            overflowed = true
        }
    }

    /// Pads the last partial byte with zero bits and writes the pending bytes. Returns the total bytes written,
    /// or nil when the output did not fit in `capacity`.
    @inlinable
    mutating func finish() -> Int? {
        let padding = (8 &- pending & 7) & 7
        accumulator = accumulator &<< UInt64(padding)
        pending &+= padding
        while pending > 0 {
            pending &-= 8
            put(UInt8(truncatingIfNeeded: accumulator &>> UInt64(pending)))
        }
        return overflowed ? nil : position
    }
}

/// Reads bit fields most-significant bit first from `[base, base + count)`.
@usableFromInline
struct BitReader {
    @usableFromInline let base: UnsafePointer<UInt8>
    @usableFromInline let count: Int
    /// Next byte to load into the accumulator.
    @usableFromInline var position: Int = 0
    /// Left-aligned bits: the next bit of the stream is bit 63. Only the top `available` bits are counted.
    @usableFromInline var accumulator: UInt64 = 0
    @usableFromInline var available: Int = 0
    /// Bits handed out so far (may exceed `8 * count` after an overrun; bits past the end read as zero).
    @usableFromInline var bitsConsumed: Int = 0

    @inlinable
    init(base: UnsafePointer<UInt8>, count: Int) {
        self.base = base
        self.count = count
    }

    /// Ensures at least 57 bits are available.
    @inlinable @inline(__always)
    mutating func refill() {
        if available > 56 { return }
        if position &+ 8 <= count {
            // Whole-word load; the bytes that do not fit are loaded again next time, at the same bit
            // positions, so OR-ing them twice is harmless.
            let word = UInt64(bigEndian: UnsafeRawPointer(base + position).loadUnaligned(as: UInt64.self))
            accumulator |= word &>> UInt64(available)
            let bytes = (63 &- available) &>> 3
            position &+= bytes
            available &+= bytes &<< 3
        } else {
            while available <= 56 {
                let byte: UInt8 = position < count ? base[position] : 0
                accumulator |= UInt64(byte) &<< UInt64(56 &- available)
                position &+= 1
                available &+= 8
            }
        }
    }

    /// The next `n` bits (1...57) without consuming them; call `refill()` first.
    @inlinable @inline(__always)
    func peek(_ n: Int) -> UInt32 {
        UInt32(truncatingIfNeeded: accumulator &>> UInt64(64 &- n))
    }

    @inlinable @inline(__always)
    mutating func consume(_ n: Int) {
        accumulator = accumulator &<< UInt64(n)
        available &-= n
        bitsConsumed &+= n
    }

    /// True once more bits were consumed than the buffer holds.
    @inlinable
    var overran: Bool { bitsConsumed > count &* 8 }
}
