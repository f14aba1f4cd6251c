/// The text of a `NibbleError`, built by appends that are not inlined.
///
/// Every error message in the core is a string interpolation. As a `String`, each interpolated segment compiles to
/// String's append code inlined at the call site (~100 bytes per segment under Embedded Swift, over 600 segments);
/// through this type each segment is one call to the shared append below, which keeps the Embedded core within its
/// 512 KiB text budget (issue 7). The text is the same either way.
public struct Message: ExpressibleByStringInterpolation, Equatable, Sendable {
    public var text: String

    public init(stringLiteral literal: StaticString) { text = Message.string(literal) }
    public init(stringInterpolation: Interpolation) { text = stringInterpolation.text }

    @inline(never)
    static func string(_ s: StaticString) -> String {
        s.withUTF8Buffer { String(decoding: $0, as: UTF8.self) }
    }

    public struct Interpolation: StringInterpolationProtocol {
        var text = ""
        public init(literalCapacity: Int, interpolationCount: Int) {}

        @inline(never) public mutating func appendLiteral(_ literal: StaticString) { text += Message.string(literal) }
        @inline(never) public mutating func appendInterpolation(_ s: String) { text += s }
        @inline(never) public mutating func appendInterpolation(_ m: Message) { text += m.text }
        /// Anything else (numbers, shapes, enums, pointers) as String interpolation prints it, one specialization per type.
        @inline(never) public mutating func appendInterpolation<T>(_ v: T) { text += "\(v)" }
    }
}
