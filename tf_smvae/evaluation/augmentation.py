"""Binary classification metrics of the augmentation study (paper Table 3).

The study trains a classifier on real plus synthetic minority-class images and reports, on a
held-out split, the true positive rate (sensitivity), the true negative rate (specificity) and
their mean, the balanced accuracy. The positive class is the minority class by default: the
label that occurs least often in `labels` (ties: the larger label value, so that with equal
counts of 0 and 1 the positive class is 1, the usual convention).

With the confusion matrix counts TP, FN (positives predicted negative), TN, FP:

    TPR = TP / (TP + FN),  TNR = TN / (TN + FP),  BAcc = (TPR + TNR) / 2.

#### Examples

```python
labels = [1, 0, 0, 0]
predictions = [1, 1, 0, 0]
true_positive_rate(labels, predictions)   # 1.0 (positive = 1, the minority)
true_negative_rate(labels, predictions)   # 2 / 3
balanced_accuracy(labels, predictions)    # 5 / 6
```

#### References

Brodersen, Ong, Stephan, Buhmann (2010). The balanced accuracy and its posterior distribution.
ICPR.
"""

import collections

import numpy as np

__all__ = [
    "BinaryCounts",
    "balanced_accuracy",
    "binary_counts",
    "minority_label",
    "true_negative_rate",
    "true_positive_rate",
]

BinaryCounts = collections.namedtuple(
    "BinaryCounts", ["true_positive", "false_negative", "true_negative", "false_positive"]
)
BinaryCounts.__doc__ = """The confusion matrix of a binary classifier (ints)."""


def _as_labels(values, name):
    """Returns `values` as a 1-D numpy array of integer labels.

    Raises:
      ValueError: naming `name` if the values are not a non-empty 1-D array of integers.
    """
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of labels, got shape {array.shape}.")
    if array.size == 0:
        raise ValueError(f"{name} is empty: the metrics need at least one example.")
    if array.dtype == bool:
        return array.astype(np.int64)
    if not np.issubdtype(array.dtype, np.integer):
        if not np.issubdtype(array.dtype, np.floating) or np.any(array != np.round(array)):
            raise ValueError(f"{name} must hold integer class labels, got dtype {array.dtype}.")
        array = array.astype(np.int64)
    return array


def minority_label(labels):
    """The label that occurs least often (ties: the larger label).

    Args:
      labels: 1-D array of integer labels, exactly two distinct values.

    Returns:
      The minority label (a Python int).

    Raises:
      ValueError: if `labels` is empty, not 1-D, or does not hold exactly two classes.
    """
    labels = _as_labels(labels, "labels")
    values, counts = np.unique(labels, return_counts=True)
    if values.size != 2:
        raise ValueError(
            f"labels must hold exactly two classes for binary metrics, got {values.tolist()}; "
            "pass positive_label explicitly when one class is missing."
        )
    return int(values[0]) if counts[0] < counts[1] else int(values[1])


def binary_counts(labels, predictions, positive_label=None):
    """The confusion matrix of binary predictions.

    Args:
      labels: 1-D array of true integer labels.
      predictions: 1-D array of predicted integer labels, as long as `labels`.
      positive_label: the positive class; None picks the minority class of `labels`
        (`minority_label`). Every other label counts as negative.

    Returns:
      `BinaryCounts(true_positive, false_negative, true_negative, false_positive)`.

    Raises:
      ValueError: for empty, non-1-D or non-integer inputs, inputs of different lengths, or
        (positive_label None) labels without exactly two classes.
    """
    labels = _as_labels(labels, "labels")
    predictions = _as_labels(predictions, "predictions")
    if labels.shape != predictions.shape:
        raise ValueError(
            f"labels and predictions differ in length: {labels.shape[0]} vs {predictions.shape[0]}."
        )
    if positive_label is None:
        positive_label = minority_label(labels)
    true_pos = labels == positive_label
    pred_pos = predictions == positive_label
    return BinaryCounts(
        true_positive=int(np.sum(true_pos & pred_pos)),
        false_negative=int(np.sum(true_pos & ~pred_pos)),
        true_negative=int(np.sum(~true_pos & ~pred_pos)),
        false_positive=int(np.sum(~true_pos & pred_pos)),
    )


def _rate(hits, misses, what):
    if hits + misses == 0:
        raise ValueError(f"The {what} rate is undefined: labels hold no {what} example.")
    return hits / (hits + misses)


def _class_recalls(labels, predictions, positive_label):
    counts = binary_counts(labels, predictions, positive_label)
    return (
        lambda: _rate(counts.true_positive, counts.false_negative, "positive"),
        lambda: _rate(counts.true_negative, counts.false_positive, "negative"),
    )


def true_positive_rate(labels, predictions, positive_label=None):
    """TPR (sensitivity, recall of the positive class) = TP / (TP + FN).

    Args:
      labels: 1-D array of true integer labels.
      predictions: 1-D array of predicted labels, as long as `labels`.
      positive_label: the positive class; None: the minority class of `labels`.

    Returns:
      A float in [0, 1].

    Raises:
      ValueError: for bad inputs (see `binary_counts`) or labels with no positive example.
    """
    positive, _ = _class_recalls(labels, predictions, positive_label)
    return positive()


def true_negative_rate(labels, predictions, positive_label=None):
    """TNR (specificity, recall of the negative class) = TN / (TN + FP); arguments, result
    and errors as `true_positive_rate`, for the negative class."""
    _, negative = _class_recalls(labels, predictions, positive_label)
    return negative()


def balanced_accuracy(labels, predictions, positive_label=None):
    """Balanced accuracy (TPR + TNR) / 2, the accuracy of a class-balanced test set;
    arguments and result as `true_positive_rate` (a ValueError where labels miss either
    class)."""
    positive, negative = _class_recalls(labels, predictions, positive_label)
    return 0.5 * (positive() + negative())
