"""compare.py MODEL.onnx INPUT.npy [--recipe R --calib C.npy] [--outputs NAME] [--tag T]
nibble convert / inspect / run on MODEL, then the first output against onnxruntime's on every sample of INPUT:
max abs and relative error, and argmax agreement for [N, classes] outputs. The nibble binary is $NIBBLE, else
the release build of this checkout (`swift build -c release`)."""
import argparse, json, os, subprocess, numpy as np, onnxruntime as ort
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
B = os.environ.get('NIBBLE') or subprocess.check_output(['swift', 'build', '-c', 'release', '--show-bin-path'], cwd=root, text=True).strip() + '/nibble'
p = argparse.ArgumentParser()
p.add_argument('model'); p.add_argument('input')
p.add_argument('--recipe'); p.add_argument('--calib'); p.add_argument('--outputs'); p.add_argument('--tag', default='')
a = p.parse_args()
stem = os.path.splitext(os.path.basename(a.model))[0] + (('-' + a.tag) if a.tag else '')
def sh(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr
cmd = [B, 'convert', a.model, '-o', stem + '.nib', '--quiet']
if a.recipe: cmd += ['--recipe', a.recipe]
if a.calib: cmd += ['--calibrate', a.calib]
if a.outputs: cmd += ['--outputs', a.outputs]
res = {}
for step, c in [('convert', cmd), ('inspect', [B, 'inspect', stem + '.nib']),
                ('run', [B, 'run', stem + '.nib', '--input', a.input, '--output', stem + '.out.npy'])]:
    rc, out = sh(c)
    res[step] = 'pass' if rc == 0 else 'FAIL'
    if rc:
        print(f'{step} failed:\n{out.strip()[-1500:]}')
        break
if res.get('run') == 'pass':
    x = np.load(a.input)
    s = ort.InferenceSession(a.model, providers=['CPUExecutionProvider'])
    name = a.outputs.split(',')[0] if a.outputs else s.get_outputs()[0].name
    ref = np.concatenate([s.run([name], {s.get_inputs()[0].name: x[i:i + 1]})[0] for i in range(len(x))]).astype(np.float32)
    y = np.load(stem + '.out.npy').reshape(ref.shape)
    err = float(np.abs(y - ref).max())
    res.update(max_abs=err, rel=err / (float(np.abs(ref).max()) + 1e-12))
    if ref.ndim == 2 and ref.shape[1] > 1:
        res['argmax_agreement'] = float((y.argmax(1) == ref.argmax(1)).mean())
print(stem, json.dumps(res))
