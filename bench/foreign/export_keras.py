"""export_keras.py [cnn] [mbv2] [resnet50]: Keras models (random weights, randomized batch-norm statistics) -> ONNX
via tf2onnx, opsets 13 and 17, NHWC inputs; writes NAME_opN.onnx, NAME_test.npy (50 inputs), NAME_calib.npy (32).
Needs: pip install tensorflow-cpu tf2onnx (about 1.3 GB)."""
import os, sys, numpy as np
os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'
import tensorflow as tf, tf2onnx, onnx
from collections import Counter
tf.random.set_seed(0); np.random.seed(0)
which = sys.argv[1:] or ['cnn', 'mbv2', 'resnet50']
def models():
    if 'cnn' in which:
        m = tf.keras.Sequential([
            tf.keras.Input((28, 28, 1)),
            tf.keras.layers.Conv2D(8, 3, activation='relu'),
            tf.keras.layers.MaxPooling2D(),
            tf.keras.layers.Conv2D(16, 3, padding='same'),
            tf.keras.layers.BatchNormalization(),
            tf.keras.layers.ReLU(),
            tf.keras.layers.MaxPooling2D(),
            tf.keras.layers.Flatten(),
            tf.keras.layers.Dense(32, activation='relu'),
            tf.keras.layers.Dropout(0.2),
            tf.keras.layers.Dense(10, activation='softmax')])
        yield 'keras_cnn', m, (28, 28, 1)
    if 'mbv2' in which:
        yield 'keras_mbv2', tf.keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None), (96, 96, 3)
    if 'resnet50' in which:
        yield 'keras_resnet50', tf.keras.applications.ResNet50(input_shape=(64, 64, 3), weights=None), (64, 64, 3)
for name, m, shape in models():
    # randomize BN statistics so folding is exercised (weights=None leaves mean 0 var 1)
    for l in m.layers:
        if isinstance(l, tf.keras.layers.BatchNormalization):
            g, b, mu, var = l.get_weights()
            l.set_weights([np.random.uniform(0.5, 1.5, g.shape), np.random.uniform(-.2, .2, b.shape),
                           np.random.uniform(-.2, .2, mu.shape), np.random.uniform(0.5, 1.5, var.shape)])
    spec = (tf.TensorSpec((None,) + shape, tf.float32, name='input'),)
    x = np.random.RandomState(1).rand(50, *shape).astype(np.float32)
    np.save(f'{name}_test.npy', x)
    np.save(f'{name}_calib.npy', np.random.RandomState(2).rand(32, *shape).astype(np.float32))
    for opset in (13, 17):
        # from_keras fails under Keras 3 (KeyError 'keras_tensor_N'); trace a tf.function instead
        fn = tf.function(lambda x: m(x, training=False), input_signature=spec)
        mp, _ = tf2onnx.convert.from_function(fn, input_signature=spec, opset=opset, output_path=f'{name}_op{opset}.onnx')
        print(name, opset, dict(Counter(n.op_type for n in mp.graph.node)), flush=True)
