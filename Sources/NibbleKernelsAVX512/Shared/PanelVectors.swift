// Shared source (symlinked into every kernel module).

/// How many of a tile's two column vectors it computes, as a type so each specialization of a tile loop compiles
/// without a branch on it: a map's last panel often has few live columns (a 14² map's 196 pixels leave 4 for the
/// 13th bit-serial panel of 16, or for the 7th int8 panel of 32), and then costs half a tile.
protocol PanelVectors { static var both: Bool { get } }
enum BothVectors: PanelVectors { @inline(__always) static var both: Bool { true } }
enum FirstVector: PanelVectors { @inline(__always) static var both: Bool { false } }
