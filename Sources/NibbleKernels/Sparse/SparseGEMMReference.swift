// Never tuned: the sparse kernels' definition is "the dense layer of the same weights". The sparse data is
// expanded to a dense OIHW matrix (SparseEncoding.dense) and run by the dense reference convolutions, read
// as a 1x1 convolution over a 1 × pixels image per sample. Allocates: tests and the reference level only.

public enum SparseGEMMReference {
    static func geometry(_ layout: SparseLayout, pixels: Int) -> ConvGeometry {
        ConvGeometry(inC: layout.columns, inH: 1, inW: pixels, outC: layout.rows, outH: 1, outW: pixels, kernelH: 1, kernelW: 1)
    }

    public static func run(_ layout: SparseLayout, pixels: Int, batch: Int, values: UnsafePointer<Float>,
                           input: UnsafePointer<Float>, bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
                           outputMin: Float = -.infinity, outputMax: Float = .infinity) {
        let w = SparseEncoding.dense(layout, values: values)
        let g = geometry(layout, pixels: pixels)
        w.withUnsafeBufferPointer { wp in
            for b in 0..<batch {
                FP32ConvReference.run(g, input: input + b * layout.columns * pixels, weights: wp.baseAddress!, bias: bias,
                                      output: output + b * layout.rows * pixels, outputMin: outputMin, outputMax: outputMax)
            }
        }
    }

    public static func run(_ layout: SparseLayout, pixels: Int, batch: Int, values: UnsafePointer<Int8>,
                           input: UnsafePointer<Float>, inputScale: Float, inputZeroPoint: Int32,
                           weightScales: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                           output: UnsafeMutablePointer<Float>, outputMin: Float = -.infinity, outputMax: Float = .infinity) {
        let w = SparseEncoding.dense(layout, values: values)
        let g = geometry(layout, pixels: pixels)
        w.withUnsafeBufferPointer { wp in
            for b in 0..<batch {
                Int8ConvReference.run(g, input: input + b * layout.columns * pixels, inputScale: inputScale,
                                      inputZeroPoint: inputZeroPoint, weights: wp.baseAddress!, weightScales: weightScales,
                                      bias: bias, output: output + b * layout.rows * pixels,
                                      outputMin: outputMin, outputMax: outputMax)
            }
        }
    }
}
