"""Installs tf_smvae: VAEs whose posterior samples are refined by adaptive MCMC."""

import setuptools

setuptools.setup(
    name="tf_smvae",
    version="0.1.0",
    description=(
        "Keras 3 / TensorFlow Probability VAEs trained with MCMC-refined posteriors "
        "tuned by speed measures."
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=setuptools.find_packages(include=["tf_smvae", "tf_smvae.*"]),
    install_requires=[
        "tensorflow>=2.18,<2.22",
        "tensorflow-probability[tf]>=0.25,<0.26",
        "keras>=3.8,<4",
        "tensorflow-datasets>=4.9,<5",
        # Needed by tfds for our sources but not declared by it: etils' epath imports
        # importlib_resources (every tfds.load); svhn_cropped's builder reads .mat files.
        "importlib_resources>=5",
        "scipy>=1.10",
        "tensorboard>=2.18",
        "numpy>=1.26,<3",
        "absl-py>=2.0",
        "ml-collections>=0.1.1",
        "matplotlib>=3.8",
    ],
    extras_require={
        # The suite builds the docs (Sphinx) and runs examples/ (one needs scikit-learn).
        "test": ["pytest>=8", "pytest-xdist>=3", "ruff>=0.6", "sphinx>=7", "scikit-learn>=1.3"],
        "docs": ["sphinx>=7", "scikit-learn>=1.3"],
        "bench": ["scikit-learn>=1.3"],
    },
)
