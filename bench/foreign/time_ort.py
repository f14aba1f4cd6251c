"""time_ort.py MODEL.onnx INPUT.npy: onnxruntime CPU, 1 thread, batch 1, the first input sample: median and min of
3 s of runs after 50 warm-ups (compare with `nibble bench model X.nib --input INPUT.npy --seconds 3`)."""
import onnxruntime as ort, numpy as np, time, sys
m=sys.argv[1]; x=np.load(sys.argv[2]).astype(np.float32)
so=ort.SessionOptions(); so.intra_op_num_threads=1; so.inter_op_num_threads=1
s=ort.InferenceSession(m, so, providers=["CPUExecutionProvider"])
name=s.get_inputs()[0].name
xs=x[:1]
for _ in range(50): s.run(None,{name:xs})
ts=[]
t_end=time.time()+3
while time.time()<t_end:
    t=time.perf_counter(); s.run(None,{name:xs}); ts.append(time.perf_counter()-t)
print(m, "median %.3f ms min %.3f ms"%(np.median(ts)*1e3, np.min(ts)*1e3))
