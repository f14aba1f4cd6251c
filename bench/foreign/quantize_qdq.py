"""quantize_qdq.py SRC.onnx DST.onnx CALIB.npy [--per-tensor] [--no-pre] [--adjust]: onnxruntime static QDQ quantization
(uint8 activations, int8 weights per channel unless --per-tensor), after quant_pre_process unless --no-pre."""
import sys, numpy as np, onnx, onnxruntime as ort
from onnxruntime.quantization import quantize_static, QuantFormat, QuantType, CalibrationDataReader
from onnxruntime.quantization.shape_inference import quant_pre_process
src, dst, cal = sys.argv[1:4]
x = np.load(cal)
name = ort.InferenceSession(src, providers=['CPUExecutionProvider']).get_inputs()[0].name
class R(CalibrationDataReader):
    def __init__(s): s.it = iter([{name: x[i:i+1]} for i in range(len(x))])
    def get_next(s): return next(s.it, None)
pre = dst.replace('.onnx', '.pre.onnx')
try:
    if '--no-pre' in sys.argv: raise RuntimeError('skipped (--no-pre)')
    quant_pre_process(src, pre); srcq = pre
except Exception as e:
    print('pre-process failed:', e); srcq = src
quantize_static(srcq, dst, R(), quant_format=QuantFormat.QDQ, per_channel='--per-tensor' not in sys.argv,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                extra_options={'QDQDisableWeightAdjustForInt32Bias': '--adjust' not in sys.argv})
m = onnx.load(dst)
from collections import Counter
print(dst, dict(Counter(n.op_type for n in m.graph.node)))
