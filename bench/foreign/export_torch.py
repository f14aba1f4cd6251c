"""export_torch.py [--size S] [--models a,b,…] [--opset N]: torchvision classifiers (random weights, eval mode) as
ONNX with torch.onnx.export's TorchScript exporter, each with 64 calibration and 50 test inputs (uniform noise
normalised like ImageNet images) — NAME.onnx, NAME_calib.npy, NAME_test.npy in the current directory.
Needs torch and torchvision (CPU wheels: pip install --index-url https://download.pytorch.org/whl/cpu torch torchvision)."""
import argparse, numpy as np, torch
try:
    import torchvision
except RuntimeError:
    # A torchvision wheel built against another torch fails registering its C operators (nms …); the model
    # definitions are plain Python, so skip the registrations.
    torch.library.register_fake = lambda *a, **k: (lambda f: f)
    import torchvision

p = argparse.ArgumentParser()
p.add_argument('--size', type=int, default=224)
p.add_argument('--opset', type=int, default=17)
p.add_argument('--models', default='resnet18,mobilenet_v2,mobilenet_v3_small,squeezenet1_1,shufflenet_v2_x0_5,'
                                   'efficientnet_b0,mnasnet0_5,regnet_x_400mf,googlenet,densenet121')
a = p.parse_args()
torch.manual_seed(0)
rng = np.random.default_rng(0)
mean = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
std = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)
for name in a.models.split(','):
    kwargs = {'aux_logits': False, 'init_weights': True} if name == 'googlenet' else {}
    m = getattr(torchvision.models, name)(weights=None, **kwargs).eval()
    # Batch-norm statistics that are not the identity, so folding them is tested.
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.2, 0.2); mod.running_var.uniform_(0.5, 1.5)
    x = torch.from_numpy(((rng.random((1, 3, a.size, a.size), np.float32) - mean) / std).astype(np.float32))
    torch.onnx.export(m, x, f'{name}.onnx', opset_version=a.opset, input_names=['input'], output_names=['logits'],
                      dynamo=False)
    for tag, n in (('calib', 64), ('test', 50)):
        np.save(f'{name}_{tag}.npy', ((rng.random((n, 3, a.size, a.size), np.float32) - mean) / std).astype(np.float32))
    print(name, 'exported')
