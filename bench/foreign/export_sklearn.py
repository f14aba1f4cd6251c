"""export_sklearn.py: skl2onnx MLPs on sklearn's digits: a classifier with and without ZipMap (convert it with
`nibble convert … --outputs probabilities`: its int64 label and ZipMap outputs are not Nibble outputs) and a regressor.
Needs: pip install scikit-learn skl2onnx."""
import numpy as np, onnx
from sklearn.datasets import load_digits
from sklearn.neural_network import MLPClassifier, MLPRegressor
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32)
Xtr, ytr, Xte = X[:1400], y[:1400], X[1400:]
clf = MLPClassifier(hidden_layer_sizes=(64, 32), activation='relu', max_iter=300, random_state=0).fit(Xtr, ytr)
print("clf acc", clf.score(X[1400:], y[1400:]))
it = [('input', FloatTensorType([None, 64]))]
for name, opts in [('skl_mlpc_nozipmap', {id(clf): {'zipmap': False}}), ('skl_mlpc_default', None)]:
    m = convert_sklearn(clf, initial_types=it, options=opts, target_opset=17)
    onnx.save(m, name + '.onnx')
    print(name, [n.op_type for n in m.graph.node], [o.name for o in m.graph.output])
reg = MLPRegressor(hidden_layer_sizes=(32,), max_iter=500, random_state=0).fit(Xtr, ytr.astype(np.float32))
m = convert_sklearn(reg, initial_types=it, target_opset=17)
onnx.save(m, 'skl_mlpr.onnx')
print('skl_mlpr', [n.op_type for n in m.graph.node], [o.name for o in m.graph.output])
np.save('digits_test.npy', Xte[:50].copy()); np.save('digits_calib.npy', Xtr[:200].copy())
np.save('digits_test_labels.npy', y[1400:1450].astype(np.int64))
