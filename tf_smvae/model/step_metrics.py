"""The running values a model logs each step, kept in one pair of variables.

A model logs several scalars per step (loss, ELBO terms, MCMC diagnostics). One Keras
`Mean` per scalar costs two variable updates each inside the compiled step; for the plain
VAE's four scalars that was ~9 % of an XLA training step on 2 CPU cores
(`python bench/throughput.py --vae_only`). `StepMetrics` keeps all of them in one
`totals` and one `weights` vector, so a step updates two variables whatever the count,
and hands Keras one light `StepMetric` view per name, so that `model.metrics`, the
logged names and `evaluate`'s list order stay as with one metric per name.
"""

import keras
import numpy as np
import tensorflow as tf

__all__ = ["BatchCounter", "StepMetric", "StepMetrics"]


class StepMetrics(keras.metrics.Metric):
    """Example-weighted running means (and running sums) of named per-step scalars.

    A mean's value is `sum_steps(value * num_examples) / sum_steps(num_examples)` over
    the steps that logged it since the last reset: the mean over examples, also when the
    last batch of an epoch is smaller. A sum's value is the plain sum of its step values
    (counts such as rejected proposals).

    #### Examples

    ```python
    metrics = StepMetrics(["loss", "kl"], sum_names=["rejected"])
    metrics.update_state({"loss": 2.0, "kl": 1.0, "rejected": 3.0}, num_examples=100.0)
    metrics.update_state({"loss": 4.0}, num_examples=50.0)
    metrics.result()  # {"loss": 2.667, "kl": 1.0, "rejected": 3.0}
    ```
    """

    def __init__(self, names, sum_names=(), name="step_metrics", **kwargs):
        """Creates the two variables.

        Args:
          names: the names of the scalars, in logging order (means and sums).
          sum_names: the names in `names` that are summed rather than averaged.
          name: the metric's name.
          **kwargs: passed to `keras.metrics.Metric`.

        Raises:
          ValueError: a repeated name, or a sum name that is not in `names`.
        """
        super().__init__(name=name, **kwargs)
        self.names = tuple(names)
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"StepMetrics names must be unique, got {self.names}.")
        unknown = sorted(set(sum_names) - set(self.names))
        if unknown:
            raise ValueError(f"sum_names {unknown} are not in names {self.names}.")
        self.sum_names = tuple(n for n in self.names if n in set(sum_names))
        self._index = {n: i for i, n in enumerate(self.names)}
        self._is_sum = np.array([n in self.sum_names for n in self.names])
        shape = (len(self.names),)
        self.totals = self.add_variable(shape=shape, initializer="zeros", name="totals")
        self.weights_sum = self.add_variable(shape=shape, initializer="zeros", name="weights")

    def update_state(self, values, num_examples):
        """Adds one step.

        Args:
          values: dict name -> scalar for any subset of `names`.
          num_examples: scalar, the examples behind the step's means (their weight).

        Raises:
          KeyError: a name that is not in `names`.
        """
        unknown = sorted(set(values) - set(self._index))
        if unknown:
            raise KeyError(f"Unknown step metrics {unknown}; known: {', '.join(self.names)}.")
        weight = tf.cast(num_examples, self.dtype)
        present = np.array([n in values for n in self.names])
        zero = tf.zeros([], self.dtype)
        step = tf.stack([tf.cast(values.get(n, zero), self.dtype) for n in self.names])
        # Sums add their values as they are; means add value * weight and the weight.
        scale = tf.where(self._is_sum, tf.ones([], self.dtype), weight)
        self.totals.assign_add(tf.where(present, step * scale, zero))
        self.weights_sum.assign_add(tf.where(present & ~self._is_sum, weight, zero))

    def _values(self):
        totals = self.totals.value
        means = tf.math.divide_no_nan(totals, self.weights_sum.value)
        return tf.where(self._is_sum, totals, means)

    def result(self):
        """dict name -> running value (0 for a mean that no step has logged)."""
        return dict(zip(self.names, tf.unstack(self._values())))

    def value_of(self, name):
        """The running value of one name."""
        return self._values()[self._index[name]]

    def reset_state(self):
        for variable in (self.totals, self.weights_sum):
            variable.assign(tf.zeros(variable.shape, self.dtype))

    def views(self):
        """One `StepMetric` per name, in order: what a model lists as its `metrics`."""
        return [StepMetric(self, name) for name in self.names]

    def get_config(self):
        config = super().get_config()
        config.update(names=list(self.names), sum_names=list(self.sum_names))
        return config


class StepMetric(keras.metrics.Metric):
    """One name of a `StepMetrics`, as Keras sees it (no variables of its own).

    Keras resets and reads every entry of `model.metrics` and orders `evaluate`'s list
    output by their names; the views give it one entry per logged scalar while the step
    updates the shared `StepMetrics` once.
    """

    def __init__(self, parent, name):
        super().__init__(name=name)
        # Not through Keras's attribute tracking, which would list the parent's variables
        # as this view's too.
        object.__setattr__(self, "_parent", parent)

    def update_state(self, *args, **kwargs):
        raise NotImplementedError(
            f"StepMetric {self.name!r} is a view; update its StepMetrics instead."
        )

    def result(self):
        return self._parent.value_of(self.name)

    def reset_state(self):
        self._parent.reset_state()


class BatchCounter(keras.metrics.Metric):
    """A count of the batches a model has evaluated since its last `reset_state`.

    `VAE.test_step` seeds batch i of an `evaluate` call by i, and `VAE.evaluate` resets
    the count first: an evaluation draws the same noise whenever it runs and leaves the
    training seed stream untouched. (On a dataset of unknown length Keras runs the step
    function once more than there are batches; under a strategy this once advanced a
    shared counter further than on one device, so the training noise after the first
    validation differed.)
    The count is the first replica's (`only_first_replica`), the same on every replica.
    """

    def __init__(self, name="batch_counter", **kwargs):
        super().__init__(name=name, **kwargs)
        self.count = self.add_variable(
            shape=(),
            initializer="zeros",
            dtype="int32",
            aggregation="only_first_replica",
            name="count",
        )

    def next_index(self):
        """Returns the current count (int32 scalar) and advances it by one."""
        index = self.count.value
        self.count.assign(index + 1)
        return index

    def update_state(self, *args, **kwargs):
        del args, kwargs
        self.next_index()

    def result(self):
        return self.count.value

    def reset_state(self):
        self.count.assign(0)
