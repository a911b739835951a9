"""What kaimen tells its operators: JSON log lines and Prometheus metrics.

Entry points configure logging (`logs.configure_logging`) and where the last run of each batch
step is kept (`steps.keep_last_runs_in`); everything else only logs and times.
"""
