/// The RAW tile payload (`TileCodec`, mode 0): symbols packed most significant bit first, `bits` each, zero-padded
/// to a byte. Eight symbols fill exactly `bits` bytes, so whole groups move as one 64-bit word each (a shift and an
/// OR per symbol) and only the last few symbols go through the bit stream: a map stored raw (`TileCodec.storesRaw`)
/// costs about a cycle per value each way, where the bit-by-bit loop cost several.
enum RawSymbols {
    /// Packs `count` symbols into exactly `TileCodec.rawBytes(count:bits:)` bytes at `out` (bits in 2…8).
    /// False if a symbol is ≥ 2^bits (the bytes written so far are unspecified then).
    static func pack(_ s: UnsafePointer<UInt8>, count n: Int, bits: Int, into out: UnsafeMutablePointer<UInt8>) -> Bool {
        if bits == 8 {
            out.update(from: s, count: n)
            return true
        }
        let total = (n &* bits &+ 7) &>> 3
        // The bits at or above `bits` in every byte: a group with one of them set holds a symbol out of range.
        let overflow = 0x0101_0101_0101_0101 &* UInt64(0xFF &<< bits & 0xFF)
        let b = UInt64(bits)
        var i = 0, o = 0
        // Each group's 8-byte store writes its `bits` bytes and 8 − bits bytes the next group overwrites, so it needs
        // 8 bytes of room.
        while i &+ 8 <= n && o &+ 8 <= total {
            let word = UInt64(littleEndian: UnsafeRawPointer(s + i).loadUnaligned(as: UInt64.self))  // symbol k in byte k
            if word & overflow != 0 { return false }
            var v: UInt64 = 0
            for k in 0..<8 { v = v &<< b | (word &>> UInt64(8 &* k) & 0xFF) }
            UnsafeMutableRawPointer(out + o).storeBytes(of: (v &<< (64 &- 8 &* b)).bigEndian, as: UInt64.self)
            i &+= 8
            o &+= bits
        }
        var w = BitWriter(base: out + o, capacity: total &- o)
        while i < n {
            if Int(s[i]) >= 1 &<< bits { return false }
            w.write(UInt32(s[i]), count: bits)
            i &+= 1
        }
        return w.finish() != nil
    }

    /// Unpacks `count` symbols from `byteCount` bytes (which must be `TileCodec.rawBytes(count:bits:)`, checked by
    /// the caller). False when the padding bits are not zero or the payload is short. Never reads outside
    /// `src[0..<byteCount]` nor writes outside `dst[0..<count]`.
    static func unpack(_ src: UnsafePointer<UInt8>, byteCount: Int, bits: Int, into dst: UnsafeMutablePointer<UInt8>,
                       count n: Int) -> Bool {
        if bits == 8 {
            guard byteCount == n else { return false }
            dst.update(from: src, count: n)
            return true
        }
        let b = UInt64(bits), mask = UInt64(1) &<< b &- 1
        var i = 0, o = 0
        while i &+ 8 <= n && o &+ 8 <= byteCount {
            let v = UInt64(bigEndian: UnsafeRawPointer(src + o).loadUnaligned(as: UInt64.self)) &>> (64 &- 8 &* b)
            var word: UInt64 = 0
            for k in 0..<8 { word |= (v &>> (b &* UInt64(7 &- k)) & mask) &<< UInt64(8 &* k) }
            UnsafeMutableRawPointer(dst + i).storeBytes(of: word.littleEndian, as: UInt64.self)
            i &+= 8
            o &+= bits
        }
        var r = BitReader(base: src + o, count: byteCount &- o)
        while i < n {
            r.refill()
            dst[i] = UInt8(truncatingIfNeeded: r.peek(bits))
            r.consume(bits)
            i &+= 1
        }
        return TileCodec.finishedCleanly(&r, byteCount: byteCount &- o)
    }
}
