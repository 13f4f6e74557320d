"""Fitting a topology to the user's own measurements.

Owns :mod:`.logs` (reading nccl-tests, hccl_test and ubemu tables and JSON: usable on its
own, it knows no topology), :mod:`.measurements` (where a log ran on a topology, and its rows
as things ubemu times), :mod:`.params` (a topology's fittable numbers by dotted key) and
:mod:`.fit` (least squares on log time, identifiability, uncertainties). May import the API,
the estimator and everything below them; only the command line (``ubemu calibrate``) imports
it.
"""
