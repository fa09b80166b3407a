"""A sweep: many runs of one recipe with some settings searched, on Optuna (``purenet sweep``).

    spec.read_spec(path) -> SweepSpec          the TOML file, checked (SpecError: one line naming the key)
    trial.run_trial(job) -> TrialOutcome       one trial, in a worker process (local or a Dask worker)
    study.run_sweep(spec, ...) -> SweepSummary the driver: asks Optuna for settings, submits trials, tells results

Optuna (and, for a cluster, dask's ``distributed``) is the ``sweep`` extra: these modules
import it inside their functions, so that importing them costs nothing without it.
"""
