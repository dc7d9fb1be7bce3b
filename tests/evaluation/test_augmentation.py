"""Binary metrics of the augmentation study against hand-computed confusion matrices."""

import numpy as np
import pytest

from tf_smvae.evaluation import augmentation


def _example():
    # 3 positives (label 1, the minority), 7 negatives (label 0).
    labels = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
    predictions = np.array([1, 1, 0, 0, 0, 0, 0, 1, 1, 0])
    # TP 2, FN 1, TN 5, FP 2 -> TPR 2/3, TNR 5/7.
    return labels, predictions


def test_counts_and_rates_match_the_hand_computed_confusion_matrix():
    labels, predictions = _example()
    counts = augmentation.binary_counts(labels, predictions)
    assert counts == augmentation.BinaryCounts(2, 1, 5, 2)
    assert augmentation.true_positive_rate(labels, predictions) == pytest.approx(2 / 3)
    assert augmentation.true_negative_rate(labels, predictions) == pytest.approx(5 / 7)
    expected = 0.5 * (2 / 3 + 5 / 7)
    assert augmentation.balanced_accuracy(labels, predictions) == pytest.approx(expected)


def test_positive_class_defaults_to_the_minority_and_can_be_chosen():
    labels, predictions = _example()
    # Minority is 0 once the labels are flipped: same rates.
    assert augmentation.minority_label(1 - labels) == 0
    assert augmentation.true_positive_rate(1 - labels, 1 - predictions) == pytest.approx(2 / 3)
    # Choosing the majority as positive swaps TPR and TNR; BAcc is symmetric.
    tpr = augmentation.true_positive_rate(labels, predictions, positive_label=0)
    tnr = augmentation.true_negative_rate(labels, predictions, positive_label=0)
    assert (tpr, tnr) == (pytest.approx(5 / 7), pytest.approx(2 / 3))
    assert augmentation.balanced_accuracy(labels, predictions, positive_label=0) == pytest.approx(
        augmentation.balanced_accuracy(labels, predictions)
    )


def test_balanced_accuracy_differs_from_accuracy_under_imbalance():
    # Always predicting the majority: accuracy 0.9, balanced accuracy 0.5.
    labels = np.array([1] + [0] * 9)
    predictions = np.zeros(10, int)
    assert augmentation.balanced_accuracy(labels, predictions) == 0.5
    assert augmentation.true_positive_rate(labels, predictions) == 0.0
    assert augmentation.true_negative_rate(labels, predictions) == 1.0


def test_ties_pick_the_larger_label_and_float_or_bool_labels_work():
    labels = np.array([0.0, 1.0, 0.0, 1.0])
    predictions = np.array([True, True, False, False])
    assert augmentation.minority_label(labels) == 1
    assert augmentation.binary_counts(labels, predictions) == (1, 1, 1, 1)


@pytest.mark.parametrize(
    "labels, predictions, message",
    [
        ([], [], "labels is empty"),
        ([0, 1], [0, 1, 1], "differ in length"),
        ([[0, 1]], [[0, 1]], "1-D"),
        ([0, 0, 0], [0, 1, 0], "exactly two classes"),
        ([0, 1, 2], [0, 1, 2], "exactly two classes"),
        ([0.5, 1.0], [0, 1], "integer class labels"),
        ([0, 1], ["a", "b"], "predictions must hold integer"),
    ],
)
def test_bad_inputs_raise_clear_errors(labels, predictions, message):
    with pytest.raises(ValueError, match=message):
        augmentation.balanced_accuracy(labels, predictions)


def test_a_rate_without_examples_of_its_class_is_an_error():
    with pytest.raises(ValueError, match="no positive example"):
        augmentation.true_positive_rate([0, 0], [0, 1], positive_label=1)
    with pytest.raises(ValueError, match="no negative example"):
        augmentation.true_negative_rate([1, 1], [0, 1], positive_label=1)
    assert augmentation.true_positive_rate([1, 1], [0, 1], positive_label=1) == 0.5
