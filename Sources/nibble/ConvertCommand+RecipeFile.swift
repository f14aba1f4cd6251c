import NibbleConvert

extension ConvertCommand {
    /// Takes --recipe, --group-size, --residual-edges, --act-bits, --calibration and --layer from a recipe file (`RecipeFile`).
    /// The same options on the command line as well are an error: which one should win would be a guess.
    mutating func adopt(recipeFile path: String) throws {
        if recipe != "fp32" || groupSize != 16 || residualEdges != 2 || actBits != 8 || calibration != "minmax" || !layers.isEmpty {
            throw CLIError("--recipe-file \(path) replaces --recipe, --group-size, --residual-edges, --act-bits, --calibration and --layer; give those in the file only")
        }
        let file: RecipeFile
        do {
            file = try RecipeFile(text: String(decoding: try readFile(path), as: UTF8.self), path: path)
        } catch let e as ConvertError {
            throw CLIError(e.message)
        }
        recipe = file.recipe ?? recipe
        groupSize = file.groupSize ?? groupSize
        residualEdges = file.residualEdges ?? residualEdges
        actBits = file.activationBits ?? actBits
        calibration = file.calibration ?? calibration
        layers = file.layers.map { "\($0.name)=\($0.precision)" }
    }
}
