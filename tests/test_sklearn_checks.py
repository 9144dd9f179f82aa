"""scikit-learn's estimator checks, where they apply.

``PartnerMatcher.fit`` takes two tables (schools and partners), not a numeric
``X`` and ``y``, and it has no ``predict``/``transform``; the checks that feed
it random numeric arrays cannot apply and are listed as expected failures,
each for that reason. The checks about parameters, cloning, ``repr``, tags,
``__init__`` hygiene and refusing to answer before ``fit`` run for real.
"""
from sklearn.utils.estimator_checks import parametrize_with_checks

from matcher.model import PartnerMatcher

NUMERIC_XY = "fit takes a schools table and a partners table, not a numeric X and y"

EXPECTED = {
    "check_complex_data": NUMERIC_XY,
    "check_dict_unchanged": NUMERIC_XY,
    "check_dont_overwrite_parameters": NUMERIC_XY,
    "check_dtype_object": NUMERIC_XY,
    "check_estimator_sparse_array": NUMERIC_XY,
    "check_estimator_sparse_matrix": NUMERIC_XY,
    "check_estimator_sparse_tag": NUMERIC_XY,
    "check_estimators_dtypes": NUMERIC_XY,
    "check_estimators_empty_data_messages": NUMERIC_XY,
    "check_estimators_fit_returns_self": NUMERIC_XY,
    "check_estimators_nan_inf": NUMERIC_XY,
    "check_estimators_overwrite_params": NUMERIC_XY,
    "check_estimators_pickle": NUMERIC_XY,
    "check_f_contiguous_array_estimator": NUMERIC_XY,
    "check_fit1d": NUMERIC_XY,
    "check_fit2d_1feature": NUMERIC_XY,
    "check_fit2d_1sample": NUMERIC_XY,
    "check_fit2d_predict1d": NUMERIC_XY,
    "check_fit_check_is_fitted": NUMERIC_XY,
    "check_fit_idempotent": NUMERIC_XY,
    "check_fit_score_takes_y": NUMERIC_XY,
    "check_methods_sample_order_invariance": NUMERIC_XY,
    "check_methods_subset_invariance": NUMERIC_XY,
    "check_n_features_in": NUMERIC_XY,
    "check_n_features_in_after_fitting": NUMERIC_XY,
    "check_pipeline_consistency": NUMERIC_XY,
    "check_positive_only_tag_during_fit": NUMERIC_XY,
    "check_readonly_memmap_input": NUMERIC_XY,
}


@parametrize_with_checks([PartnerMatcher()], expected_failed_checks=lambda est: EXPECTED)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
