"""Python quick start: train a VAE with `fit` and Keras callbacks, save and load it,
estimate its log-likelihood, and export a SavedModel that serves without tf_smvae.

    python examples/python_quickstart.py --out=runs/quickstart          # ~2 min on 2 cores
    python examples/python_quickstart.py --out=/tmp/quickstart --smoke  # seconds (CI)

Then `python examples/serve_saved_model.py --saved_model=runs/quickstart/export`.
"""

import argparse
import pathlib

import keras

import tf_smvae


def main(out, smoke):
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # Smoke mode (CI) keeps every call and shrinks only the sizes.
    num_examples = 200 if smoke else None
    epochs = 1 if smoke else 5
    num_samples = 10 if smoke else 1000

    # Batched tf.data pipelines, binarised for the Bernoulli likelihood.
    train = tf_smvae.data.load(
        "fashion_mnist", "train", batch_size=100, num_examples=num_examples, drop_remainder=True
    )
    test = tf_smvae.data.load(
        "fashion_mnist", "test", batch_size=100, num_examples=num_examples, shuffle=False
    )

    model = tf_smvae.VAE(image_shape=(28, 28, 1), latent_dim=10)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=True)
    history = model.fit(
        train,
        epochs=epochs,
        validation_data=test,
        callbacks=[
            keras.callbacks.CSVLogger(str(out / "history.csv")),
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=3),
        ],
        verbose=2,
    )
    print("final -ELBO:", history.history["loss"][-1])

    # The whole model (config, weights, optimizer) in one .keras file.
    model.save(out / "vae.keras")
    model = keras.models.load_model(out / "vae.keras")

    # Importance-sampled log p(x), the paper's protocol (S samples, tau = 1.5).
    result = tf_smvae.evaluation.log_likelihood(model, test, num_samples=num_samples, tau=1.5)
    print(result)
    hint = result.low_ess_hint()
    if hint:
        print(hint)

    # Prior samples from the model's own seed stream (pass seed= for a fixed draw).
    images = model.sample(16)
    print("samples:", images.shape)

    # A SavedModel with serving signatures: loading it needs TensorFlow only.
    tf_smvae.export.export_saved_model(model, str(out / "export"))
    print("exported:", out / "export")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/quickstart", help="output folder")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    args = parser.parse_args()
    main(args.out, args.smoke)
